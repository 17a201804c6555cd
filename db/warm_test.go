package db_test

import (
	"context"
	"testing"

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
