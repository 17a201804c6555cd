package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wagw/wagw/loadtest"
)

// loadtestSetup prepares the target for an end-to-end run through the
// admin API (loadtest.Setup).
func loadtestSetup(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newLTFlags("setup", getenv, stdout)
	f.fs.StringVar(&f.apiURL, "api", loadtest.DefaultAPI, "API base URL (loopback unless -allow-remote)")
	f.fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a target that is not on this machine")
	f.fs.StringVar(&f.token, "token", "", "admin bearer token (default WAGW_ADMIN_TOKEN, else the dev token in -data)")
	f.fs.StringVar(&f.dataDir, "data", f.env("WAGW_DATA_DIR", defaultDataDir), "serve's data dir (WAGW_DATA_DIR)")
	agents := f.fs.Int("agents", loadtest.DefaultSetupAgents, "agents to create, all set online")
	strategy := f.fs.String("strategy", loadtest.DefaultSetupStrategy, "team strategy: round_robin, least_open or manual")
	welcome := f.fs.String("welcome", loadtest.SuggestedWelcome, "welcome text of the inboxes (empty: none)")
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
	res, err := loadtest.Setup(ctx, loadtest.SetupConfig{API: f.apiURL, Token: tok, Agents: *agents, Strategy: *strategy,
		Welcome: *welcome, Inboxes: splitList(*inboxes)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "set up %d online agents %v in team %d (%s); inboxes %s welcome with %q and assign to the team\n",
		len(res.AgentIDs), res.AgentIDs, res.TeamID, *strategy, *inboxes, *welcome)
	return nil
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
