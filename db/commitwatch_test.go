package db_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// TestCommitWatchHearsOnlyCommits: a conversation announced inside a
// transaction is heard once that transaction commits, not before, and
// one the consumer's store opens is heard by the time Sync returns.
func TestCommitWatchHearsOnlyCommits(t *testing.T) {
	conn, dsn := dbtest.New(t)
	ctx := context.Background()
	w, err := db.WatchCommits(db.Config{URL: dsn}, conn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, 'c:987654321')`, db.ChangesChannel); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if h := w.Heard(987654321); !h.IsZero() {
		t.Fatalf("heard at %v a conversation whose transaction has not committed", h)
	}
	before := time.Now()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if h := w.Heard(987654321); h.Before(before) {
		t.Fatalf("heard at %v, want after the commit began at %v", h, before)
	}

	f := &applyFixture{t: t, conn: conn, store: db.NewStore(conn)}
	f.apply(f.message(who{wa: "15550000003"}, "wamid.watched", "hello"))
	var id int64
	if err := conn.GetContext(ctx, &id, `SELECT max(id) FROM conversations`); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Heard(id).IsZero() || w.Lost() {
		t.Fatalf("conversation %d not heard after its commit (lost %v)", id, w.Lost())
	}
	w.Close()
	w.Close() // more than once is fine
}

// TestCommitWatchSyncsOnItsOwnNotifications: two watches on one database
// (two verifiers) hear each other's Sync notifications; the tokens differ,
// so that neither returns on the other's before its own came back.
func TestCommitWatchSyncsOnItsOwnNotifications(t *testing.T) {
	conn, dsn := dbtest.New(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := db.WatchCommits(db.Config{URL: dsn}, conn, log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := db.WatchCommits(db.Config{URL: dsn}, conn, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ta, tb := db.NextSyncToken(a), db.NextSyncToken(b); ta == tb {
		t.Fatalf("both watches' next Sync sends %q", ta)
	}
	for _, w := range []*db.CommitWatch{a, b, a} {
		if err := w.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
