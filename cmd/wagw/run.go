package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/simulator"
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
  probe      GET a URL, exit 0 when it answers 200 (a container's health check)

Configuration is read from the environment; run 'wagw <command> -h' for flags.
`

// run is the whole program; main only adds signals and the exit code.
// Output for the user goes to stdout, logs to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
		return runRoles(ctx, cmd, cfg, stdout, stderr)
	case "migrate":
		cfg, err := loadConfig(cmd, rest, getenv, stdout)
		if err != nil {
			return err
		}
		return runMigrate(ctx, cfg, stdout)
	case "simulate":
		cfg, err := loadConfig(cmd, rest, getenv, stdout)
		if err != nil {
			return err
		}
		return runSimulator(ctx, cfg, stdout, stderr)
	case "loadtest":
		return runLoadtest(ctx, rest, getenv, stdout)
	case "probe":
		if len(rest) != 1 {
			return errors.New("usage: wagw probe <url>, e.g. http://127.0.0.1:8080/readyz")
		}
		return gateway.Probe(ctx, rest[0])
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func openDB(ctx context.Context, cmd string, cfg config) (*sqlx.DB, error) {
	return db.Open(ctx, cfg.dbConfig(cmd))
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
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

// runMigrate applies the migrations the database lacks.
func runMigrate(ctx context.Context, cfg config, stdout io.Writer) error {
	conn, err := openDB(ctx, "migrate", cfg)
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
}

// runSimulator runs the Cloud API simulator on its own.
func runSimulator(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	webhook := ""
	if len(cfg.AppSecrets) > 0 {
		webhook = "http://" + loopback(cfg.HTTPAddr) + "/webhook"
	}
	sim := simulator.New(simulator.Config{Addr: cfg.SimulatorAddr, Token: cfg.AccessToken,
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
