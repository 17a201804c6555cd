package db_test

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// contactBatchCase is a contact's messages in one batch. before is
// applied batch by batch; then batch is applied three ways: at once on
// the fast path, at once one by one, and each event in a batch of its
// own. want lists the contacts afterwards as "key wa_id user_id name".
type contactBatchCase struct {
	name   string
	before [][]step
	batch  []step
	want   []string
}

// Within one batch each message's profile name and identities are applied
// in order, as if each message had come in a batch of its own: the name is
// the last non-empty one, and an identity that only a later message brings
// is linked. Both paths, and separate batches, leave the same rows.
func TestContactBatchAppliesEachMessagesNameAndIdentities(t *testing.T) {
	const wa, user, wa2 = "31611110001", "NL.7000000000000000001", "31611119999"
	ann, annUser, annWa := who{wa: wa, user: user}, who{user: user}, who{wa: wa}
	ben := who{wa: "31611110002"}
	b := &applyFixture{t: t} // builds envelopes only
	at := time.Now().Add(-time.Hour)
	m := func(u who, name, wamid string) step {
		at = at.Add(time.Second)
		return fixed(b.messageAs(u, name, wamid, "hi", at))
	}
	owners := cmd("cmd_owners", "wamid.A0", func(s *twoPathSide) event.Payload {
		return event.SetOwnersCommand{ContactID: s.f.contactOf("wamid.A0"), AgentIDs: []int64{s.ana},
			By: assigner.Actor{AgentID: s.ana, Admin: true}}
	})
	// blockAnn blocks the contact of user (as a dead-lettered event does)
	// and is a status of a message to nobody stored.
	out0 := b.status(who{wa: "31611118888"}, "wamid.OUT0", "delivered")
	blockAnn := func(s *twoPathSide) event.Envelope {
		if err := s.f.store.Block(context.Background(), user, "dead-lettered"); err != nil {
			t.Fatal(err)
		}
		return out0
	}
	cases := []contactBatchCase{{
		name:  "renamed between two messages",
		batch: []step{m(ann, "Ann", "wamid.A1"), m(ann, "Ann Smith", "wamid.A2"), m(ann, "", "wamid.A3")},
		want:  []string{user + " " + wa + " " + user + " Ann Smith"},
	}, {
		name:   "a known contact renamed between two messages",
		before: [][]step{{m(ann, "Ann", "wamid.A0"), m(ben, "Ben", "wamid.N0")}},
		batch:  []step{m(ann, "Ann", "wamid.A1"), m(ann, "Ann Smith", "wamid.A2"), m(ben, "Ben", "wamid.N1")},
		want:   []string{ben.wa + " " + ben.wa + "  Ben", user + " " + wa + " " + user + " Ann Smith"},
	}, {
		name:  "a new contact by user id, then both ids",
		batch: []step{m(annUser, "Ann", "wamid.A1"), m(ann, "Ann", "wamid.A2")},
		want:  []string{user + " " + wa + " " + user + " Ann"},
	}, {
		name:   "a known contact by user id, then both ids",
		before: [][]step{{m(annUser, "Ann", "wamid.A0")}},
		batch:  []step{m(annUser, "Ann", "wamid.A1"), m(ann, "Ann", "wamid.A2")},
		want:   []string{user + " " + wa + " " + user + " Ann"},
	}, {
		name:   "both ids in the second message merge a wa_id-only contact",
		before: [][]step{{m(annWa, "Ann", "wamid.W0")}},
		batch:  []step{m(annUser, "Ann", "wamid.A1"), m(ann, "Ann B", "wamid.A2")},
		want:   []string{user + " " + wa + " " + user + " Ann B"},
	}, {
		name:   "a command, then a message with a new name",
		before: [][]step{{m(ann, "Ann", "wamid.A0")}},
		batch:  []step{owners, m(ann, "Ann Smith", "wamid.A1"), m(ben, "Ben", "wamid.N1")},
		want:   []string{ben.wa + " " + ben.wa + "  Ben", user + " " + wa + " " + user + " Ann Smith"},
	}, {
		name:   "a known user id with the number of a wa_id-only contact",
		before: [][]step{{m(ann, "Ann", "wamid.A0")}, {m(who{wa: wa2}, "Ann", "wamid.W0")}},
		batch:  []step{m(who{wa: wa2, user: user}, "Ann", "wamid.A1"), m(ben, "Ben", "wamid.N1")},
		want:   []string{ben.wa + " " + ben.wa + "  Ben", user + " " + wa2 + " " + user + " Ann"},
	}, {
		name:   "a wa_id-only message after the merge of its contact",
		before: [][]step{{m(annUser, "Ann", "wamid.A0")}, {m(annWa, "Ann", "wamid.W0")}},
		batch:  []step{m(annWa, "Ann", "wamid.W1"), m(ann, "Ann", "wamid.A1"), m(annWa, "Ann", "wamid.W2")},
		want:   []string{user + " " + wa + " " + user + " Ann"},
	}, {
		// The merge keeps the older row's name; the third message's name
		// is written over it, as it would be in a batch of its own.
		name:   "a message without a name merges, then the name again",
		before: [][]step{{m(annWa, "Zed", "wamid.W0")}},
		batch:  []step{m(annUser, "Ann", "wamid.A1"), m(ann, "", "wamid.A2"), m(ann, "Ann", "wamid.A3")},
		want:   []string{user + " " + wa + " " + user + " Ann"},
	}, {
		// The second message links the number; the status then names the
		// blocked contact and is held, not applied.
		name:   "a blocked contact's number in its second message, then a status to the number",
		before: [][]step{{m(annUser, "Ann", "wamid.A0")}, {blockAnn}},
		batch: []step{m(annUser, "Ann", "wamid.A1"), m(ann, "Ann", "wamid.A2"),
			fixed(b.status(annWa, "wamid.OUT1", "delivered"))},
		want: []string{user + " " + wa + " " + user + " Ann"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runContactBatch(t, c) })
	}
}

