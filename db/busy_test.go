package db_test

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

// Open waits for a connection slot when Postgres has none free for now
// (53300: every role, and every test, on a server many processes share)
// instead of failing as if Postgres were not running; a database that is
// missing fails at once.
func TestOpenWaitsForAConnectionSlot(t *testing.T) {
	conn, dsn := dbtest.New(t)
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

	// The role's only slot is taken, and freed a second later.
	hold, err := sql.Open("postgres", u.String())
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
	c, err := db.Open(ctx, db.Config{URL: u.String()})
	if err != nil {
		t.Fatalf("open while the slot was taken for a second: %v", err)
	}
	c.Close()

	u.Path = "/" + role + "_missing"
	start := time.Now()
	if _, err := db.Open(ctx, db.Config{URL: u.String()}); err == nil || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("missing database: %v, want 3D000", err)
	} else if time.Since(start) > db.BusyWait/2 {
		t.Errorf("missing database failed after %v, want at once", time.Since(start))
	}
}
