package gateway_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/wagw/wagw/gateway"
)

// syncBuffer is a log destination the handler goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines are the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// A request id is returned on every answer and carried by the request's
// log lines: the caller's when sane, a generated one otherwise.
func TestRequestID(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, func(c *gateway.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	e.emb.Close() // every webhook fails on Kafka and logs it

	webhook := func(id string) (string, int) {
		req := signed(corpus(t, "meta_text_message.json"), secret)
		if id != "" {
			req.Header.Set(gateway.HeaderRequestID, id)
		}
		resp, err := e.app.Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(gateway.HeaderRequestID), resp.StatusCode
	}
	const sane = "lb-7f3a:01J9ZK/2~x"
	got, code := webhook(sane)
	if got != sane || code != 503 {
		t.Fatalf("X-Request-Id %q answered %q (%d), want it returned as sent", sane, got, code)
	}
	lines := logs.lines(t)
	if len(lines) != 1 || lines[0]["request_id"] != sane || !strings.Contains(lines[0]["msg"].(string), "kafka write failed") {
		t.Fatalf("log lines %v, want the Kafka failure with request_id %q", lines, sane)
	}

	seen := map[string]bool{}
	for _, insane := range []string{"", strings.Repeat("a", 129), "two words", "tab\there", "é-accent"} {
		got, _ := webhook(insane)
		if !generatedID.MatchString(got) || seen[got] {
			t.Errorf("X-Request-Id %q answered %q, want a new generated id", insane, got)
		}
		seen[got] = true
	}
	// A header value with a control character never reaches a handler:
	// the HTTP parser refuses the request.
	ctl := signed(corpus(t, "meta_text_message.json"), secret)
	ctl.Header.Set(gateway.HeaderRequestID, "new\x01line")
	if resp, err := e.app.Test(ctl, 10000); err == nil {
		resp.Body.Close()
		t.Errorf("X-Request-Id with a control character answered %d, want the request refused by the parser", resp.StatusCode)
	}
	if got, _ := webhook(strings.Repeat("b", 128)); got != strings.Repeat("b", 128) {
		t.Errorf("an id of 128 characters was replaced by %q", got)
	}
	for i, l := range logs.lines(t)[1:] {
		if id, _ := l["request_id"].(string); !seen[id] && id != strings.Repeat("b", 128) {
			t.Errorf("log line %d carries request_id %q, not the one answered", i+1, id)
		}
	}

	// The API and refusals before any handler carry one too.
	req := httptest.NewRequest(http.MethodGet, "/v1/conversations", nil)
	req.Header.Set(gateway.HeaderRequestID, "api-1")
	resp, err := e.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get(gateway.HeaderRequestID) != "api-1" {
		t.Errorf("API without a token: %d with X-Request-Id %q, want 401 with api-1", resp.StatusCode, resp.Header.Get(gateway.HeaderRequestID))
	}
}
