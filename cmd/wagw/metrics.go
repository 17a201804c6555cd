package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/gateway"
)

// readyTimeout bounds one readiness check made for the metrics.
const readyTimeout = 3 * time.Second

// registerReadiness exports wagw_ready: 1 when the process's readiness
// check (the one /readyz answers) passes at the scrape, else 0.
func (p *process) registerReadiness() {
	p.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wagw_ready",
		Help: "1 when the process is ready (what /readyz checks: Postgres, Kafka and each role's own calls), measured at the scrape; else 0."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
			defer cancel()
			if p.ready(ctx) != nil {
				return 0
			}
			return 1
		}))
}

// startMetrics serves /metrics alone on WAGW_METRICS_ADDR; then neither
// the gateway nor the health server serves it.
func (p *process) startMetrics(context.Context) (func(context.Context) error, error) {
	return p.serveOn("metrics server", "WAGW_METRICS_ADDR", p.cfg.MetricsAddr, func() *fiber.App { return gateway.NewMetrics(p.reg) })
}

// serveOn serves the app that build makes on addr, the value of setting;
// nothing when addr is empty.
func (p *process) serveOn(name, setting, addr string, build func() *fiber.App) (func(context.Context) error, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	p.log.Info(name + " on http://" + ln.Addr().String())
	return p.serveFiber(name, build(), ln), nil
}

// metricsRegistry is the registry the gateway and the health server serve
// on /metrics: none when /metrics has an address of its own.
func (p *process) metricsRegistry() *prometheus.Registry {
	if p.cfg.MetricsAddr != "" {
		return nil
	}
	return p.reg
}
