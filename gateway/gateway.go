package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// Publisher puts events on Kafka. Every method returns only after the
// broker acknowledged every record it wrote.
type Publisher interface {
	// Publish writes commands; one that cannot be encoded fails the call.
	Publish(ctx context.Context, events []event.Envelope) error
	// PublishEach writes a webhook's events, each encoded on its own: one
	// that cannot be encoded (or is too large) is written to
	// deadLetterTopic instead, as received, with its reason and headers;
	// rejected[i] says why. err means Kafka failed.
	PublishEach(ctx context.Context, events []event.Envelope, deadLetterTopic string, headers map[string]string) (rejected []error, err error)
	// PublishRaw writes one record to any topic (the dead-letter topic).
	PublishRaw(ctx context.Context, topic string, key, value []byte, headers map[string]string) error
}

// Defaults of Config that cmd/wagw's settings share.
const (
	DefaultBodyLimit   = 4 << 20
	DefaultCommandWait = 2 * time.Second
	DefaultMaxInFlight = 2048
	// DefaultReadTimeout is Config.ReadTimeout's default.
	DefaultReadTimeout = 30 * time.Second
)

// Config configures the HTTP app.
type Config struct {
	// AppSecrets verify X-Hub-Signature-256; several allow rotation. Required.
	AppSecrets [][]byte
	// VerifyToken answers Meta's GET handshake. Required.
	VerifyToken string
	// AdminToken is the bootstrap admin bearer token for /v1. Empty
	// disables admin access by that token.
	AdminToken string
	// BodyLimit is the largest webhook body accepted. Default
	// DefaultBodyLimit, 4 MiB (Meta sends up to about 3 MB).
	BodyLimit int
	// APIBodyLimit is the largest body of any other request (the /v1
	// API). Default 64 KiB.
	APIBodyLimit int
	// LargeBodies is how many bodies over 64 KiB are read at once; another
	// is answered 503 with Retry-After. Default 32.
	LargeBodies int
	// DeadLetterTopic keeps signed bodies that cannot be parsed. Required.
	DeadLetterTopic string
	// ReadTimeout bounds how long one request (headers and body) may take
	// to arrive, from its first byte, and a connection's first request
	// from the connection's accept when the listener is LimitConnections'.
	// Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// PublishTimeout bounds the Kafka write of one webhook. Default 10 s.
	PublishTimeout time.Duration
	// MaxInFlight bounds the signed webhooks between their signature
	// check and their answer; within it, the bound follows the rate at
	// which webhooks are answered (admission.go): the highest rate of
	// the last 2 s × MaxWait, at least 512. Another webhook is answered
	// 503 with Retry-After at once, before anything is parsed or
	// produced (Meta retries it).
	// Default DefaultMaxInFlight.
	MaxInFlight int
	// MaxWait is how long a webhook taken in should wait for its answer.
	// Default DefaultMaxWait.
	MaxWait time.Duration
	// CommandWait is how long a write waits for the consumer's result
	// before answering 202. Default DefaultCommandWait (2 s).
	CommandWait time.Duration
	// Ready reports whether Kafka and Postgres are reachable (/readyz).
	Ready func(ctx context.Context) error
	// ReadyReuse is how long the outcome of a readiness check answers
	// /readyz after it: DefaultReadyReuse when 0, none when negative.
	ReadyReuse time.Duration
	// Transient reports whether an error of the store is worth retrying
	// (Postgres away, restarting or out of connection slots): the request
	// is answered 503 database_unavailable with Retry-After instead of 500.
	// Default: no error is.
	Transient func(error) bool
	// Capture, when set, receives every accepted webhook (loadtest replay).
	Capture func(body []byte, headers map[string]string, at time.Time)
	// Changes are the store's committed changes, streamed to the console
	// by GET /v1/events; nil answers that route 503. The stream ends when
	// the channel is closed.
	Changes <-chan assigner.Change
	// LiveHeartbeat is how often an idle event stream sends a comment.
	// Default DefaultLiveHeartbeat (15 s).
	LiveHeartbeat time.Duration
	// PresenceTimeout is how long an online agent stays online without a
	// heartbeat, for the board's next pick (GET /v1/teams/{id}/next); the
	// consumer's setting. Default assigner.DefaultPresenceTimeout.
	PresenceTimeout time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger for what goes wrong. Required.
	Logger *slog.Logger
	// Registry for the metrics, served on /metrics. Required.
	Registry *prometheus.Registry
	// MetricsElsewhere: /metrics is served on its own address
	// (NewMetrics), not by this app. Default false.
	MetricsElsewhere bool
}

