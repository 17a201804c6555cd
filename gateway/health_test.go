package gateway_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/gateway"
)

// The health server of a standalone consumer or relay: /healthz while the
// process lives, /readyz 503 with the reason while a dependency fails and
// 200 once it works again, /metrics.
func TestHealthServer(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_health_test_total", Help: "test"}))
	app := gateway.NewHealth(gateway.HealthConfig{Registry: reg, ReadyReuse: -1, Ready: func(context.Context) error {
		if down.Load() {
			return errors.New("consumer: kafka failing for 3s: connection refused")
		}
		return nil
	}})
	get := func(path string) (int, string) { return getPath(t, app, path) }
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz = %d while ready, want 200", code)
	}
	down.Store(true)
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "kafka failing") {
		t.Errorf("readyz = %d %s while a dependency fails, want 503 with the reason", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz = %d while not ready, want 200 (the process is alive)", code)
	}
	down.Store(false)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz = %d after recovery, want 200", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "wagw_health_test_total") {
		t.Errorf("metrics = %d, want 200 with the registry's metrics", code)
	}
	if code, _ := get("/webhook"); code != 404 {
		t.Errorf("GET /webhook on the health server = %d, want 404", code)
	}
}
