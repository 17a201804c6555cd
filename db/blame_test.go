package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/event"
)

// A failure that retrying cannot fix in the work a batch defers to its end
// (here the statuses it settles) is blamed on the event that left the
// work, not on the batch's last event: the consumer dead-letters the event
// the store names and blocks its contact, so blaming the last one would
// block a contact that did nothing wrong. Postgres refuses the settling
// of wamid.POISON's statuses through a trigger, as it would refuse data it
// cannot take.
func TestDeferredWorkFailureNamesTheEventThatLeftIt(t *testing.T) {
	t.Parallel()
	f := newApplyFixture(t)
	f.refuseSettling("")
	batch := []event.Envelope{
		f.message(who{wa: "316100000101"}, "wamid.B1", "before"),
		f.status(who{wa: "316100000102"}, "wamid.POISON", "delivered"),
		f.message(who{wa: "316100000103"}, "wamid.B3", "after"),
		f.message(who{wa: "316100000104"}, "wamid.B4", "last"),
	}
	for _, apply := range []struct {
		name string
		fn   func(context.Context, []event.Envelope, time.Time) error
	}{{"Apply", f.store.Apply}, {"ApplyOneByOne", f.store.ApplyOneByOne}} {
		err := apply.fn(context.Background(), batch, time.Now())
		var ee *db.EventError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %v, want an *EventError", apply.name, err)
		}
		if ee.Index != 1 {
			t.Errorf("%s blamed event %d (%s %s), want 1 (the status whose settling failed): %v",
				apply.name, ee.Index, batch[ee.Index].Kind, batch[ee.Index].ID, ee.Err)
		}
	}
	f.apply(batch[0], batch[2], batch[3]) // the others apply without it
	if n := f.count(`SELECT count(*) FROM messages`); n != 3 {
		t.Errorf("%d messages stored, want 3", n)
	}
}

// refuseSettling makes Postgres refuse the statement that settles
// statuses once wamid.POISON has one, as it refuses data it cannot take;
// also (PL/pgSQL) runs before that on every settling statement.
func (f *applyFixture) refuseSettling(also string) {
	f.t.Helper()
	for _, q := range []string{
		`CREATE FUNCTION refuse_settle() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF current_query() LIKE '%ORDER BY rank DESC LIMIT 1%' THEN
				IF EXISTS (SELECT 1 FROM statuses WHERE wamid = 'wamid.POISON') THEN
					RAISE EXCEPTION 'settling refused' USING ERRCODE = '22023';
				END IF;
				` + also + `
			END IF;
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER refuse_settle BEFORE UPDATE ON messages FOR EACH STATEMENT EXECUTE FUNCTION refuse_settle()`,
	} {
		if _, err := f.conn.Exec(q); err != nil {
			f.t.Fatal(err)
		}
	}
}
