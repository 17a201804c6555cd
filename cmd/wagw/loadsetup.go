package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wagw/wagw/loadtest"
)

// loadtestSetup prepares the target for an end-to-end run through the
// admin API: agents (online), one team with a strategy, and the inbox's
// welcome text and default assignment to that team.
func loadtestSetup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newLTFlags("setup", getenv, stdout)
	f.fs.StringVar(&f.apiURL, "api", "http://127.0.0.1:8080", "API base URL (loopback unless -allow-remote)")
	f.fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a target that is not on this machine")
	f.fs.StringVar(&f.token, "token", "", "admin bearer token (default WAGW_ADMIN_TOKEN, else the dev token in -data)")
	f.fs.StringVar(&f.dataDir, "data", f.env("WAGW_DATA_DIR", "./data"), "serve's data dir (WAGW_DATA_DIR)")
	agents := f.fs.Int("agents", 4, "agents to create, all set online")
	strategy := f.fs.String("strategy", "round_robin", "team strategy: round_robin, least_open or manual")
	welcome := f.fs.String("welcome", "Hi! Thanks for your message, an agent will be with you shortly.", "welcome text of the inboxes (empty: none)")
	inboxes := f.fs.String("inboxes", loadtest.DefaultGenInbox, "phone_number_ids to configure, comma-separated")
	if err := f.parse(args); err != nil {
		return err
	}
	if _, err := loadtest.CheckTarget(f.apiURL, f.allowRemote); err != nil {
		return err
	}
	tok := f.adminToken()
	if tok == "" {
		return errors.New("loadtest setup: no admin token: give -token, WAGW_ADMIN_TOKEN or -data")
	}
	api := &ltAPI{base: strings.TrimRight(f.apiURL, "/"), token: tok}
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	var ids []int64
	for i := range *agents {
		var a struct {
			ID int64 `json:"id"`
		}
		name := fmt.Sprintf("Load agent %d", i+1)
		code, err := api.do(ctx, http.MethodPost, "/v1/agents", map[string]any{"name": name,
			"email": fmt.Sprintf("load-%s-%d@example.com", tag, i+1)}, &a)
		if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
			return fmt.Errorf("loadtest setup: the target has no POST /v1/agents (%d): assignment cannot be set up", code)
		}
		if err != nil {
			return err
		}
		if _, err := api.do(ctx, http.MethodPut, "/v1/agents/"+strconv.FormatInt(a.ID, 10)+"/presence", map[string]any{"status": "online"}, nil); err != nil {
			return err
		}
		ids = append(ids, a.ID)
	}
	var team struct {
		ID int64 `json:"id"`
	}
	if _, err := api.do(ctx, http.MethodPost, "/v1/teams", map[string]any{"name": "Load team " + tag, "strategy": *strategy,
		"member_ids": ids}, &team); err != nil {
		return err
	}
	for _, in := range splitList(*inboxes) {
		body := map[string]any{"name": "Load inbox " + in, "welcome_message": *welcome, "default_assign": map[string]any{"team_id": team.ID}}
		if _, err := api.do(ctx, http.MethodPut, "/v1/inboxes/"+url.PathEscape(in), body, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "set up %d online agents %v in team %d (%s); inboxes %s welcome with %q and assign to the team\n",
		len(ids), ids, team.ID, *strategy, *inboxes, *welcome)
	return nil
}

type ltAPI struct {
	base, token string
}

func (a *ltAPI) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// ---------------------------------------------------------------- noop

// loadtestNoop serves a Fiber app that answers 200 to every webhook: the
// floor of HTTP on this machine, measured with the same generator.
func loadtestNoop(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wagw loadtest noop", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	app := fiber.New(fiber.Config{AppName: "wagw-noop", BodyLimit: 4 << 20, DisableStartupMessage: true,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second})
	app.Post("/webhook", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusOK) })
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "no-op webhook handler listening on http://%s/webhook\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case <-ctx.Done():
		return app.ShutdownWithTimeout(5 * time.Second)
	case err := <-errc:
		return err
	}
}
