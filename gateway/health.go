package gateway

import (
	"context"
	"fmt"
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
	// ReadyReuse is how long the outcome of a readiness check answers
	// /readyz after it: DefaultReadyReuse when 0, none when negative.
	ReadyReuse time.Duration
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
	app.Get("/readyz", readyHandler(cfg.Ready, cfg.ReadyTimeout, cfg.ReadyReuse))
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

// DefaultReadyReuse is how long a readiness check's outcome is reused
// (HealthConfig.ReadyReuse, Config.ReadyReuse, NewReadyGauge): /readyz and
// /metrics need no token, so a client asking in a loop gets at most one
// check a second made for it. Probes ask every few seconds.
const DefaultReadyReuse = time.Second

// readyHandler answers 200 when ready returns nil within timeout, else 503
// with the reason. Requests share checks (sharedCheck).
func readyHandler(ready func(ctx context.Context) error, timeout, reuse time.Duration) fiber.Handler {
	if ready == nil {
		return func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ready"}) }
	}
	shared := newSharedCheck(ready, timeout, reuse)
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), timeout)
		defer cancel()
		if err := shared.ready(ctx); err != nil {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not ready", "error": err.Error()})
		}
		return c.JSON(fiber.Map{"status": "ready"})
	}
}

// NewReadyGauge is wagw_ready: 1 when ready passes, else 0, from a check
// made at most once every reuse (DefaultReadyReuse when 0) however often
// /metrics is scraped (scrapes at once share one), each bounded by
// timeout.
func NewReadyGauge(ready func(ctx context.Context) error, timeout, reuse time.Duration) prometheus.GaugeFunc {
	shared := newSharedCheck(ready, timeout, reuse)
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wagw_ready",
		Help: fmt.Sprintf("1 when the process is ready (what /readyz checks: Postgres, Kafka and each role's own calls), checked at the scrape or at most %v before it; else 0.", shared.reuse)},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if shared.ready(ctx) != nil {
				return 0
			}
			return 1
		})
}

// sharedCheck runs a readiness check for every caller that comes while no
// check runs and the last one ended more than reuse ago, and gives the
// other callers the outcome of the check that runs or just ended: /readyz
// and /metrics need no token, and each check is a round trip to Postgres
// and a new connection to Kafka (a TLS handshake and a SASL login on a
// real cluster), so the checks must not be as many as the requests. A
// check runs on its own, bounded by timeout, whatever becomes of the
// request that started it.
type sharedCheck struct {
	check   func(ctx context.Context) error
	timeout time.Duration
	reuse   time.Duration
	mu      sync.Mutex
	running *checkRun // nil when no check runs
	last    *checkRun // the check that ended last; nil before the first
}

// checkRun is one check: its callers wait on done, then read err.
type checkRun struct {
	done  chan struct{}
	err   error
	ended time.Time
}

// newSharedCheck shares check's outcomes for reuse after each
// (DefaultReadyReuse when 0, none when negative).
func newSharedCheck(check func(ctx context.Context) error, timeout, reuse time.Duration) *sharedCheck {
	if reuse == 0 {
		reuse = DefaultReadyReuse
	}
	return &sharedCheck{check: check, timeout: timeout, reuse: reuse}
}

// ready returns the outcome of the check that runs now or ended less than
// reuse ago, starting one when there is none, or ctx's error once ctx ends
// first.
func (s *sharedCheck) ready(ctx context.Context) error {
	s.mu.Lock()
	if s.last != nil && time.Since(s.last.ended) < s.reuse {
		err := s.last.err
		s.mu.Unlock()
		return err
	}
	run := s.running
	if run == nil {
		run = &checkRun{done: make(chan struct{})}
		s.running = run
		go func() {
			cctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			run.err = s.check(cctx)
			cancel()
			s.mu.Lock()
			run.ended = time.Now()
			s.running, s.last = nil, run
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
