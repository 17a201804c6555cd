package gateway_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
