package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/loadtest"
	"github.com/wagw/wagw/relay"
	"github.com/wagw/wagw/scheduler"
	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/whatsapp/cloudapi"
)

// httpShutdown bounds how long an HTTP server waits for the requests in
// flight when it stops.
const httpShutdown = 5 * time.Second

// process is one running command (serve, gateway, consumer, relay): its
// settings, what its roles share, and where a role that stops on its own
// reports. Each role's start fills in what later roles use.
type process struct {
	cmd    string
	cfg    config
	log    *slog.Logger
	reg    *prometheus.Registry
	stdout io.Writer
	failed failures

	generated generatedSecrets // which secrets serve generated
	brokers   []string
	embedded  bool
	security  broker.Security // of the connections to brokers
	store     *db.Store
	producer  *broker.Producer
	wake      <-chan struct{}                            // queue notifications
	timerWake <-chan struct{}                            // a deadline was set
	changes   <-chan assigner.Change                     // the store's committed changes, for live events
	health    []func() error                             // the roles' own health, for /readyz
	simURL    string                                     // the built-in Cloud API simulator, when serve runs one
	capture   func([]byte, map[string]string, time.Time) // WAGW_CAPTURE_FILE
	listening string                                     // the gateway's address
}

// runRoles runs the roles of one command until ctx ends or one fails, and
// stops them in the reverse order of their start: stop taking HTTP, stop
// the relay, the queue drainer and the timers, drain the consumer's batches and
// commit, flush the producer, close the database, stop the embedded
// broker.
func runRoles(ctx context.Context, cmd string, cfg config, stdout, stderr io.Writer) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p := &process{cmd: cmd, cfg: cfg, log: newLogger(cfg, stderr), reg: reg, stdout: stdout, failed: newFailures()}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		p.log.Info("soft memory limit", "bytes", limit)
	}
	if err := p.prepare(); err != nil {
		return err
	}
	p.registerReadiness()
	return supervise(ctx, p.roles(), p.failed, p.log)
}

// runs reports whether the command runs role (serve runs every role).
func (p *process) runs(role string) bool { return p.cmd == "serve" || p.cmd == role }

// roles lists the command's roles in start order.
func (p *process) roles() []role {
	list := []role{
		{"pprof", p.startPprof},
		{"kafka", p.startKafka},
		{"database", p.startDatabase},
		{"producer", p.startProducer},
	}
	if p.runs("consumer") {
		if p.cfg.ConsumerWorkers > 0 {
			list = append(list, role{"consumer", p.startConsumer})
		}
		list = append(list,
			role{"listeners", p.startListeners},
			role{"queue drainer", p.startDrainer},
			role{"timers", p.startTimers},
			role{"retention", p.startRetention})
	}
	if p.runs("relay") {
		list = append(list, role{"simulator", p.startSimulator}, role{"relay", p.startRelay})
	}
	list = append(list, role{"metrics server", p.startMetrics}, role{"health server", p.startHealth})
	if p.runs("gateway") {
		list = append(list, role{"capture", p.startCapture}, role{"changes listener", p.startChangesListener}, role{"gateway", p.startGateway})
	}
	return append(list, role{"banner", p.announce})
}

