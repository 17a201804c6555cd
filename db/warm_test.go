package db_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// TestWarmOpensThePoolsConnections: Warm leaves the connections it opened
// idle in the pool, each a backend of its own, and never asks for more
// than the pool may hold (it would wait for ever).
func TestWarmOpensThePoolsConnections(t *testing.T) {
	conn, _ := dbtest.New(t)
	ctx := context.Background()
	conn.SetMaxOpenConns(6)
	if n, err := db.Warm(ctx, conn, 4); n != 4 || err != nil {
		t.Fatalf("Warm(4) = %d, %v; want 4", n, err)
	}
	if s := conn.Stats(); s.OpenConnections != 4 || s.Idle != 4 {
		t.Fatalf("after Warm(4): %d open, %d idle; want 4 and 4", s.OpenConnections, s.Idle)
	}
	if n, err := db.Warm(ctx, conn, 100); n != 6 || err != nil {
		t.Fatalf("Warm(100) with a pool of 6 = %d, %v; want 6", n, err)
	}
	var backends int
	if err := conn.GetContext(ctx, &backends, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	if s := conn.Stats(); s.OpenConnections != 6 || backends < 6 {
		t.Fatalf("after Warm(100): %d open, %d backends; want 6", s.OpenConnections, backends)
	}
}

// TestWarmWithoutAPoolLimit: a pool without a maximum (0) is warmed to n,
// not to one connection.
func TestWarmWithoutAPoolLimit(t *testing.T) {
	conn, _ := dbtest.New(t)
	conn.SetMaxOpenConns(0)
	conn.SetMaxIdleConns(8)
	if n, err := db.Warm(context.Background(), conn, 3); n != 3 || err != nil {
		t.Fatalf("Warm(3) of an unlimited pool = %d, %v; want 3", n, err)
	}
	if s := conn.Stats(); s.OpenConnections < 3 {
		t.Fatalf("after Warm(3): %d open; want 3", s.OpenConnections)
	}
}

// TestKeepWarmOutlastsTheIdleTimeout: a quiet spell longer than the pool's
// idle timeout closes the connections Warm opened, unless KeepWarm runs,
// which keeps the same backends open.
func TestKeepWarmOutlastsTheIdleTimeout(t *testing.T) {
	conn, _ := dbtest.New(t)
	ctx := context.Background()
	conn.SetMaxIdleConns(8)                         // as Open sets it: room for every connection
	conn.SetConnMaxIdleTime(300 * time.Millisecond) // the pool's cleaner runs every second at most
	if n, err := db.Warm(ctx, conn, 3); n != 3 || err != nil {
		t.Fatalf("Warm(3) = %d, %v", n, err)
	}
	quiet := func() { time.Sleep(2500 * time.Millisecond) }
	quiet()
	if s := conn.Stats(); s.OpenConnections != 0 {
		t.Fatalf("without KeepWarm, after a quiet spell: %d open; want 0 (the idle timeout closes them)", s.OpenConnections)
	}

	if n, err := db.Warm(ctx, conn, 3); n != 3 || err != nil {
		t.Fatalf("Warm(3) = %d, %v", n, err)
	}
	before := backendPIDs(t, conn, 3)
	kctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); db.KeepWarm(kctx, conn, 3, 100*time.Millisecond) }()
	quiet()
	cancel()
	<-done
	if s := conn.Stats(); s.OpenConnections != 3 || s.MaxIdleTimeClosed != 3 {
		t.Fatalf("with KeepWarm, after a quiet spell: %d open, %d closed idle; want 3 and the first spell's 3", s.OpenConnections, s.MaxIdleTimeClosed)
	}
	if after := backendPIDs(t, conn, 3); !slices.Equal(before, after) {
		t.Fatalf("backends %v before the quiet spell, %v after; want the same", before, after)
	}
}

// backendPIDs holds n connections of the pool at once and returns their
// backends' process ids, sorted.
func backendPIDs(t *testing.T, conn *sqlx.DB, n int) []int {
	t.Helper()
	ctx := context.Background()
	var pids []int
	for range n {
		c, err := conn.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var pid int
		if err := c.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}
