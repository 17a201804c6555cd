package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/wagwtest"
)

// A request that fails because Postgres is away (or restarting, or out of
// connection slots) is answered 503 with Retry-After, so that the caller
// retries, not 500 internal; once Postgres is back the same request works.
func TestAPIAnswers503WhilePostgresIsAway(t *testing.T) {
	_, dsn := dbtest.New(t)
	proxy, proxied := dbtest.ProxyURL(t, dsn)
	conn, err := db.Open(context.Background(), db.Config{URL: proxied})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{"127.0.0.1:1"}, Topic: topic})
	t.Cleanup(func() { prod.Close() })
	app, err := gateway.New(gateway.Config{AppSecrets: [][]byte{[]byte(secret)}, VerifyToken: verifyToken, AdminToken: adminToken,
		DeadLetterTopic: dlqTopic, Transient: db.IsTransient, Logger: wagwtest.QuietLogger(), Registry: prometheus.NewRegistry()},
		prod, gateway.StoresOf(db.NewStore(conn)))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{app: app}
	get := func() (int, string, string) {
		req := httptest.NewRequest(http.MethodGet, "/v1/conversations/1", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := e.app.Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
	}
	if status, body, _ := get(); status != http.StatusNotFound {
		t.Fatalf("before the cut: %d %s, want 404", status, body)
	}
	proxy.Cut()
	status, body, retry := get()
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "database_unavailable") || retry == "" {
		t.Errorf("Postgres away: %d %s (Retry-After %q), want 503 database_unavailable with Retry-After", status, body, retry)
	}
	proxy.Restore()
	wagwtest.WaitEvery(t, 10*time.Second, 100*time.Millisecond, "after the restore: 404", func() (bool, string) {
		status, body, _ := get()
		return status == http.StatusNotFound, fmt.Sprintf("%d %s", status, body)
	})
}
