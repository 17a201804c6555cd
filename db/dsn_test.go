package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// TestDriverURLKeepsVerifyFull: a production URL with
// sslmode=verify-full and its root certificate reaches the driver as
// written, with wagw's application name and statement timeout added, and
// the URL's own application_name or statement_timeout win over them.
func TestDriverURLKeepsVerifyFull(t *testing.T) {
	dsn, err := db.DriverURL(db.Config{
		URL:              "postgres://wagw:s3cret@db.example.com:5432/wagw?sslmode=verify-full&sslrootcert=/etc/wagw/rds-ca.pem",
		StatementTimeout: 15 * time.Second, ApplicationName: "wagw-consumer"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SSLMode != pq.SSLModeVerifyFull || cfg.SSLRootCert != "/etc/wagw/rds-ca.pem" || cfg.Host != "db.example.com" ||
		cfg.Password != "s3cret" || cfg.Database != "wagw" {
		t.Errorf("the driver gets sslmode %q, root cert %q, host %q, database %q; want the URL's", cfg.SSLMode, cfg.SSLRootCert, cfg.Host, cfg.Database)
	}
	if cfg.ApplicationName != "wagw-consumer" || cfg.Runtime["statement_timeout"] != "15000" {
		t.Errorf("application_name %q, statement_timeout %q; want wagw-consumer and 15000 (ms)", cfg.ApplicationName, cfg.Runtime["statement_timeout"])
	}

	dsn, err = db.DriverURL(db.Config{URL: "postgres://h/wagw?sslmode=verify-full&application_name=mine&statement_timeout=5000",
		StatementTimeout: 15 * time.Second, ApplicationName: "wagw-consumer"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = pq.NewConfig(dsn); err != nil || cfg.ApplicationName != "mine" || cfg.Runtime["statement_timeout"] != "5000" {
		t.Errorf("the URL's own settings: %v, application_name %q, statement_timeout %q; want mine and 5000", err, cfg.ApplicationName, cfg.Runtime["statement_timeout"])
	}
}

// TestDriverURLRefusesWhatTheDriverWould: an unknown sslmode or a URL that
// is not a postgres URL fails before any connection, without the password.
func TestDriverURLRefusesWhatTheDriverWould(t *testing.T) {
	for _, raw := range []string{
		"postgres://wagw:s3cret@db.example.com/wagw?sslmode=verify_full",
		"mysql://wagw:s3cret@db.example.com/wagw",
		"postgres://wagw:s3cret@db.example.com/wagw?sslmode=prefer&sslnegotiation=direct",
	} {
		_, err := db.DriverURL(db.Config{URL: raw})
		if err == nil {
			t.Errorf("DriverURL(%s) worked, want an error", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("DriverURL(%s): %v; want an error about DATABASE_URL without the password", raw, err)
		}
	}
}

// TestOpenSetsTimeoutAndApplicationName: the connections Open makes
// carry the application name and cancel a statement past the timeout
// (57014, which the consumer retries as transient).
func TestOpenSetsTimeoutAndApplicationName(t *testing.T) {
	_, dsn := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := db.Open(ctx, db.Config{URL: dsn, MaxOpenConns: 2, StatementTimeout: 200 * time.Millisecond, ApplicationName: "wagw-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.Stats().MaxOpenConnections; got != 2 {
		t.Errorf("pool of %d connections, want 2", got)
	}
	var name, timeout string
	if err := conn.QueryRowContext(ctx, `SELECT application_name, current_setting('statement_timeout') FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&name, &timeout); err != nil {
		t.Fatal(err)
	}
	if name != "wagw-test" || timeout != "200ms" {
		t.Errorf("application_name %q, statement_timeout %q; want wagw-test and 200ms", name, timeout)
	}
	_, err = conn.ExecContext(ctx, `SELECT pg_sleep(1)`)
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "57014" || !db.IsTransient(err) {
		t.Errorf("a statement past the timeout: %v, want 57014 canceled and transient", err)
	}
}
