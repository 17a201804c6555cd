package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/loadtest"
	"github.com/wagw/wagw/whatsapp"
)

const usage = `wagw — WhatsApp Cloud API webhook gateway

usage: wagw <command> [flags]

commands:
  serve      every role in one process (embedded Kafka when KAFKA_BROKERS is empty)
  gateway    the HTTP gateway only (webhooks and API)
  consumer   the Kafka consumer only (applies events to Postgres, drains queues)
  relay      the outbox relay only (sends through the Cloud API)
  simulate   the Cloud API simulator only
  loadtest   generate, replay and verify webhook traffic (wagw loadtest -h)
  migrate    apply database migrations and exit

Configuration is read from the environment; run 'wagw <command> -h' for flags.
`

// run is the whole program; main only adds signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve", "gateway", "consumer", "relay":
		cfg, err := loadConfig(cmd, rest, getenv, stdout)
		if err != nil {
			return err
		}
		return runRoles(ctx, cmd, cfg, stdout)
	case "migrate":
		cfg, err := loadConfig(cmd, rest, getenv, stdout)
		if err != nil {
			return err
		}
		conn, err := openDB(ctx, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		applied, err := db.Migrate(ctx, conn)
		for _, a := range applied {
			fmt.Fprintln(stdout, "applied", a)
		}
		if err == nil && len(applied) == 0 {
			fmt.Fprintln(stdout, "database is up to date")
		}
		return err
	case "simulate":
		cfg, err := loadConfig(cmd, rest, getenv, stdout)
		if err != nil {
			return err
		}
		return runSimulator(ctx, cfg, stdout)
	case "loadtest":
		return runLoadtest(ctx, rest, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func openDB(ctx context.Context, cfg config) (*sqlx.DB, error) {
	return db.Open(ctx, db.Config{URL: cfg.DatabaseURL, CreateDatabase: true})
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

// runRoles starts the roles of one command and stops them in order:
// stop taking HTTP, flush the producer, drain partitions and commit, close
// the database, stop the embedded broker.
func runRoles(ctx context.Context, cmd string, cfg config, stdout io.Writer) error {
	log := newLogger(cfg, os.Stderr)
	serve := cmd == "serve"
	withGateway := serve || cmd == "gateway"
	withConsumer := serve || cmd == "consumer"
	withRelay := serve || cmd == "relay"

	var generated generatedSecrets
	if serve {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		var err error
		if generated, err = fillDevSecrets(&cfg); err != nil {
			return err
		}
	}
	if withGateway && (len(cfg.AppSecrets) == 0 || cfg.VerifyToken == "") {
		return errors.New("gateway needs WA_APP_SECRET and WA_VERIFY_TOKEN (serve generates development values)")
	}

	if cfg.PprofAddr != "" {
		if err := servePprof(cfg.PprofAddr, log); err != nil {
			return err
		}
	}

	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer stopAll()

	// Kafka: embedded broker or a real cluster, taking a record as large
	// as a webhook body with its envelope.
	maxRecord := cfg.BodyLimit + broker.EnvelopeHeadroom
	brokers := cfg.KafkaBrokers
	embedded := len(brokers) == 0
	if embedded {
		if !serve {
			return errors.New("KAFKA_BROKERS is required (only serve starts the embedded broker)")
		}
		emb, err := broker.StartEmbedded(broker.EmbeddedConfig{
			Addr: cfg.KafkaEmbeddedAddr, DataDir: filepath.Join(cfg.DataDir, "kafka"),
			Topics: []string{cfg.KafkaTopic, cfg.dlqTopic()}, Partitions: cfg.KafkaPartitions, NoSync: !cfg.KafkaEmbeddedSync,
			MaxMessageBytes: maxRecord,
		})
		if err != nil {
			return err
		}
		stops = append(stops, emb.Close)
		brokers = []string{emb.Addr()}
	} else if serve {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := broker.EnsureTopics(ectx, brokers, cfg.KafkaPartitions, 1, maxRecord, cfg.KafkaTopic, cfg.dlqTopic())
		cancel()
		if err != nil {
			return err
		}
	}

	// Postgres.
	conn, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	stops = append(stops, func() { conn.Close() })
	if serve {
		if _, err := db.Migrate(ctx, conn); err != nil {
			return err
		}
	}
	store := db.NewStore(conn)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	producer := broker.NewProducer(broker.ProducerConfig{Brokers: brokers, Topic: cfg.KafkaTopic, MaxMessageBytes: maxRecord})
	stops = append(stops, func() { producer.Close() })

	// What /readyz checks besides Postgres and Kafka answering: each role's
	// own calls to them.
	var roleHealth []func() error
	ready := func(ctx context.Context) error {
		if err := store.Ping(ctx); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if err := broker.Ping(ctx, brokers, cfg.KafkaTopic); err != nil {
			return err
		}
		for _, h := range roleHealth {
			if err := h(); err != nil {
				return err
			}
		}
		return nil
	}

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	roleCtx, cancelRoles := context.WithCancel(ctx)
	defer cancelRoles()

	if withConsumer {
		cons := consumer.New(consumer.Config{
			Brokers: brokers, Topic: cfg.KafkaTopic, DeadLetterTopic: cfg.dlqTopic(),
			Workers: cfg.ConsumerWorkers, MaxBatch: cfg.ConsumerBatch, SessionTimeout: cfg.SessionTimeout, StallTimeout: cfg.StallTimeout, Logger: log, Registerer: reg,
		}, store, producer)
		roleHealth = append(roleHealth, cons.Health)
		consCtx, stopCons := context.WithCancel(context.WithoutCancel(ctx))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cons.Run(consCtx); err != nil {
				if consCtx.Err() != nil {
					// Stopping: the batch in hand will be redelivered after restart.
					log.Warn("consumer stopped with work unfinished; it is redelivered on restart", "err", err)
					return
				}
				errc <- fmt.Errorf("consumer: %w", err)
			}
		}()
		stops = append(stops, func() { stopCons(); wg.Wait() })
	}

	if withConsumer {
		wake, stopListen, err := listenQueue(cfg.DatabaseURL, log)
		if err != nil {
			return err
		}
		drainer := consumer.NewDrainer(consumer.DrainerConfig{Wake: wake, Logger: log, Registerer: reg},
			func(ctx context.Context, limit int, now time.Time) ([]consumer.QueueRef, error) {
				refs, err := store.DrainCandidates(ctx, limit, now)
				out := make([]consumer.QueueRef, len(refs))
				for i, r := range refs {
					out[i] = consumer.QueueRef{ConversationID: r.ConversationID, ContactKey: r.ContactKey, Expired: r.Expired}
				}
				return out, err
			}, producer)
		roleHealth = append(roleHealth, drainer.Health)
		dctx, stopDrain := context.WithCancel(ctx)
		done, pruned := make(chan struct{}), make(chan struct{})
		go func() { defer close(done); drainer.Run(dctx) }()
		go func() { // old dedupe and idempotency rows
			defer close(pruned)
			store.RunRetention(dctx, db.RetentionConfig{Window: cfg.Retention, Logger: log})
		}()
		stops = append(stops, func() { stopDrain(); <-done; <-pruned; stopListen() })
	}

	simURL := ""
	if withRelay {
		apiURL := cfg.APIURL
		if cfg.AccessToken == "" {
			if !serve {
				return errors.New("relay needs WA_ACCESS_TOKEN (serve uses the built-in Cloud API simulator without one)")
			}
			sim := loadtest.NewSimulator(loadtest.SimulatorConfig{Addr: cfg.SimulatorAddr,
				WebhookURL: "http://" + loopback(cfg.HTTPAddr) + "/webhook", AppSecret: cfg.AppSecrets[0], Logger: log})
			addr, err := sim.Start(ctx)
			if err != nil {
				return fmt.Errorf("start the Cloud API simulator on %s: %w", cfg.SimulatorAddr, err)
			}
			stops = append(stops, sim.Close)
			apiURL, simURL = "http://"+addr, "http://"+addr
		}
		client := whatsapp.NewClient(whatsapp.ClientConfig{BaseURL: apiURL, Version: cfg.APIVersion, Token: cfg.AccessToken,
			RatePerSecond: cfg.RatePerNumber, MaxRetries: cfg.SendMaxRetries, Registerer: reg, Logger: log})
		retries, base, most := client.RetryPolicy()
		relay := consumer.NewRelay(consumer.RelayConfig{Lease: cfg.RelayLease, MaxRetries: retries, BackoffBase: base, BackoffMax: most,
			Logger: log, Registerer: reg}, store, client, producer)
		roleHealth = append(roleHealth, relay.Health)
		rctx, stopRelay := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); relay.Run(rctx) }()
		stops = append(stops, func() { stopRelay(); <-done })
	}

	if cfg.HealthAddr != "" {
		stop, err := serveHealth(cfg.HealthAddr, ready, reg, errc)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}

	var app *fiber.App
	if withGateway {
		secrets := make([][]byte, len(cfg.AppSecrets))
		for i, s := range cfg.AppSecrets {
			secrets[i] = []byte(s)
		}
		var capture func([]byte, map[string]string, time.Time)
		if cfg.CaptureFile != "" {
			cw, err := gateway.NewCaptureWriter(cfg.CaptureFile, 256<<20)
			if err != nil {
				return fmt.Errorf("capture file: %w", err)
			}
			stops = append(stops, func() { cw.Close() })
			capture = cw.Write
			log.Info("capturing every accepted webhook", "file", cfg.CaptureFile)
		}
		app, err = gateway.New(gateway.Config{
			Capture:    capture,
			AppSecrets: secrets, VerifyToken: cfg.VerifyToken, AdminToken: cfg.AdminToken,
			BodyLimit: cfg.BodyLimit, DeadLetterTopic: cfg.dlqTopic(), CommandWait: cfg.CommandWait,
			Ready: ready, Transient: db.IsTransient,
			Logger: log, Registry: reg,
		}, producer, store)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
		}
		go func() {
			if err := app.Listener(ln); err != nil {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
		stops = append(stops, func() { app.ShutdownWithTimeout(5 * time.Second) })
		if serve {
			printWelcome(stdout, cfg, generated, ln.Addr().String(), brokers, embedded, simURL)
		} else {
			fmt.Fprintf(stdout, "wagw %s listening on http://%s\n", cmd, ln.Addr())
		}
	} else {
		fmt.Fprintf(stdout, "wagw %s running against %s (topic %s)\n", cmd, strings.Join(brokers, ","), cfg.KafkaTopic)
		if cfg.HealthAddr != "" {
			fmt.Fprintf(stdout, "health on http://%s (/healthz, /readyz, /metrics)\n", cfg.HealthAddr)
		}
	}

	select {
	case <-roleCtx.Done():
		log.Info("shutting down")
		return nil
	case err := <-errc:
		return err
	}
}

// loopback turns a listen address (":8080") into one to dial ("127.0.0.1:8080").
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// serveHealth serves /healthz, /readyz and /metrics on addr
// (WAGW_HEALTH_ADDR) and returns how to stop it.
func serveHealth(addr string, ready func(context.Context) error, reg *prometheus.Registry, errc chan<- error) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("WAGW_HEALTH_ADDR: %w", err)
	}
	app := gateway.NewHealth(gateway.HealthConfig{Ready: ready, Registry: reg})
	go func() {
		if err := app.Listener(ln); err != nil {
			errc <- fmt.Errorf("health server: %w", err)
		}
	}()
	return func() { app.ShutdownWithTimeout(5 * time.Second) }, nil
}

