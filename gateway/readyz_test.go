package gateway_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/gateway"
)

// GET /readyz needs no token, and each check is a round trip to Postgres
// and a new connection to Kafka (TLS and SASL on a real cluster): requests
// that come while a check runs share it, so that a client cannot make the
// checks as many as its requests.
func TestReadyzConcurrentRequestsShareOneCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		app  func(ready func(context.Context) error) *fiber.App
	}{
		{"gateway", func(ready func(context.Context) error) *fiber.App {
			app, err := gateway.New(gateway.Config{AppSecrets: [][]byte{[]byte(secret)}, VerifyToken: verifyToken,
				DeadLetterTopic: dlqTopic, Ready: ready, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()},
				nil, gateway.Stores{})
			if err != nil {
				t.Fatal(err)
			}
			return app
		}},
		{"health", func(ready func(context.Context) error) *fiber.App {
			return gateway.NewHealth(gateway.HealthConfig{Ready: ready})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var checks atomic.Int64
			release := make(chan struct{})
			app := tc.app(func(ctx context.Context) error {
				checks.Add(1)
				select {
				case <-release:
				case <-ctx.Done():
				}
				return nil
			})
			const n = 32
			var wg sync.WaitGroup
			codes := make([]int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/readyz", nil), -1)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					codes[i] = resp.StatusCode
				}()
			}
			// Let the requests arrive while the first check runs.
			deadline := time.Now().Add(5 * time.Second)
			for checks.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			close(release)
			wg.Wait()
			for i, c := range codes {
				if c != 200 {
					t.Errorf("request %d: %d, want 200", i, c)
				}
			}
			if got := checks.Load(); got > n/4 {
				t.Errorf("%d concurrent GET /readyz ran %d readiness checks, want them to share one (a late request may start a second)", n, got)
			}
		})
	}
}

// A client asking /readyz or /metrics in a loop, one request after
// another, gets at most one readiness check a reuse period made for it;
// once the period is over, the next request sees the new outcome.
func TestReadinessChecksAreReusedForAWhile(t *testing.T) {
	t.Parallel()
	const reuse = 300 * time.Millisecond
	var checks atomic.Int64
	var down atomic.Bool
	ready := func(context.Context) error {
		checks.Add(1)
		if down.Load() {
			return errors.New("postgres: down")
		}
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(gateway.NewReadyGauge(ready, time.Second, reuse))
	apps := map[string]*fiber.App{
		"/readyz":  gateway.NewHealth(gateway.HealthConfig{Ready: ready, ReadyReuse: reuse}),
		"/metrics": gateway.NewMetrics(reg),
	}
	get := func(app *fiber.App, path string) (int, string) { return getPath(t, app, path) }
	for _, path := range []string{"/readyz", "/metrics"} {
		app := apps[path]
		checks.Store(0)
		down.Store(false)
		start := time.Now()
		const n = 50
		for range n {
			if code, body := get(app, path); code != 200 || (path == "/metrics" && !strings.Contains(body, "wagw_ready 1")) {
				t.Fatalf("%s = %d while ready:\n%s", path, code, body)
			}
		}
		// One check per reuse period that began, and one more for a
		// period that began as a check ended.
		if got, most := checks.Load(), int64(time.Since(start)/reuse)+2; got > most {
			t.Errorf("%d GET %s one after another ran %d readiness checks in %v, want at most %d", n, path, got, time.Since(start), most)
		}
		down.Store(true)
		time.Sleep(reuse + 50*time.Millisecond)
		code, body := get(app, path)
		if path == "/readyz" && (code != 503 || !strings.Contains(body, "postgres: down")) {
			t.Errorf("/readyz = %d %s once the period is over and the check fails, want 503 with the reason", code, body)
		}
		if path == "/metrics" && !strings.Contains(body, "wagw_ready 0") {
			t.Errorf("/metrics once the period is over and the check fails lacks wagw_ready 0:\n%s", body)
		}
	}
}

// getPath answers GET path on app: the status and the body.
func getPath(t *testing.T, app *fiber.App, path string) (int, string) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