// Stores are what each group of handlers reads and writes; cmd/wagw
// passes its one store for each.
type Stores struct {
	Reads    Reader
	Tokens   TokenStore
	Commands CommandStore
	Agents   AgentStore
	Teams    TeamStore
	Inboxes  InboxStore
}

// Server is the HTTP app and what it needs.
type Server struct {
	cfg       Config
	pub       Publisher
	reads     Reader
	tokens    TokenStore
	commands  CommandStore
	agents    AgentStore
	teams     TeamStore
	inboxes   InboxStore
	log       *slog.Logger
	m         *metrics
	live      *live
	adminHash [32]byte
	gate      *tokenGate // budgets lookups of unknown bearer tokens
	// largeBodies holds a token per body over smallBody being read.
	largeBodies chan struct{}
	// adm takes webhooks in or sheds them.
	adm *admission
	// signatures checks X-Hub-Signature-256 under cfg.AppSecrets.
	signatures *whatsapp.Verifier
}

// New builds the Fiber app.
func New(cfg Config, pub Publisher, stores Stores) (*fiber.App, error) {
	if cfg.Logger == nil || cfg.Registry == nil {
		return nil, errors.New("gateway: a logger and a metrics registry are required")
	}
	if len(cfg.AppSecrets) == 0 {
		return nil, errors.New("gateway: at least one app secret (WA_APP_SECRET) is required")
	}
	if cfg.VerifyToken == "" {
		return nil, errors.New("gateway: a verify token (WA_VERIFY_TOKEN) is required")
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = DefaultBodyLimit
	}
	if cfg.APIBodyLimit <= 0 {
		cfg.APIBodyLimit = 64 << 10
	}
	if cfg.LargeBodies <= 0 {
		cfg.LargeBodies = 32
	}
	if cfg.DeadLetterTopic == "" {
		return nil, errors.New("gateway: a dead-letter topic is required")
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 10 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.CommandWait <= 0 {
		cfg.CommandWait = DefaultCommandWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LiveHeartbeat <= 0 {
		cfg.LiveHeartbeat = DefaultLiveHeartbeat
	}
	s := &Server{cfg: cfg, pub: pub, reads: stores.Reads, tokens: stores.Tokens, commands: stores.Commands,
		agents: stores.Agents, teams: stores.Teams, inboxes: stores.Inboxes, log: cfg.Logger, m: newMetrics(cfg.Registry),
		largeBodies: make(chan struct{}, cfg.LargeBodies), adm: newAdmission(cfg.MaxInFlight, cfg.MaxWait),
		signatures: whatsapp.NewVerifier(cfg.AppSecrets...), gate: newTokenGate(time.Now)}
	cfg.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wagw_webhook_inflight",
			Help: "Signed webhooks taken in and not yet answered."}, func() float64 { return float64(s.adm.inFlight.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wagw_webhook_inflight_limit",
			Help: fmt.Sprintf("The bound on webhooks in flight now: the highest answer rate of the last 2 s times WAGW_WEBHOOK_MAX_WAIT, within %d and WAGW_WEBHOOK_MAX_INFLIGHT (the latter for a new process's first 2 s of webhooks).", admitFloor)},
			func() float64 { return float64(s.adm.limit.Load()) }))
	if cfg.AdminToken != "" {
		s.adminHash = sha256.Sum256([]byte(cfg.AdminToken))
	}
	if cfg.Changes != nil {
		s.live = newLive(stores.Reads, s, cfg.Registry)
		go s.live.run(cfg.Changes)
	}

	app := fiber.New(fiber.Config{
		AppName:   "wagw",
		BodyLimit: max(cfg.BodyLimit, cfg.APIBodyLimit),
		// Bodies are read by readBody as they arrive, not allocated from
		// the length a client announces.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		DisableStartupMessage:        true,
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  120 * time.Second,
		ErrorHandler:                 s.errorHandler,
		// A connection's write buffer, and its request's and answer's
		// body buffers, go back to shared pools between requests instead
		// of staying with it: with 4,096 busy connections serve's peak
		// RSS fell from 340–365 MB to about 320 MB, for about 1 % more
		// CPU a request (the read buffer stays: bodies are streamed).
		ReduceMemoryUsage: true,
	})
	app.Server().ExpectHandler = s.expect
	app.Use(requestID, s.readBody)
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", readyHandler(cfg.Ready, 3*time.Second, cfg.ReadyReuse))
	if !cfg.MetricsElsewhere {
		app.Get("/metrics", metricsHandler(cfg.Registry))
	}
	app.Get("/webhook", s.handshake)
	app.Post("/webhook", s.timed(s.webhook))
	s.consoleRoutes(app)
	s.routes(app.Group("/v1", s.auth))
	app.Use(func(c *fiber.Ctx) error {
		return apiError(fiber.StatusNotFound, "not_found", "no route for "+c.Method()+" "+c.Path())
	})
	return app, nil
}

