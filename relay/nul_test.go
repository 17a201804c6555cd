package relay_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp/cloudapi"
)

// An error answer whose message holds a NUL (Postgres text cannot) still
// fails its row for good, and the contact's next message goes: the
// relay does not retry the row's record for ever.
func TestRelayRecordsAnErrorMessageWithNUL(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t, simulator.Config{})
	target, _ := url.Parse(f.simURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "poison") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"message":"(#131026) Message Undeliverable \u0000","type":"OAuthException","code":131026,"fbtrace_id":"x"}}`)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	client := cloudapi.NewClient(cloudapi.ClientConfig{BaseURL: front.URL, Token: "relay-test", Timeout: 3 * time.Second,
		RatePerSecond: -1, PairInterval: -1, Logger: wagwtest.QuietLogger()})
	pn, wa := "110000000000099", waID(199, 1)
	f.contact(pn, wa, "poison", "after")
	startRelay(t, testRelayConfig(nil), f.store, client, &applyingPublisher{store: f.store})
	rows := f.allSettled(10*time.Second, nil)
	for _, r := range rows {
		switch r.Text {
		case "poison":
			if r.State != "failed" || r.ErrorCode == nil || *r.ErrorCode != 131026 {
				t.Errorf("poison row: state %s code %v, want failed with 131026", r.State, r.ErrorCode)
			}
			var status string
			if err := f.conn.Get(&status, `SELECT status FROM messages WHERE id = $1`, r.MessageID); err != nil || status != "failed" {
				t.Errorf("poison row's message: status %q (%v), want failed", status, err)
			}
		case "after":
			if r.State != "sent" {
				t.Errorf("the next row: state %s, want sent", r.State)
			}
		}
	}
}
