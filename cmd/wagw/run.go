package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/gateway"
)

const usage = `wagw — WhatsApp Cloud API webhook gateway

usage: wagw <command> [flags]

commands:
  serve      every role in one process (embedded Kafka when KAFKA_BROKERS is empty)
  gateway    the HTTP gateway only (webhooks and API)
  consumer   the Kafka consumer only (applies events to Postgres)
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
	case "serve", "gateway", "consumer":
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

	if serve {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
		if _, err := fillDevSecrets(&cfg); err != nil {
			return err
		}
	}
	if withGateway && (len(cfg.AppSecrets) == 0 || cfg.VerifyToken == "") {
		return errors.New("gateway needs WA_APP_SECRET and WA_VERIFY_TOKEN (serve generates development values)")
	}

	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer stopAll()

	// Kafka: embedded broker or a real cluster.
	brokers := cfg.KafkaBrokers
	embedded := len(brokers) == 0
	if embedded {
		if !serve {
			return errors.New("KAFKA_BROKERS is required (only serve starts the embedded broker)")
		}
		emb, err := broker.StartEmbedded(broker.EmbeddedConfig{
			Addr: cfg.KafkaEmbeddedAddr, DataDir: filepath.Join(cfg.DataDir, "kafka"),
			Topics: []string{cfg.KafkaTopic, cfg.dlqTopic()}, Partitions: cfg.KafkaPartitions,
		})
		if err != nil {
			return err
		}
		stops = append(stops, emb.Close)
		brokers = []string{emb.Addr()}
	} else if serve {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := broker.EnsureTopics(ectx, brokers, cfg.KafkaPartitions, 1, cfg.KafkaTopic, cfg.dlqTopic())
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

	producer := broker.NewProducer(broker.ProducerConfig{Brokers: brokers, Topic: cfg.KafkaTopic})
	stops = append(stops, func() { producer.Close() })

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	roleCtx, cancelRoles := context.WithCancel(ctx)
	defer cancelRoles()

	if withConsumer {
		cons := consumer.New(consumer.Config{
			Brokers: brokers, Topic: cfg.KafkaTopic, DeadLetterTopic: cfg.dlqTopic(),
			Workers: cfg.ConsumerWorkers, Logger: log, Registerer: reg,
		}, store, producer)
		consCtx, stopCons := context.WithCancel(context.WithoutCancel(ctx))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cons.Run(consCtx); err != nil {
				errc <- fmt.Errorf("consumer: %w", err)
			}
		}()
		stops = append(stops, func() { stopCons(); wg.Wait() })
	}

	var app *fiber.App
	if withGateway {
		secrets := make([][]byte, len(cfg.AppSecrets))
		for i, s := range cfg.AppSecrets {
			secrets[i] = []byte(s)
		}
		app, err = gateway.New(gateway.Config{
			AppSecrets: secrets, VerifyToken: cfg.VerifyToken, AdminToken: cfg.AdminToken,
			BodyLimit: cfg.BodyLimit, DeadLetterTopic: cfg.dlqTopic(), CommandWait: cfg.CommandWait,
			Ready: func(ctx context.Context) error {
				if err := store.Ping(ctx); err != nil {
					return fmt.Errorf("postgres: %w", err)
				}
				return broker.Ping(ctx, brokers, cfg.KafkaTopic)
			},
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
			printWelcome(stdout, cfg, ln.Addr().String(), brokers, embedded)
		} else {
			fmt.Fprintf(stdout, "wagw %s listening on http://%s\n", cmd, ln.Addr())
		}
	} else {
		fmt.Fprintf(stdout, "wagw %s consuming %s from %s\n", cmd, cfg.KafkaTopic, strings.Join(brokers, ","))
	}

	select {
	case <-roleCtx.Done():
		log.Info("shutting down")
		return nil
	case err := <-errc:
		return err
	}
}
