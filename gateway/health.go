package gateway

import (
	"context"
	"sync"
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
// with the reason. Requests that come while a check runs share it
// (sharedCheck).
func readyHandler(ready func(ctx context.Context) error, timeout time.Duration) fiber.Handler {
	if ready == nil {
		return func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ready"}) }
	}
	shared := newSharedCheck(ready, timeout)
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), timeout)
		defer cancel()
		if err := shared.ready(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "error": err.Error()})
		}
		return c.JSON(fiber.Map{"status": "ready"})
	}
}

// sharedCheck runs a readiness check for every caller that comes while no
// check runs, and gives the callers that come while one runs its result:
// /readyz needs no token, and each check is a round trip to Postgres and
// a new connection to Kafka (a TLS handshake and a SASL login on a real
// cluster), so the checks must not be as many as the requests. A check
// runs on its own, bounded by timeout, whatever becomes of the request
// that started it.
type sharedCheck struct {
	check   func(ctx context.Context) error
	timeout time.Duration
	mu      sync.Mutex
	running *checkRun // nil when no check runs
}

// checkRun is one check: its callers wait on done, then read err.
type checkRun struct {
	done chan struct{}
	err  error
}

func newSharedCheck(check func(ctx context.Context) error, timeout time.Duration) *sharedCheck {
	return &sharedCheck{check: check, timeout: timeout}
}

// ready returns the outcome of the check that runs now, starting one when
// none does, or ctx's error once ctx ends first.
func (s *sharedCheck) ready(ctx context.Context) error {
	s.mu.Lock()
	run := s.running
	if run == nil {
		run = &checkRun{done: make(chan struct{})}
		s.running = run
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			run.err = s.check(cctx)
			cancel()
			s.mu.Lock()
			s.running = nil
			s.mu.Unlock()
			close(run.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
