package db_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// Open waits for a connection slot when Postgres has none free for now
// (53300: every role, and every test, on a server many processes share)
// instead of failing as if Postgres were not running; a database that is
// missing fails at once.
func TestOpenWaitsForAConnectionSlot(t *testing.T) {
	conn, dsn := dbtest.New(t)
	roleURL := dbtest.BusyRole(t, conn, dsn, time.Second)
	u, err := url.Parse(roleURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := db.Open(ctx, db.Config{URL: roleURL})
	if err != nil {
		t.Fatalf("open while the slot was taken for a second: %v", err)
	}
	c.Close()

	u.Path += "_missing"
	start := time.Now()
	if _, err := db.Open(ctx, db.Config{URL: u.String()}); err == nil || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("missing database: %v, want 3D000", err)
	} else if time.Since(start) > db.BusyWait/2 {
		t.Errorf("missing database failed after %v, want at once", time.Since(start))
	}
}
