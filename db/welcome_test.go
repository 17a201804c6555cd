package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/event"
)

// An opening's welcome message is written before the team lock is taken:
// a batch waiting for another consumer's openings of the same team has
// already queued its welcomes, so the locked section holds only the
// assignment's own writes.
func TestWelcomesAreWrittenBeforeTheTeamLock(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	a, team := f.roundRobinInbox("Hi, we are here.")
	holder, err := f.conn.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec(`SELECT pg_advisory_xact_lock(727378, $1::int)`, team); err != nil { // as sqlTeamLock
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- f.store.Apply(ctx, []event.Envelope{f.message(who{wa: "15551230004"}, "wamid.welcome.1", "hello")}, time.Now())
	}()

	var waiter int
	deadline := time.Now().Add(10 * time.Second)
	for waiter == 0 && time.Now().Before(deadline) {
		if err := f.conn.Get(&waiter, `SELECT COALESCE(max(pid), 0) FROM pg_locks
			WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if waiter == 0 {
		t.Fatalf("the batch never waited for the team lock (apply: %v)", <-done)
	}
	if n := f.count(`SELECT count(*) FROM pg_locks WHERE pid = $1 AND relation = 'outbox'::regclass AND mode = 'RowExclusiveLock'`, waiter); n != 1 {
		t.Errorf("the batch waits for the team lock before writing its welcome message")
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM outbox WHERE kind = 'welcome'`); n != 1 {
		t.Errorf("%d welcome messages queued, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE decision->>'welcome' = 'true' AND rule = 'inbox_default, round_robin' AND decision->'chosen' = $1::jsonb`, fmt.Sprintf("[%d]", a)); n != 1 {
		t.Errorf("the opening's decision does not say it welcomed and picked Ana in the team (%d)", n)
	}
}
