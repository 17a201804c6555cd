package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"

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
