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
// check (the one /readyz answers) passes, checked at the scrape or at most
// a second before it; else 0.
func (p *process) registerReadiness() {
	p.reg.MustRegister(gateway.NewReadyGauge(p.ready, readyTimeout, 0))
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