// prepare checks the settings before anything starts; serve fills in
// development secrets.
func (p *process) prepare() error {
	if p.cmd == "serve" {
		if err := os.MkdirAll(p.cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		var err error
		if p.generated, err = fillDevSecrets(&p.cfg); err != nil {
			return err
		}
	}
	if p.runs("gateway") && (len(p.cfg.AppSecrets) == 0 || p.cfg.VerifyToken == "") {
		return errors.New("gateway needs WA_APP_SECRET and WA_VERIFY_TOKEN (serve generates development values)")
	}
	if p.cmd != "serve" && len(p.cfg.KafkaBrokers) == 0 {
		return errors.New("KAFKA_BROKERS is required (only serve starts the embedded broker)")
	}
	if p.cmd == "consumer" && p.cfg.ConsumerWorkers < 1 {
		return errors.New("consumer needs WAGW_CONSUMER_WORKERS of at least 1 (0 is for serve: no consumer)")
	}
	if p.cmd == "relay" && p.cfg.AccessToken == "" {
		return errors.New("relay needs WA_ACCESS_TOKEN (serve uses the built-in Cloud API simulator without one)")
	}
	return p.prepareKafkaSecurity()
}

// maxRecord is the largest record on Kafka: a webhook body with its
// envelope.
func (p *process) maxRecord() int { return p.cfg.BodyLimit + broker.EnvelopeHeadroom }

// consumerGroup is the consumer group of every consumer role; the
// embedded broker's retention keeps what it has not committed.
const consumerGroup = "wagw"

// warmConns is how many connections of the pool are opened and warmed at
// start (db.Warm): one per consumer worker, whose transactions a burst
// waits on, and four for the relay, the timers, the queue drainer and the
// API; as many are kept open and warm through quiet spells
// (db.KeepWarm). The rest of the pool opens when needed.
func (p *process) warmConns() int {
	n := 4
	if p.runs("consumer") {
		n += p.cfg.ConsumerWorkers
	}
	return n
}

// startDatabase connects to Postgres; serve migrates it.
func (p *process) startDatabase(ctx context.Context) (func(context.Context) error, error) {
	conn, err := openDB(ctx, p.cmd, p.cfg)
	if err != nil {
		return nil, err
	}
	if p.cmd == "serve" {
		if _, err := db.Migrate(ctx, conn); err != nil {
			conn.Close()
			return nil, err
		}
	}
	warm := p.warmConns()
	if n, err := db.Warm(ctx, conn, warm); err != nil {
		p.log.Warn("database: could not warm every connection of the pool; the first requests open the rest", "warmed", n, "err", err)
	}
	p.store = db.NewStore(conn)
	p.store.Instrument(assignmentHistogram(p.reg))
	p.store.InstrumentSLA(slaBreachCounter(p.reg))
	p.store.SetRules(db.Rules{PresenceTimeout: p.cfg.PresenceTimeout})
	kctx, stopWarm := context.WithCancel(context.WithoutCancel(ctx))
	warming := make(chan struct{})
	go func() { // a quiet night does not leave the morning's first burst to cold backends
		defer close(warming)
		db.KeepWarm(kctx, conn, warm, db.IdleTimeout/2)
	}()
	return func(context.Context) error {
		stopWarm()
		<-warming
		return conn.Close()
	}, nil
}

func (p *process) startProducer(context.Context) (func(context.Context) error, error) {
	p.producer = broker.NewProducer(broker.ProducerConfig{Brokers: p.brokers, Security: p.security, Topic: p.cfg.KafkaTopic, MaxMessageBytes: p.maxRecord()})
	return func(context.Context) error { return p.producer.Close() }, nil
}

// startConsumer runs the consumer group. Its stop finishes the batches in
// hand and commits them.
func (p *process) startConsumer(ctx context.Context) (func(context.Context) error, error) {
	cons := consumer.New(consumer.Config{
		Brokers: p.brokers, Security: p.security, Topic: p.cfg.KafkaTopic, DeadLetterTopic: p.cfg.dlqTopic(), GroupID: consumerGroup,
		Workers: p.cfg.ConsumerWorkers, MaxBatch: p.cfg.ConsumerBatch, Linger: p.cfg.ConsumerLinger, FetchWait: p.cfg.ConsumerFetchWait, SessionTimeout: p.cfg.SessionTimeout,
		StallTimeout: p.cfg.StallTimeout, Logger: p.log, Registerer: p.reg,
	}, p.store, p.producer)
	p.health = append(p.health, cons.Health, cons.Started)
	return p.failed.loop(ctx, "consumer", func(ctx context.Context) error {
		err := cons.Run(ctx)
		if err != nil && ctx.Err() != nil {
			// Stopping: the batch in hand will be redelivered after restart.
			p.log.Warn("consumer stopped with work unfinished; it is redelivered on restart", "err", err)
			return nil
		}
		return err
	}), nil
}

// startListeners turns Postgres notifications on the queue and timer
// channels into wake-ups of the queue drainer and the deadline timers.
func (p *process) startListeners(context.Context) (func(context.Context) error, error) {
	dsn, err := db.DriverURL(p.cfg.dbConfig(p.cmd))
	if err != nil {
		return nil, err
	}
	wake, stopQueue, err := db.Listen(dsn, db.QueueChannel, p.log)
	if err != nil {
		return nil, err
	}
	timerWake, stopTimers, err := db.Listen(dsn, db.TimerChannel, p.log)
	if err != nil {
		stopQueue()
		return nil, err
	}
	p.wake, p.timerWake = wake, timerWake
	return func(context.Context) error { stopTimers(); stopQueue(); return nil }, nil
}

// startChangesListener follows the store's committed changes for the
// gateway's live events (the console).
func (p *process) startChangesListener(context.Context) (func(context.Context) error, error) {
	changes, stop, err := db.ListenChanges(p.cfg.DatabaseURL, p.log)
	if err != nil {
		return nil, err
	}
	p.changes = changes
	return func(context.Context) error { stop(); return nil }, nil
}

// startDrainer runs the queue drainer: a command onto a contact's
// partition when a queued conversation can be assigned or expired.
func (p *process) startDrainer(ctx context.Context) (func(context.Context) error, error) {
	drainer := scheduler.NewDrainer(scheduler.DrainerConfig{Wake: p.wake, Logger: p.log, Registerer: p.reg,
		Stats: func(ctx context.Context) (scheduler.QueueStats, error) {
			st, err := p.store.QueueStats(ctx)
			return scheduler.QueueStats{Length: st.Length, Oldest: st.Oldest}, err
		}},
		func(ctx context.Context, limit int, now time.Time) ([]scheduler.QueueRef, error) {
			refs, err := p.store.DrainCandidates(ctx, limit, now)
			out := make([]scheduler.QueueRef, len(refs))
			for i, r := range refs {
				out[i] = scheduler.QueueRef{ConversationID: r.ConversationID, ContactKey: r.ContactKey, Expired: r.Expired}
			}
			return out, err
		}, p.producer)
	p.health = append(p.health, drainer.Health)
	return p.failed.loop(ctx, "queue drainer", drainer.Run), nil
}

// startTimers runs the deadline timers: a command onto a contact's
// partition when one of its conversations' deadlines falls due.
func (p *process) startTimers(ctx context.Context) (func(context.Context) error, error) {
	timers := scheduler.NewTimers(scheduler.TimersConfig{Wake: p.timerWake, Logger: p.log, Registerer: p.reg},
		func(ctx context.Context, now time.Time, limit int) ([]scheduler.TimerRef, *time.Time, error) {
			// Lapsed heartbeats first: they set away deadlines due now.
			lapse, err := p.store.LapseHeartbeats(ctx, now)
			if err != nil {
				return nil, nil, err
			}
			refs, next, err := p.store.DueTimers(ctx, now, limit)
			out := make([]scheduler.TimerRef, len(refs))
			for i, r := range refs {
				out[i] = scheduler.TimerRef{ConversationID: r.ConversationID, Kind: r.Kind, DueAt: r.DueAt, ContactKey: r.ContactKey}
			}
			if next == nil || (lapse != nil && lapse.Before(*next)) {
				next = lapse
			}
			return out, next, err
		}, p.producer)
	p.health = append(p.health, timers.Health)
	return p.failed.loop(ctx, "timers", timers.Run), nil
}

// startRetention prunes old dedupe and idempotency rows.
func (p *process) startRetention(ctx context.Context) (func(context.Context) error, error) {
	return p.failed.loop(ctx, "retention", func(ctx context.Context) error {
		p.store.RunRetention(ctx, db.RetentionConfig{Window: p.cfg.Retention, Logger: p.log})
		return nil
	}), nil
}

// startSimulator runs the built-in Cloud API simulator when serve has no
// access token.
func (p *process) startSimulator(ctx context.Context) (func(context.Context) error, error) {
	if p.cfg.AccessToken != "" {
		return nil, nil
	}
	sim := simulator.New(simulator.Config{Addr: p.cfg.SimulatorAddr,
		WebhookURL: "http://" + loopback(p.cfg.HTTPAddr) + "/webhook", AppSecret: p.cfg.AppSecrets[0], Logger: p.log})
	addr, err := sim.Start(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("start the Cloud API simulator on %s: %w", p.cfg.SimulatorAddr, err)
	}
	p.simURL = "http://" + addr
	return func(context.Context) error { sim.Close(); return nil }, nil
}

// startRelay sends the outbox through the Cloud API (or the simulator).
func (p *process) startRelay(ctx context.Context) (func(context.Context) error, error) {
	apiURL := p.cfg.APIURL
	if p.simURL != "" {
		apiURL = p.simURL
	}
	client := cloudapi.NewClient(cloudapi.ClientConfig{BaseURL: apiURL, Version: p.cfg.APIVersion, Token: p.cfg.AccessToken,
		RatePerSecond: p.cfg.RatePerNumber, MaxRetries: p.cfg.SendMaxRetries, Registerer: p.reg, Logger: p.log})
	retries, base, most := client.RetryPolicy()
	rel := relay.New(relay.Config{Lease: p.cfg.RelayLease, MaxRetries: retries, BackoffBase: base, BackoffMax: most,
		Logger: p.log, Registerer: p.reg}, p.store, client, p.producer)
	p.health = append(p.health, rel.Health)
	return p.failed.loop(ctx, "relay", rel.Run), nil
}

// ready is /readyz: Postgres and Kafka answer, and each role's own calls
// to them work.
func (p *process) ready(ctx context.Context) error {
	if err := p.store.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := broker.Ping(ctx, p.brokers, p.security, p.cfg.KafkaTopic); err != nil {
		return err
	}
	for _, h := range p.health {
		if err := h(); err != nil {
			return err
		}
	}
	return nil
}

// startHealth serves /healthz, /readyz and /metrics (unless
// WAGW_METRICS_ADDR is set) on WAGW_HEALTH_ADDR.
func (p *process) startHealth(context.Context) (func(context.Context) error, error) {
	return p.serveOn("health server", "WAGW_HEALTH_ADDR", p.cfg.HealthAddr, func() *fiber.App {
		return gateway.NewHealth(gateway.HealthConfig{Ready: p.ready, Registry: p.metricsRegistry()})
	})
}

// startCapture opens WAGW_CAPTURE_FILE, which receives every accepted
// webhook.
func (p *process) startCapture(context.Context) (func(context.Context) error, error) {
	if p.cfg.CaptureFile == "" {
		return nil, nil
	}
	cw, err := loadtest.NewCaptureFile(p.cfg.CaptureFile, captureMaxBytes)
	if err != nil {
		return nil, fmt.Errorf("capture file: %w", err)
	}
	p.capture = cw.Write
	p.log.Info("capturing every accepted webhook", "file", p.cfg.CaptureFile)
	return func(context.Context) error { return cw.Close() }, nil
}

// startGateway serves the webhooks and the API on WAGW_HTTP_ADDR.
func (p *process) startGateway(context.Context) (func(context.Context) error, error) {
	secrets := make([][]byte, len(p.cfg.AppSecrets))
	for i, s := range p.cfg.AppSecrets {
		secrets[i] = []byte(s)
	}
	app, err := gateway.New(gateway.Config{
		Capture:    p.capture,
		AppSecrets: secrets, VerifyToken: p.cfg.VerifyToken, AdminToken: p.cfg.AdminToken,
		BodyLimit: p.cfg.BodyLimit, DeadLetterTopic: p.cfg.dlqTopic(), CommandWait: p.cfg.CommandWait,
		MaxInFlight: p.cfg.WebhookMaxInFlight, MaxWait: p.cfg.WebhookMaxWait,
		Ready: p.ready, Transient: db.IsTransient, Changes: p.changes, PresenceTimeout: p.cfg.PresenceTimeout,
		Logger: p.log, Registry: p.reg, MetricsElsewhere: p.cfg.MetricsAddr != "",
	}, p.producer, gateway.Stores{Reads: p.store, Tokens: p.store, Commands: p.store, Agents: p.store, Teams: p.store, Inboxes: p.store})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", p.cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", p.cfg.HTTPAddr, err)
	}
	p.listening = ln.Addr().String()
	return p.serveFiber("http", app, gateway.LimitConnections(ln, gateway.ConnLimits{Max: p.cfg.HTTPMaxConns,
		FirstRequest: gateway.DefaultReadTimeout, IdleEvict: gateway.DefaultIdleEvict, StalledEvict: gateway.DefaultStalledEvict}, p.reg)), nil
}

