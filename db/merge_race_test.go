package db_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// parkedInbox is a phone number id another transaction inserts and holds
// uncommitted: a batch whose event names it waits in its inbox insert.
const parkedInbox = "106540352242999"

// A merge deletes the younger row of a person after moving what it holds,
// and messages carry no foreign key to their contact (migration 019): a
// batch locks the contacts it writes messages for from its lookup to its
// commit, so the merge waits for the batch and then moves its messages.
// The test parks a batch of the wa_id's partition after it found the
// wa_id-only contact and before it writes (in the insert of an inbox that
// another transaction holds), merges that contact into the user id's
// older one from the user id's partition, and lets the batch go on. An
// echo (one by one, no conversation) was poison before: its message's
// foreign key found the contact gone. Without the lock it is stored on a
// deleted contact. Messages of the bulk path open a conversation there,
// whose foreign key caught the race; they end on the kept contact too.
func TestAMergeWaitsForTheBatchThatWritesForTheMergedContact(t *testing.T) {
	for _, tc := range []struct {
		name  string
		batch func(f *applyFixture, wa string) []event.Envelope
	}{
		{"an echo, one by one", func(f *applyFixture, wa string) []event.Envelope {
			return []event.Envelope{f.echo(wa, "wamid.parked", "from the business app", time.Now())}
		}},
		{"messages, the bulk path", func(f *applyFixture, wa string) []event.Envelope {
			return []event.Envelope{f.message(who{wa: wa}, "wamid.parked", "hello again"),
				f.message(who{wa: "31694000009"}, "wamid.other", "someone else")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newApplyFixture(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			user, wa := who{user: "NL.9400000000000000001"}, who{wa: "31694000001"}
			f.apply(f.message(user, "wamid.user", "by user id")) // the older row: kept
			f.apply(f.message(wa, "wamid.wa", "by wa_id"))       // the younger: merged
			kept := f.contactOf("wamid.user")

			held, err := f.conn.BeginTxx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Rollback()
			if _, err := held.Exec(`INSERT INTO inboxes (phone_number_id) VALUES ($1)`, parkedInbox); err != nil {
				t.Fatal(err)
			}
			batch := tc.batch(f, wa.wa)
			for i := range batch {
				batch[i].PhoneNumberID = parkedInbox
			}
			parked := make(chan error, 1)
			go func() { parked <- f.store.Apply(ctx, batch, time.Now()) }()
			f.waitForLockWaits(ctx, 1)

			merged := make(chan error, 1)
			go func() {
				merged <- f.store.Apply(ctx, []event.Envelope{f.message(who{wa: wa.wa, user: user.user}, "wamid.both", "both ids")}, time.Now())
			}()
			var mergeErr error
			mergeDone := false
			watch, stopWatching := context.WithCancel(ctx)
			select { // without the lock the merge finishes at once
			case mergeErr = <-merged:
				mergeDone = true
			case <-f.lockWaits(watch, 2):
			}
			stopWatching()
			if err := held.Rollback(); err != nil {
				t.Fatal(err)
			}
			if err := <-parked; err != nil {
				t.Fatalf("the parked batch: %v", err)
			}
			if !mergeDone {
				mergeErr = <-merged
			}
			if mergeErr != nil {
				t.Fatalf("the merge: %v", mergeErr)
			}
			if n := f.count(`SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = m.contact_id)`); n != 0 {
				t.Errorf("%d messages on a deleted contact", n)
			}
			for _, w := range []string{"wamid.wa", "wamid.parked", "wamid.both"} {
				if got := f.contactOf(w); got != kept {
					t.Errorf("%s is on contact %d, want the kept %d", w, got, kept)
				}
			}
			f.wantOneContactWith(kept, wa.wa, user.user, user.user)
		})
	}
}

// lockWaits is closed once at least n backends of the test's database wait
// for a lock.
func (f *applyFixture) lockWaits(ctx context.Context, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var waiting int
			err := f.conn.GetContext(ctx, &waiting, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`)
			if err == nil && waiting >= n {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return done
}

// waitForLockWaits waits until at least n backends wait for a lock.
func (f *applyFixture) waitForLockWaits(ctx context.Context, n int) {
	f.t.Helper()
	<-f.lockWaits(ctx, n)
	if ctx.Err() != nil {
		f.t.Fatalf("no %d backends waited for a lock: %v", n, ctx.Err())
	}
}

// Messages name their conversation without a foreign key (migration 019):
// no statement deletes a conversation, and the schema refuses one.
func TestConversationsAreNeverDeleted(t *testing.T) {
	f := newApplyFixture(t)
	f.apply(f.message(who{wa: "31694000011"}, "wamid.kept", "hello"))
	conv := f.conversationOf("wamid.kept")
	for _, q := range []string{`DELETE FROM conversations WHERE id = ` + strconv.FormatInt(conv, 10), `TRUNCATE conversations CASCADE`} {
		_, err := f.conn.Exec(q)
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) || pqErr.Code != "23001" {
			t.Errorf("%s: %v, want restrict_violation (23001)", q, err)
		}
	}
	if n := f.count(`SELECT count(*) FROM conversations WHERE id = $1`, conv); n != 1 {
		t.Errorf("the conversation is gone")
	}
}

// A status or a notice of a blocked contact is held by the id it looked
// up unlocked (lookup.go), and a merge may remove that row before the hold
// is written. That is a race, retried: applied again, the batch finds the
// contact it was merged into. Before, the hold's foreign key refused the
// event as poison.
func TestAHoldForAContactMergedAwayIsARace(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	u := who{wa: "31694000021"}
	f.apply(f.message(u, "wamid.in.held", "hello"))
	id := f.contactOf("wamid.in.held")
	st := f.status(u, "wamid.out.held", whatsapp.StatusSent)

	err := f.store.Hold(ctx, &st, id+1000) // a contact id no row has: merged away
	if !errors.Is(err, db.ErrIdentityRace) || !db.IsTransient(err) {
		t.Fatalf("hold for a contact gone: %v, want a transient identity race", err)
	}
	if err := f.store.Hold(ctx, &st, id); err != nil {
		t.Fatalf("hold: %v", err)
	}
	if n := f.count(`SELECT count(*) FROM held_events WHERE contact_id = $1 AND event_id = $2`, id, st.ID); n != 1 {
		t.Errorf("%d held, want 1", n)
	}
}
