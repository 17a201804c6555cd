package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/whatsapp"

	"github.com/wagw/wagw/wagwtest"
)

// TestLogFormat: JSON by default for every command but serve, which a
// person reads; WAGW_LOG_FORMAT chooses either way.
func TestLogFormat(t *testing.T) {
	base := map[string]string{"KAFKA_BROKERS": "k1:9092"}
	for _, tc := range []struct{ cmd, set, want string }{
		{"serve", "", "text"}, {"gateway", "", "json"}, {"consumer", "", "json"}, {"relay", "", "json"},
		{"simulate", "", "json"}, {"gateway", "text", "text"}, {"serve", "JSON", "json"},
	} {
		env := map[string]string{"WAGW_LOG_FORMAT": tc.set}
		if tc.cmd != "serve" {
			env["KAFKA_BROKERS"] = base["KAFKA_BROKERS"]
		}
		cfg, err := configOf(tc.cmd, env)
		if err != nil || cfg.LogFormat != tc.want {
			t.Errorf("%s with WAGW_LOG_FORMAT=%q: %q (%v), want %q", tc.cmd, tc.set, cfg.LogFormat, err, tc.want)
			continue
		}
		var out bytes.Buffer
		newLogger(cfg, &out).Info("hello", "n", 1)
		var line map[string]any
		isJSON := json.Unmarshal(out.Bytes(), &line) == nil && line["msg"] == "hello"
		if isJSON != (tc.want == "json") {
			t.Errorf("%s logs %q, want %s", tc.cmd, out.String(), tc.want)
		}
	}
	if _, err := configOf("gateway", map[string]string{"KAFKA_BROKERS": "k1:9092", "WAGW_LOG_FORMAT": "logfmt"}); err == nil || !strings.Contains(err.Error(), "WAGW_LOG_FORMAT") {
		t.Errorf("WAGW_LOG_FORMAT=logfmt: %v, want an error naming it", err)
	}
}

// TestLogsHoldNoBodiesOrPhoneNumbers runs serve at debug level through an
// inbound message, a webhook that cannot be parsed and a reply sent
// through the simulator, and reads every log line: none holds a message's
// text or a contact's full phone number; the webhook's line carries its
// request id.
func TestLogsHoldNoBodiesOrPhoneNumbers(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	env["WAGW_LOG_LEVEL"], env["WAGW_LOG_FORMAT"] = "debug", "json"
	p := startServe(t, env)
	const pn, wa = "130000000000077", "316177700042"
	const inText, replyText = "my card ends in 8842, call me", "we will call you at home"
	p.webhook(t, sndInbound(pn, wa, "wamid.LOGS.1", time.Now(), inText))

	// A signed body that cannot be parsed is dead-lettered with a log line.
	broken := []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"from":"` + wa + `","text":{"body":"` + inText + `"}`)
	req, _ := http.NewRequest(http.MethodPost, p.base+"/webhook", bytes.NewReader(broken))
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign([]byte(e2eAppSecret), broken))
	req.Header.Set("X-Request-Id", "req-logs-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "req-logs-1" {
		t.Fatalf("unparseable webhook: %d with X-Request-Id %q, want 200 with req-logs-1", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}

	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "message stored", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE direction = 'in'`)
		return n == 1, fmt.Sprintf("%d inbound", n)
	})
	_, token := sndAgent(t, p, "Lena Logs")
	conv := sndConversation(t, conn, wa)
	if r := sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", conv), token, obj{"text": replyText}); r.Status != http.StatusCreated {
		t.Fatalf("reply = %s, want 201", r)
	}
	sndOutboxDone(t, p, conn)
	sim := "http://" + env["WAGW_SIMULATOR_ADDR"]
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "reply at the simulator", func() (bool, string) {
		n := sndCount(sndSimSent(t, sim), wa, replyText)
		return n == 1, fmt.Sprintf("%d sent", n)
	})
	p.stop(t)

	logs := p.logs.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	t.Logf("%d log lines checked", len(lines))
	deadLettered := false
	for _, l := range lines {
		for _, secret := range []string{wa, inText, replyText, "card ends in"} {
			if strings.Contains(l, secret) {
				t.Errorf("a log line holds %q: %s", secret, l)
			}
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("not a JSON line: %s", l)
			continue
		}
		if strings.Contains(m["msg"].(string), "could not be parsed") {
			deadLettered = m["request_id"] == "req-logs-1"
		}
	}
	if !deadLettered {
		t.Errorf("no dead-letter line with request_id req-logs-1 among %d lines", len(lines))
	}
	if len(lines) < 10 {
		t.Errorf("only %d log lines at debug level: the check saw little", len(lines))
	}
}
