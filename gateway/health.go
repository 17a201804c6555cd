package gateway

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HealthConfig configures the health server of the roles that serve no
// other HTTP (a standalone consumer or relay).
type HealthConfig struct {
	// Ready reports whether the process can do its work: its dependencies
	// answer and none of its roles is stuck. Nil: always ready.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds one readiness check. Default 3 s.
	ReadyTimeout time.Duration
	// Registry is served on /metrics; nil serves no /metrics.
	Registry *prometheus.Registry
}

// NewHealth builds the health server: GET /healthz (the process is alive),
// GET /readyz (200, or 503 with the reason) and GET /metrics.
func NewHealth(cfg HealthConfig) *fiber.App {
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 3 * time.Second
	}
	app := fiber.New(fiber.Config{
		AppName:               "wagw health",
		DisableStartupMessage: true,
		BodyLimit:             4 << 10,
		ReadTimeout:           5 * time.Second,
		WriteTimeout:          cfg.ReadyTimeout + 5*time.Second,
		IdleTimeout:           time.Minute,
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", readyHandler(cfg.Ready, cfg.ReadyTimeout))
	if cfg.Registry != nil {
		app.Get("/metrics", metricsHandler(cfg.Registry))
	}
	app.Use(notFound)
	return app
}

// NewMetrics builds the app that serves only GET /metrics, for an address
// of its own (WAGW_METRICS_ADDR) that need not be public.
func NewMetrics(reg *prometheus.Registry) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "wagw metrics",
		DisableStartupMessage: true,
		BodyLimit:             4 << 10,
		ReadTimeout:           5 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           time.Minute,
	})
	app.Get("/metrics", metricsHandler(reg))
	app.Use(notFound)
	return app
}

func metricsHandler(reg *prometheus.Registry) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

func notFound(c *fiber.Ctx) error {
	return c.Status(fiber.StatusNotFound).JSON(fiber.Map{"error": &APIError{Status: fiber.StatusNotFound, Code: "not_found",
		Message: "no route for " + c.Method() + " " + c.Path()}})
}

// readyHandler answers 200 when ready returns nil within timeout, else 503
// with the reason.
func readyHandler(ready func(ctx context.Context) error, timeout time.Duration) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if ready == nil {
			return c.JSON(fiber.Map{"status": "ready"})
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), timeout)
		defer cancel()
		if err := ready(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "error": err.Error()})
		}
		return c.JSON(fiber.Map{"status": "ready"})
	}
}