func (s *Server) handshake(c *fiber.Ctx) error {
	challenge, ok := whatsapp.Handshake(c.Query("hub.mode"), c.Query("hub.verify_token"), c.Query("hub.challenge"), s.cfg.VerifyToken)
	if !ok {
		s.m.webhooks.WithLabelValues("handshake_refused").Inc()
		return c.Status(fiber.StatusForbidden).SendString("verify token mismatch")
	}
	s.m.webhooks.WithLabelValues("handshake_ok").Inc()
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlain)
	return c.SendString(challenge)
}

// webhook takes one signed POST from Meta. It answers 200 only after every
// event of the body is on Kafka; 503 when Kafka cannot take them, so that
// Meta retries; 401 for a bad signature, producing nothing. A signed body
// is never refused for its content: one that cannot be parsed, and each
// event that cannot be encoded, is kept on the dead-letter topic.
func (s *Server) webhook(c *fiber.Ctx) error {
	now := s.cfg.Now()
	body := c.BodyRaw() // the bytes exactly as signed; not valid after return
	if !s.signatures.Verify(c.Get("X-Hub-Signature-256"), body) {
		s.m.signatureFailures.Inc()
		s.m.webhooks.WithLabelValues("bad_signature").Inc()
		return apiError(fiber.StatusUnauthorized, "bad_signature", "missing or invalid X-Hub-Signature-256")
	}
	if !s.adm.take(now) {
		s.m.webhooks.WithLabelValues("shed").Inc()
		c.Set(fiber.HeaderRetryAfter, "1")
		return apiError(fiber.StatusServiceUnavailable, "overloaded", "too many webhooks in flight; retry later")
	}
	defer s.adm.done()
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.PublishTimeout)
	defer cancel()
	headers := map[string]string{"source": "gateway", "received_at": now.UTC().Format(time.RFC3339Nano)}

	if !utf8.Valid(body) { // JSON is UTF-8, and Meta escapes the rest
		return s.deadLetterBody(ctx, c, body, now, headers, errors.New("the body is not valid UTF-8"))
	}
	events, err := event.ParseAndSplit(body, now)
	if err == nil && len(events) == 0 {
		err = errNoChange // nothing to route: kept, not dropped
	}
	if err != nil {
		return s.deadLetterBody(ctx, c, body, now, headers, err)
	}
	start := time.Now()
	rejected, err := s.pub.PublishEach(ctx, events, s.cfg.DeadLetterTopic, headers)
	if err != nil {
		return s.kafkaFailed(c, err, len(events))
	}
	s.m.produceSeconds.Observe(time.Since(start).Seconds())
	dead := 0
	for i, r := range rejected {
		if r != nil {
			dead++
			s.m.deadLetters.Inc()
			s.reqLog(c).Warn("signed webhook event could not be encoded; kept on the dead-letter topic", "event", events[i].ID, "kind", events[i].Kind, "err", r)
			continue
		}
		s.m.event(events[i].Kind).Inc()
	}
	s.m.accepted.Inc()
	s.capture(c, body, now)
	return sendAccepted(c, len(events)-dead, dead)
}