// serveFiber serves app on ln until its stop shuts it down.
func (p *process) serveFiber(name string, app *fiber.App, ln net.Listener) func(context.Context) error {
	return p.failed.background(name, func() error { return app.Listener(ln) },
		func() error { return app.ShutdownWithTimeout(httpShutdown) })
}

// startPprof serves Go's profiles (/debug/pprof/) on their own listener,
// for operators; it is off unless WAGW_PPROF_ADDR is set.
func (p *process) startPprof(context.Context) (func(context.Context) error, error) {
	if p.cfg.PprofAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", p.cfg.PprofAddr)
	if err != nil {
		return nil, fmt.Errorf("WAGW_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	p.log.Info("profiles on http://" + ln.Addr().String() + "/debug/pprof/")
	return p.failed.background("pprof", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), httpShutdown)
		defer cancel()
		return srv.Shutdown(ctx)
	}), nil
}

// announce says where the command runs; serve adds what to try next.
func (p *process) announce(context.Context) (func(context.Context) error, error) {
	switch {
	case p.cmd == "serve":
		printWelcome(p.stdout, p.cfg, p.generated, p.listening, p.brokers, p.embedded, p.simURL)
	case p.runs("gateway"):
		fmt.Fprintf(p.stdout, "wagw %s listening on http://%s\n", p.cmd, p.listening)
	default:
		fmt.Fprintf(p.stdout, "wagw %s running against %s (topic %s)\n", p.cmd, strings.Join(p.brokers, ","), p.cfg.KafkaTopic)
		if p.cfg.HealthAddr != "" {
			fmt.Fprintf(p.stdout, "health on http://%s (/healthz, /readyz, /metrics)\n", p.cfg.HealthAddr)
		}
	}
	return nil, nil
}

// assignmentHistogram is wagw_assignment_seconds, registered on reg: the
// store observes, per conversation, the seconds from its opening message
// to its first assignee.
// slaBreachCounter registers wagw_sla_breaches_total and returns what
// counts one breach.
func slaBreachCounter(reg prometheus.Registerer) func(inbox, team string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_sla_breaches_total",
		Help: "First-response SLA breaches recorded: conversations no agent answered within their inbox's SLA, " +
			"by inbox (phone_number_id) and team name (empty: none)."}, []string{"inbox", "team"})
	reg.MustRegister(c)
	return func(inbox, team string) { c.WithLabelValues(inbox, team).Inc() }
}

func assignmentHistogram(reg prometheus.Registerer) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wagw_assignment_seconds",
		Help: "Time from the message that opened a conversation (Meta's timestamp) to the commit that gave the conversation, " +
			"then without assignees, its first: at once by the opening rules, or later from the queue or by hand.",
		Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}})
	reg.MustRegister(h)
	return h
}
