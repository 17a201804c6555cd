package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/wagwtest"
)

// retentionRows fills every table that retention prunes with old rows
// (30 days) and recent ones (1 day), and gives the contact's message,
// conversation and decision an old date too.
func retentionRows(t *testing.T, f *applyFixture, old, recent int) int64 {
	t.Helper()
	f.apply(f.message(who{user: "NL.1100000000000000001"}, "wamid.kept", "kept forever"))
	contact := f.contactOf("wamid.kept")
	for i, ageDays := range []int{30, 1} {
		n := old
		if i == 1 {
			n = recent
		}
		at := time.Now().Add(-time.Duration(ageDays) * 24 * time.Hour)
		for _, q := range []string{
			`INSERT INTO processed_events (event_id, kind, processed_at) SELECT 'ev-' || $3 || '-' || g, 'command', $1 FROM generate_series(1, $2) g`,
			`INSERT INTO command_results (command_id, kind, value, created_at) SELECT 'cmd-' || $3 || '-' || g, 'recorded', '{}', $1 FROM generate_series(1, $2) g`,
			`INSERT INTO idempotency_keys (caller, key, request_hash, command_id, created_at)
				SELECT 'admin', 'k-' || $3 || '-' || g, '\x00', 'cmd', $1 FROM generate_series(1, $2) g`,
			`INSERT INTO notices (event_id, field, received_at) SELECT 'notice-' || $3 || '-' || g, 'account_update', $1 FROM generate_series(1, $2) g`,
			`INSERT INTO held_events (contact_key, contact_id, event_id, envelope, held_at, failed_at, failed_reason)
				SELECT 'k', ` + fmt.Sprint(contact) + `, 'failed-' || $3 || '-' || g, '\x7b7d', $1, $1, 'test' FROM generate_series(1, $2) g`,
		} {
			if _, err := f.conn.Exec(q, at, n, ageDays); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	// Held events still waiting for their contact's release: never pruned.
	if _, err := f.conn.Exec(`INSERT INTO held_events (contact_key, contact_id, event_id, envelope, held_at)
		VALUES ('k', $1, 'waiting', '\x7b7d', now() - interval '90 days')`, contact); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE messages SET stored_at = now() - interval '90 days', received_at = now() - interval '90 days'`,
		`UPDATE decisions SET created_at = now() - interval '90 days'`,
		`UPDATE conversations SET created_at = now() - interval '90 days'`,
	} {
		if _, err := f.conn.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return contact
}

// Rows older than the window go, batch by batch, each batch at most the
// batch size per table; recent rows, held events still waiting for a
// release, messages, conversations and decisions stay.
func TestPruneDeletesOldRowsInBatches(t *testing.T) {
	f := newApplyFixture(t)
	const old, recent, batch = 7, 2, 3
	retentionRows(t, f, old, recent)
	before := time.Now().Add(-db.DefaultRetention)
	ctx := context.Background()
	tables := []string{"processed_events", "command_results", "idempotency_keys", "notices", "held_events"}
	remaining := old
	for round := 1; remaining > 0; round++ {
		n, err := f.store.Prune(ctx, before, batch)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(min(batch, remaining))
		for _, table := range tables {
			if n[table] != want {
				t.Errorf("round %d: %d rows deleted from %s, want %d", round, n[table], table, want)
			}
		}
		remaining -= batch
	}
	if n, err := f.store.Prune(ctx, before, batch); err != nil || n["processed_events"] != 0 {
		t.Errorf("a further round deleted %v (%v)", n, err)
	}
	for table, want := range map[string]int{"processed_events": recent, "command_results": recent, "idempotency_keys": recent,
		"notices": recent, "held_events": recent + 1} {
		if got := f.count(`SELECT count(*) FROM ` + table); got != want {
			t.Errorf("%s: %d rows left, want %d", table, got, want)
		}
	}
	if f.count(`SELECT count(*) FROM held_events WHERE event_id = 'waiting'`) != 1 {
		t.Error("a held event waiting for its contact's release was pruned")
	}
	for table, want := range map[string]int{"messages": 1, "conversations": 1, "decisions": 1} {
		if got := f.count(`SELECT count(*) FROM ` + table); got != want {
			t.Errorf("%s: %d rows, want %d (never pruned)", table, got, want)
		}
	}
}

// The background loop sweeps at once, batch after batch, until nothing
// older than the window is left.
func TestRunRetentionSweeps(t *testing.T) {
	f := newApplyFixture(t)
	retentionRows(t, f, 25, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.store.RunRetention(ctx, db.RetentionConfig{Batch: 4, Interval: time.Hour, Pause: time.Millisecond, Logger: quietLogger()})
	}()
	defer func() { cancel(); <-done }()
	wagwtest.WaitEvery(t, 20*time.Second, 20*time.Millisecond, "the sweep removes the old rows", func() (bool, string) {
		pe, n := f.count(`SELECT count(*) FROM processed_events`), f.count(`SELECT count(*) FROM notices`)
		return pe+n == 2, fmt.Sprintf("%d processed events, %d notices left", pe, n)
	})
	if n := f.count(`SELECT count(*) FROM messages`); n != 1 {
		t.Errorf("%d messages left, want 1", n)
	}
}
