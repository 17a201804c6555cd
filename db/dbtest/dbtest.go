package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
)

// BaseURL is the server the test databases are created on:
// WAGW_TEST_DATABASE_URL, default the local Postgres.
func BaseURL() string {
	if v := os.Getenv("WAGW_TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// URL returns the URL of a new, not yet created database with a unique name.
func URL(t testing.TB) string {
	u, err := url.Parse(BaseURL())
	if err != nil {
		t.Fatalf("WAGW_TEST_DATABASE_URL: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	u.Path = "/wagw_test_" + hex.EncodeToString(b)
	return u.String()
}

// New creates and migrates a database for this test and drops it at the end.
// It fails (never skips) when Postgres cannot be reached.
func New(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	ctx := context.Background()
	dsn := URL(t)
	conn, err := db.Open(ctx, db.Config{URL: dsn, CreateDatabase: true})
	if err != nil {
		t.Fatalf("tests need a real Postgres: %v\n(start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or set WAGW_TEST_DATABASE_URL)", err)
	}
	t.Cleanup(func() {
		conn.Close()
		db.DropDatabase(context.Background(), dsn)
	})
	if _, err := db.Migrate(ctx, conn); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return conn, dsn
}

// BusyRole returns the URL of dsn's database for a new role allowed one
// connection, whose only slot is taken now and freed after hold: opening
// it meanwhile meets Postgres's "too many connections" (53300). The role is
// dropped when the test ends.
func BusyRole(t testing.TB, conn *sqlx.DB, dsn string, hold time.Duration) string {
	t.Helper()
	role := fmt.Sprintf("wagw_busy_%d", time.Now().UnixNano())
	if _, err := conn.Exec(`CREATE ROLE ` + pq.QuoteIdentifier(role) + ` LOGIN CONNECTION LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(`DROP ROLE IF EXISTS ` + pq.QuoteIdentifier(role)) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	slot, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slot.Close() })
	if err := slot.Ping(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(hold, func() { slot.Close() })
	return u.String()
}