// runContactBatch runs c on the three sides and compares their rows.
func runContactBatch(t *testing.T, c contactBatchCase) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	bulk, single, separate := newTwoPathSide(t, false), newTwoPathSide(t, true), newTwoPathSide(t, false)
	sides := []*twoPathSide{bulk, single, separate}
	apply := func(s *twoPathSide, steps []step, at time.Time) {
		t.Helper()
		events := make([]event.Envelope, len(steps))
		for i, st := range steps {
			events[i] = st(s)
		}
		if err := s.apply(ctx, events, at); err != nil {
			t.Fatalf("apply %d events: %v", len(events), err)
		}
	}
	for _, steps := range c.before {
		now = now.Add(time.Minute)
		for _, s := range sides {
			apply(s, steps, now)
		}
	}
	now = now.Add(time.Minute)
	apply(bulk, c.batch, now)
	apply(single, c.batch, now)
	for _, st := range c.batch {
		apply(separate, []step{st}, now)
	}
	for table, query := range contactBatchTables() {
		want := separate.rows(query)
		for _, s := range []*twoPathSide{bulk, single} {
			if d := diffRowsAs(s.rows(query), want, "one batch:    ", "one per event:"); d != "" {
				path := "fast path"
				if s == single {
					path = "one by one"
				}
				t.Errorf("%s differs, one batch (%s) vs a batch per event:\n%s", table, path, d)
			}
		}
	}
	got := bulk.rows(`SELECT concat_ws(' ', key, COALESCE(wa_id, ''), COALESCE(user_id, ''), name) FROM contacts ORDER BY key`)
	if d := diffRowsAs(got, c.want, "got: ", "want:"); d != "" {
		t.Errorf("contacts (key wa_id user_id name):\n%s", d)
	}
}

// contactBatchTables is twoPathTables with a merge's decision named
// without the contact ids in its event id: a fast path that hands the
// batch to the one-by-one path has used up ids of the rows it inserted.
func contactBatchTables() map[string]string {
	tables := maps.Clone(twoPathTables)
	q := strings.Replace(tables["decisions"], "jsonb_build_object('conversation', v.opened_by)",
		"jsonb_build_object('conversation', v.opened_by, 'event_id', regexp_replace(d.event_id, '^merge:.*', 'merge'))", 1)
	if q == tables["decisions"] {
		panic("contactBatchTables: the decisions query changed")
	}
	tables["decisions"] = q
	return tables
}
