package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/gateway"
)

// sseEvent is one event read off a stream.
type sseEvent struct{ name, data string }

// openEvents serves the app over TCP and opens GET /v1/events with token;
// events come out of the returned channel, which is closed when the
// stream ends.
func openEvents(t *testing.T, e *env, token string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.ShutdownWithTimeout(5 * time.Second) })
	req, _ := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan sseEvent, 256)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out, resp
}

func next(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

// The stream says ready, then passes each change on as an event named by
// its kind; one that falls behind is told to resync; it ends when the
// server shuts down.
func TestLiveEvents(t *testing.T) {
	changes := make(chan assigner.Change, 1024) // as the store's listener buffers them
	e := newEnv(t, func(c *gateway.Config) { c.Changes = changes; c.LiveHeartbeat = 100 * time.Millisecond })
	events, resp := openEvents(t, e, adminToken)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /v1/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if ev := next(t, events); ev.name != "ready" {
		t.Fatalf("first event %+v, want ready", ev)
	}
	changes <- assigner.Change{Kind: assigner.ChangeAgent, ID: 7}
	if ev := next(t, events); ev.name != "agent" || ev.data != `{"kind":"agent","id":7}` {
		t.Fatalf("got %+v, want the agent change", ev)
	}
	// 500 changes at once: more than a batch, so the stream is told to
	// resync instead of getting them
	for i := range 500 {
		changes <- assigner.Change{Kind: assigner.ChangeContact, ID: int64(i + 1)}
	}
	sawResync := false
	for range 70 {
		if ev := next(t, events); ev.name == "resync" {
			sawResync = true
			break
		}
	}
	if !sawResync {
		t.Fatal("500 changes at once never made the stream resync")
	}
	if err := e.app.ShutdownWithTimeout(5 * time.Second); err != nil {
		t.Fatalf("shutdown with a stream open: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-ctx.Done():
			t.Fatal("the stream did not end when the server shut down")
		}
	}
}

func TestLiveEventsNeedAToken(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Changes = make(chan assigner.Change) })
	req := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
	if code, body := e.do(t, req); code != 401 {
		t.Fatalf("GET /v1/events without a token: %d %s, want 401", code, body)
	}
	noLive := newEnv(t, nil)
	req = httptest.NewRequest(http.MethodGet, "/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if code, body := noLive.do(t, req); code != 503 || !strings.Contains(body, "live_unavailable") {
		t.Fatalf("GET /v1/events without a change listener: %d %s, want 503 live_unavailable", code, body)
	}
}

// The console is served from the binary with a policy that keeps it to
// its own assets and the API.
func TestConsoleAssets(t *testing.T) {
	e := newEnv(t, nil)
	for path, want := range map[string]string{
		"/console/":          `data-testid="login-token"`,
		"/console/app.js":    "sessionStorage",
		"/console/style.css": ":root",
	} {
		resp, err := e.app.Test(httptest.NewRequest(http.MethodGet, path, nil), 5000)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, want 200 containing %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	resp, _ := e.app.Test(httptest.NewRequest(http.MethodGet, "/console", nil), 5000)
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "/console/" {
		t.Errorf("GET /console: %d %s, want a redirect to /console/", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = e.app.Test(httptest.NewRequest(http.MethodGet, "/console/nothing.js", nil), 5000)
	if resp.StatusCode != 404 {
		t.Errorf("GET /console/nothing.js: %d, want 404", resp.StatusCode)
	}
}

// An agent's stream passes a conversation's change only once the
// conversation was read and mayView allowed it: one the store does not
// have is skipped, where the admin's stream passes it on.
func TestLiveEventsAgentStreamReadsTheConversation(t *testing.T) {
	changes := make(chan assigner.Change)
	e := newEnv(t, func(c *gateway.Config) { c.Changes = changes })
	req := httptest.NewRequest(http.MethodPost, "/v1/agents", strings.NewReader(`{"name":"Ana","email":"ana@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	code, body := e.do(t, req)
	if code != 201 {
		t.Fatalf("create agent: %d %s", code, body)
	}
	var agent struct{ Token string }
	if err := json.Unmarshal([]byte(body), &agent); err != nil {
		t.Fatal(err)
	}
	events, _ := openEvents(t, e, agent.Token)
	if ev := next(t, events); ev.name != "ready" {
		t.Fatalf("first event %+v, want ready", ev)
	}
	changes <- assigner.Change{Kind: assigner.ChangeMessage, ID: 424242}
	changes <- assigner.Change{Kind: assigner.ChangeAgent, ID: 1}
	if ev := next(t, events); ev.name != "agent" {
		t.Fatalf("the agent's stream got %+v first, want the unknown conversation skipped", ev)
	}
}
