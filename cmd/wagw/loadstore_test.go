package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// The verifier's store waits for a connection slot when Postgres has none
// free for now (53300, as on a machine where many suites share one
// server) instead of failing the run; a missing database fails at once.
func TestLoadStoreWaitsForAConnectionSlot(t *testing.T) {
	conn, dsn := dbtest.New(t)
	roleURL := dbtest.BusyRole(t, conn, dsn, time.Second)
	u, err := url.Parse(roleURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := openLoadStore(ctx, roleURL)
	if err != nil {
		t.Fatalf("open while the slot was taken for a second: %v", err)
	}
	st.Close()

	u.Path += "_missing"
	start := time.Now()
	if _, err := openLoadStore(ctx, u.String()); err == nil || !strings.Contains(err.Error(), "3D000") {
		t.Errorf("missing database: %v, want 3D000", err)
	} else if time.Since(start) > db.BusyWait/2 {
		t.Errorf("missing database failed after %v, want at once", time.Since(start))
	}
}

// TestLoadStoreConversationsWithoutItsWatch: a commit watch that cannot
// sync (here closed) leaves the conversations not heard, and the
// verification goes on: it does not fail the read.
func TestLoadStoreConversationsWithoutItsWatch(t *testing.T) {
	_, dsn := dbtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := openLoadStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.watchCommits(slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	st.watch.Close()
	start := time.Now()
	if _, err := st.Conversations(ctx, []int64{1}); err != nil {
		t.Fatalf("read with the watch closed: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("read took %v: Sync waited on a closed watch", time.Since(start))
	}
}
