package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

// Sentinel errors the store returns; callers map them to HTTP codes.
var (
	ErrNotFound = assigner.ErrNotFound
	ErrConflict = errors.New("conflict")
)

// DefaultURL is the local Postgres used when DATABASE_URL is empty.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/wagw?sslmode=disable"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Config says how to reach Postgres.
type Config struct {
	// URL is a postgres:// connection URL. Default DefaultURL.
	URL string
	// CreateDatabase creates the database named in URL when it is missing.
	CreateDatabase bool
	// MaxOpenConns bounds the pool. Default DefaultMaxConns.
	MaxOpenConns int
	// StatementTimeout cancels a statement that runs longer
	// (statement_timeout), unless URL sets statement_timeout itself;
	// migrations run without it. Default DefaultStatementTimeout;
	// negative: none.
	StatementTimeout time.Duration
	// ApplicationName names the connections in pg_stat_activity and the
	// server's logs, unless URL sets application_name. Default "wagw".
	ApplicationName string
	// PingTimeout bounds each attempt to reach Postgres; a busy Postgres
	// is tried again for up to BusyWait. Default 10 s.
	PingTimeout time.Duration
	// Unprepared runs every statement unnamed, parsed and planned each
	// time, instead of prepared once per connection (preparing): for a
	// connection pooler in transaction mode that keeps no prepared
	// statements (PgBouncer before 1.21, or without
	// max_prepared_statements).
	Unprepared bool
}

// Open connects to Postgres (creating the database first when asked and
// missing) and pings it, waiting up to BusyWait while Postgres refuses
// connections for now (IsBusy).
func Open(ctx context.Context, cfg Config) (*sqlx.DB, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.MaxOpenConns == 0 {
		cfg.MaxOpenConns = DefaultMaxConns
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 10 * time.Second
	}
	if cfg.CreateDatabase {
		if err := createDatabase(ctx, cfg.URL); err != nil {
			return nil, err
		}
	}
	dsn, err := DriverURL(cfg)
	if err != nil {
		return nil, err
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	var c driver.Connector = connector
	if !cfg.Unprepared {
		c = Prepared(connector)
	}
	conn := sqlx.NewDb(sql.OpenDB(c), "postgres")
	conn.SetMaxOpenConns(cfg.MaxOpenConns)
	conn.SetMaxIdleConns(cfg.MaxOpenConns)
	conn.SetConnMaxIdleTime(IdleTimeout)
	err = whileBusy(ctx, func() error {
		pctx, cancel := context.WithTimeout(ctx, cfg.PingTimeout)
		defer cancel()
		return conn.PingContext(pctx)
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("reach postgres at %s: %w (is it running? start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)", redact(cfg.URL), err)
	}
	return conn, nil
}

// BusyWait is how long Open waits for a Postgres that refuses connections
// for now (IsBusy).
const BusyWait = 30 * time.Second

// IsBusy reports whether Postgres refused a connection for now rather
// than for good: all its connection slots are taken (53300), or it is
// starting up or shutting down (57P03).
func IsBusy(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "53300" || pqErr.Code == "57P03")
}

// whileBusy runs fn until it succeeds, fails otherwise than IsBusy, or
// BusyWait (or ctx) ran out.
func whileBusy(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(BusyWait)
	for {
		err := fn()
		if !IsBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// createDatabase connects to the server's "postgres" database and creates
// the database named in rawURL when it does not exist.
func createDatabase(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return nil
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := sql.Open("postgres", admin.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	var exists bool
	err = whileBusy(ctx, func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return conn.QueryRowContext(cctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists)
	})
	if err != nil {
		return fmt.Errorf("reach postgres at %s: %w (is it running? start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)", redact(rawURL), err)
	}
	if exists {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = conn.ExecContext(cctx, `CREATE DATABASE `+pq.QuoteIdentifier(name))
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P04" { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase removes the database named in rawURL; tests use it.
func DropDatabase(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin := *u
	admin.Path = "/postgres"
	conn, err := sql.Open("postgres", admin.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pq.QuoteIdentifier(name)+` WITH (FORCE)`)
	return err
}

// withBinaryParameters makes lib/pq send a parameterised statement in one
// round trip instead of two (parse, then bind and execute). JSON values are
// therefore passed as strings, never []byte (which would go as binary).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "DATABASE_URL"
	}
	return u.Redacted()
}

const (
	sqlMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    int PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`
	sqlMigrationLock = `SELECT pg_advisory_xact_lock(727377)`
	// A migration may rewrite a large table: no statement timeout.
	sqlMigrationNoTimeout = `SET LOCAL statement_timeout = 0`
	sqlMigrationApplied   = `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`
	sqlMigrationRecord    = `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`
)

// Migrate applies the embedded migrations that are not applied yet, each in
// its own transaction, under an advisory lock so that several processes
// starting at once apply each migration once. It returns the names applied.
func Migrate(ctx context.Context, conn *sqlx.DB) ([]string, error) {
	if _, err := conn.ExecContext(ctx, sqlMigrationsTable); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var applied []string
	for _, e := range entries {
		var version int
		if _, err := fmt.Sscanf(e.Name(), "%d_", &version); err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		done, err := migrateOne(ctx, conn, version, e.Name(), string(body))
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		if done {
			applied = append(applied, e.Name())
		}
	}
	return applied, nil
}

func migrateOne(ctx context.Context, conn *sqlx.DB, version int, name, body string) (bool, error) {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, sqlMigrationNoTimeout); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, sqlMigrationLock); err != nil {
		return false, err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, sqlMigrationApplied, version).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, sqlMigrationRecord, version, name); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// IsTransient reports whether err is worth retrying. Postgres refusing the
// data itself is not: a data exception (SQLSTATE class 22: a value out of
// range, a NUL byte in text) or an integrity violation (class 23: the
// conflicts the store handles never reach its callers as errors) fails the
// same way every time. Every other Postgres error is transient: a
// read-only standby after a failover (25006), a table not migrated yet
// (42P01), an administrator's shutdown (57P01), a serialization failure
// or deadlock (class 40), a full server (class 53). So are connection
// failures, timeouts and cancellations, and a contact's identity stored
// by a concurrent transaction in a way the store could not resolve within
// its transaction (a race is not a property of the event). An error from
// neither Postgres nor the connection (the store's own refusal of an
// event) is not transient.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errIdentityRace) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code.Class() {
		case "22", "23":
			return false
		}
		return true
	}
	return isConnectionError(err)
}

// isConnectionError reports whether err is the connection to Postgres (or
// the caller's deadline) failing rather than a statement.
func isConnectionError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	for _, target := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, io.EOF, io.ErrUnexpectedEOF,
		driver.ErrBadConn, sql.ErrConnDone, pq.ErrSSLNotSupported, pq.ErrInFailedTransaction} {
		if errors.Is(err, target) {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "driver: bad connection") || strings.Contains(msg, "connection refused") || strings.Contains(msg, "EOF")
}

// mapErr turns driver errors into the package's sentinels.
func mapErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrConflict, pqErr.Detail)
	}
	return err
}
