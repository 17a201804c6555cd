package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// Settling takes its wamid locks last, after any team lock, in every batch
// (send.go), so settling adds no deadlock. A batch taken down the
// probe-each path (a failure of its deferred work) that kept the locks of
// its first event's settling, then took a team lock for a later event's
// opening, would deadlock with a healthy batch that holds that team and
// settles the same wamid. A trigger refuses settling once wamid.POISON has
// a status (as in blame_test.go), and holds the probe-each pass for a
// moment after its first event's settling so that the healthy batch comes
// in between.
func TestProbeEachKeepsTheLockOrder(t *testing.T) {
	f := newApplyFixture(t)
	f.roundRobinInbox("")
	// Holds the probe-each pass after its first event's settling.
	f.refuseSettling(`IF EXISTS (SELECT 1 FROM statuses WHERE wamid = 'wamid.W1' AND status = 'delivered')
					AND NOT EXISTS (SELECT 1 FROM messages WHERE wamid = 'wamid.P1') THEN
					PERFORM pg_sleep(1.5);
				END IF;`)
	poisoned := []event.Envelope{
		f.status(who{wa: "316100000301"}, "wamid.W1", whatsapp.StatusDelivered),
		f.message(who{wa: "316100000302"}, "wamid.P1", "opens a conversation"),
		f.status(who{wa: "316100000303"}, "wamid.POISON", whatsapp.StatusDelivered),
	}
	healthy := []event.Envelope{
		f.message(who{wa: "316100000304"}, "wamid.P2", "opens a conversation"),
		f.status(who{wa: "316100000301"}, "wamid.W1", whatsapp.StatusRead),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	poisonedErr := make(chan error, 1)
	go func() { poisonedErr <- f.store.Apply(ctx, poisoned, time.Now()) }()
	// Wait for the probe-each pass to hold wamid.W1's lock (in its sleep),
	// if the poisoned batch settles before its last event at all.
	var err error
	done := false
	for !done {
		select {
		case err = <-poisonedErr:
			done = true
			continue
		default:
		}
		var n int
		if err := f.conn.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event = 'PgSleep'`); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	healthyErr := f.store.Apply(ctx, healthy, time.Now())
	if healthyErr != nil {
		t.Errorf("healthy batch: %v, want nil", healthyErr)
	}
	if !done {
		err = <-poisonedErr
	}
	var ee *db.EventError
	if !errors.As(err, &ee) {
		t.Fatalf("poisoned batch: %v, want an *EventError naming event 2", err)
	}
	if ee.Index != 2 {
		t.Errorf("poisoned batch blamed event %d, want 2", ee.Index)
	}
}