// listenQueue turns Postgres notifications on the queue channel into
// wake-ups. The listener reconnects by itself; it logs when it loses the
// connection and when it has it again, not every attempt in between.
func listenQueue(dsn string, log *slog.Logger) (<-chan struct{}, func(), error) {
	var lost atomic.Bool
	l := pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			if lost.CompareAndSwap(false, true) {
				log.Warn("queue listener: lost its postgres connection; reconnecting (the queue is drained every few seconds meanwhile)", "err", err)
			}
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			if lost.CompareAndSwap(true, false) {
				log.Info("queue listener: connected again")
			}
		}
	})
	if err := l.Listen(db.QueueChannel); err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("listen on %s: %w", db.QueueChannel, err)
	}
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-l.Notify: // nil after a reconnect: wake up anyway
			case <-time.After(90 * time.Second):
				go l.Ping()
				continue
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	return wake, func() { close(done); l.Close() }, nil
}

// runSimulator runs the Cloud API simulator on its own.
func runSimulator(ctx context.Context, cfg config, stdout io.Writer) error {
	log := newLogger(cfg, os.Stderr)
	webhook := ""
	if len(cfg.AppSecrets) > 0 {
		webhook = "http://" + loopback(cfg.HTTPAddr) + "/webhook"
	}
	sim := loadtest.NewSimulator(loadtest.SimulatorConfig{Addr: cfg.SimulatorAddr, Token: cfg.AccessToken,
		WebhookURL: webhook, AppSecret: strings.Join(cfg.AppSecrets[:min(1, len(cfg.AppSecrets))], ""), Logger: log})
	addr, err := sim.Start(ctx)
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Fprintf(stdout, "Cloud API simulator on http://%s (sends: POST /{version}/{phone_number_id}/messages; inspect: GET /_sim/messages, /_sim/stats; faults: PUT /_sim/faults)\n", addr)
	if webhook != "" {
		fmt.Fprintf(stdout, "status webhooks go to %s\n", webhook)
	}
	<-ctx.Done()
	return nil
}

// servePprof serves Go's profiles (/debug/pprof/) on their own listener,
// for operators; it is off unless WAGW_PPROF_ADDR is set.
func servePprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("WAGW_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiles on http://" + ln.Addr().String() + "/debug/pprof/")
	go http.Serve(ln, mux)
	return nil
}