// sendAccepted answers {"status":"accepted","events":n} (with
// "dead_lettered" when some were), written without reflection: it is the
// answer to nearly every request.
func sendAccepted(c *fiber.Ctx, n, dead int) error {
	b := make([]byte, 0, 64)
	b = append(b, `{"status":"accepted","events":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	if dead > 0 {
		b = append(b, `,"dead_lettered":`...)
		b = strconv.AppendInt(b, int64(dead), 10)
	}
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

// errNoChange: a signed body whose entries hold no change (none, or of
// another shape than Meta's WhatsApp webhooks).
var errNoChange = errors.New("no change in any entry")

// deadLetterBody keeps a signed body that could not be parsed, raw, so
// that it is never retried forever.
func (s *Server) deadLetterBody(ctx context.Context, c *fiber.Ctx, body []byte, now time.Time, headers map[string]string, cause error) error {
	reason := "unparseable webhook: " + cause.Error() // bounded by the producer (headers) and the parser (what it quotes)
	headers["reason"] = reason
	headers["content_type"] = "application/json"
	if err := s.pub.PublishRaw(ctx, s.cfg.DeadLetterTopic, nil, body, headers); err != nil {
		return s.kafkaFailed(c, err, 1)
	}
	s.m.deadLetters.Inc()
	s.m.webhooks.WithLabelValues("dead_lettered").Inc()
	s.reqLog(c).Warn("signed webhook could not be parsed; kept on the dead-letter topic", "err", reason, "bytes", len(body))
	s.capture(c, body, now)
	return c.JSON(fiber.Map{"status": "dead_lettered"})
}

func (s *Server) kafkaFailed(c *fiber.Ctx, err error, records int) error {
	s.m.webhooks.WithLabelValues("kafka_unavailable").Inc()
	c.Set(fiber.HeaderRetryAfter, "1")
	s.reqLog(c).Error("kafka write failed; asking Meta to retry", "err", err, "records", records)
	return apiError(fiber.StatusServiceUnavailable, "kafka_unavailable", "could not store the webhook; retry later")
}

func (s *Server) capture(c *fiber.Ctx, body []byte, at time.Time) {
	if s.cfg.Capture == nil {
		return
	}
	headers := map[string]string{}
	c.Request().Header.VisitAll(func(k, v []byte) { headers[string(k)] = string(v) })
	s.cfg.Capture(append([]byte(nil), body...), headers, at)
}

// isAdminToken compares in constant time.
func (s *Server) isAdminToken(tok string) bool {
	if s.cfg.AdminToken == "" {
		return false
	}
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], s.adminHash[:]) == 1
}

type metrics struct {
	webhooks          *prometheus.CounterVec
	accepted          prometheus.Counter // webhooks{outcome="accepted"}
	events            *prometheus.CounterVec
	eventsByKind      map[event.Kind]prometheus.Counter
	signatureFailures prometheus.Counter
	deadLetters       prometheus.Counter
	produceSeconds    prometheus.Histogram
	apiRequests       *prometheus.CounterVec
	bodiesReading     prometheus.Gauge
	bodiesRefused     *prometheus.CounterVec
	requestSeconds    prometheus.Histogram
	lastAccepted      prometheus.Gauge
}

// event is the counter of produced events of kind k.
func (m *metrics) event(k event.Kind) prometheus.Counter {
	if c, ok := m.eventsByKind[k]; ok {
		return c
	}
	return m.events.WithLabelValues(string(k))
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_webhook_requests_total",
			Help: "Webhook requests by outcome."}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_webhook_events_total",
			Help: "Events produced from webhooks, by kind."}, []string{"kind"}),
		signatureFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_webhook_signature_failures_total",
			Help: "Webhook POSTs refused for a missing or wrong signature."}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_webhook_dead_letters_total",
			Help: "Signed webhook bodies that could not be parsed, and events of signed webhooks that could not be encoded, kept on the dead-letter topic."}),
		produceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wagw_webhook_produce_seconds",
			Help: "Time for Kafka to acknowledge the events of one webhook.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_api_requests_total",
			Help: "API requests by route and status."}, []string{"route", "status"}),
		bodiesReading: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wagw_http_bodies_reading",
			Help: "Request bodies being read now."}),
		bodiesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_http_bodies_refused_total",
			Help: "Request bodies refused before a handler saw them, by reason (content_encoding, body_too_large, busy, request_timeout, incomplete_body)."}, []string{"reason"}),
		requestSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wagw_webhook_request_seconds",
			Help: "Time to answer a webhook POST once its body is read: verify, parse, produce (any outcome).", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		lastAccepted: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wagw_webhook_last_accepted_timestamp_seconds",
			Help: "Unix time of the last webhook POST answered 200 (the process start until the first)."}),
	}
	// Every outcome exists from the start, so that a rate or an increase
	// sees its first event.
	for _, o := range []string{"accepted", "dead_lettered", "bad_signature", "kafka_unavailable", "too_large", "handshake_ok", "handshake_refused", "shed"} {
		m.webhooks.WithLabelValues(o)
	}
	m.lastAccepted.SetToCurrentTime()
	m.accepted = m.webhooks.WithLabelValues("accepted")
	m.eventsByKind = map[event.Kind]prometheus.Counter{}
	for _, k := range []event.Kind{event.KindMessage, event.KindStatus, event.KindHandover, event.KindEcho, event.KindNotice, event.KindCommand} {
		m.eventsByKind[k] = m.events.WithLabelValues(string(k))
	}
	reg.MustRegister(m.webhooks, m.events, m.signatureFailures, m.deadLetters, m.produceSeconds, m.apiRequests, m.bodiesReading, m.bodiesRefused,
		m.requestSeconds, m.lastAccepted)
	return m
}

// timed observes how long the webhook handler h takes, and when it last
// answered 200.
func (s *Server) timed(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		err := h(c)
		s.m.requestSeconds.Observe(time.Since(start).Seconds())
		if err == nil && c.Response().StatusCode() == fiber.StatusOK {
			s.m.lastAccepted.SetToCurrentTime()
		}
		return err
	}
}
