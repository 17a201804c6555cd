package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// The verifier's store waits for a connection slot when Postgres has none
// free for now (53300, as on a machine where many suites share one
// server) instead of failing the run; a missing database fails at once.
func TestLoadStoreWaitsForAConnectionSlot(t *testing.T) {
	conn, dsn := dbtest.New(t)
	role := fmt.Sprintf("wagw_lt_%d", time.Now().UnixNano())
	if _, err := conn.Exec(`CREATE ROLE ` + pq.QuoteIdentifier(role) + ` LOGIN PASSWORD 'pw' CONNECTION LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(`DROP ROLE IF EXISTS ` + pq.QuoteIdentifier(role)) })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "pw")
	roleDSN := u.String()

	// The role's only slot is taken, and freed a second later.
	hold, err := sql.Open("postgres", roleDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if err := hold.Ping(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(time.Second, func() { hold.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := openLoadStore(ctx, roleDSN)
	if err != nil {
		t.Fatalf("open while the slot was taken for a second: %v", err)
	}
	st.Close()

	u.Path = "/" + role + "_missing"
	start := time.Now()
	if _, err := openLoadStore(ctx, u.String()); err == nil || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("missing database: %v, want 3D000", err)
	} else if time.Since(start) > db.BusyWait/2 {
		t.Errorf("missing database failed after %v, want at once", time.Since(start))
	}
}
