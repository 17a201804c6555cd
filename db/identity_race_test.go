package db_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// status is one status of an outbound message to u, naming the recipient
// as a status webhook does: recipient_id and/or recipient_user_id.
func (f *applyFixture) status(u who, wamid, status string) event.Envelope {
	f.t.Helper()
	st := map[string]any{"id": wamid, "status": status, "timestamp": strconv.FormatInt(time.Now().Unix(), 10)}
	if u.wa != "" {
		st["recipient_id"] = u.wa
	}
	if u.user != "" {
		st["recipient_user_id"] = u.user
	}
	envs := f.webhook(map[string]any{"statuses": []any{st}})
	if len(envs) != 1 {
		f.t.Fatalf("%d envelopes, want 1", len(envs))
	}
	return envs[0]
}

// A contact with both ids is keyed by its user id; a status naming only
// its wa_id (a legacy payload) is keyed by the wa_id and so is applied on
// another partition, in a transaction concurrent with its messages'. Only
// a message may create the contact or link its identities: the status
// only looks the contact up, so the two transactions never contend. Before,
// both created and linked the same people: with several people per batch
// they deadlocked on each other's new contact rows (and a status could
// create a wa_id-only contact that the message then had to link).
func TestStatusOnAnotherPartitionDoesNotRaceTheMessage(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	const rounds = 300
	for i := range rounds {
		// Several people per batch, in opposite orders in the two batches.
		const people = 6
		var us []who
		var msgs, sts []event.Envelope
		for p := range people {
			n := i*people + p
			u := who{wa: fmt.Sprintf("3163%07d", n), user: fmt.Sprintf("NL.%019d", 9000000000000000000+n)}
			us = append(us, u)
			msgs = append(msgs, f.message(u, fmt.Sprintf("wamid.in.%d", n), "hello"))
			sts = append([]event.Envelope{f.status(who{wa: u.wa}, fmt.Sprintf("wamid.out.%d", n), whatsapp.StatusDelivered)}, sts...)
		}
		u := us[0]
		if i%2 == 1 { // a batch of one: the one-by-one path
			msgs, sts = msgs[:1], sts[len(sts)-1:]
		}
		if msgs[0].Key() == sts[len(sts)-1].Key() {
			t.Fatal("setup: the message and the status share a key")
		}
		errs := f.applyAtOnce(ctx, msgs, sts)
		for j, err := range errs {
			var ee *db.EventError
			if errors.As(err, &ee) {
				t.Fatalf("round %d: batch %d: event %d is poison: %v", i, j, ee.Index, ee.Err)
			}
			if err != nil {
				t.Fatalf("round %d: batch %d: %v", i, j, err)
			}
		}
		if n := f.count(`SELECT count(*) FROM contacts WHERE wa_id = $1 OR user_id = $2 OR key IN ($1, $2)`, u.wa, u.user); n != 1 {
			t.Fatalf("round %d: %d contacts for one person, want 1", i, n)
		}
		id := f.contactOf(msgs[0].ID)
		f.wantOneContactWith(id, u.wa, u.user, u.user)
		if f.blocked(id) {
			t.Fatalf("round %d: contact blocked", i)
		}
		if n := f.count(`SELECT count(*) FROM statuses WHERE wamid = $1`, sts[len(sts)-1].Status.ID); n != 1 {
			t.Fatalf("round %d: the status was not stored", i)
		}
	}
}

// userPreference is a user_preferences notice naming u.
func (f *applyFixture) userPreference(u who) event.Envelope {
	f.t.Helper()
	p := map[string]any{"detail": "User requested to stop marketing messages", "category": "marketing_messages",
		"value": "stop", "timestamp": time.Now().Unix()}
	if u.wa != "" {
		p["wa_id"] = u.wa
	}
	if u.user != "" {
		p["user_id"] = u.user
	}
	envs := f.webhook(map[string]any{"user_preferences": []any{p}})
	if len(envs) != 1 || envs[0].Kind != event.KindNotice || envs[0].Contact.Key() == "" {
		f.t.Fatalf("user preference: %+v, want one notice naming the contact", envs)
	}
	return envs[0]
}

// Statuses and notices only look their contact up, by either id: they
// never create, link or merge contacts, and a status of a blocked contact
// is held whichever of its ids it names. A status whose recipient_id holds
// the contact's user id (as a send to a user id may report it) was poison
// before: the store tried to create a contact keyed by an id already
// another contact's key, on every attempt.
func TestStatusesAndNoticesOnlyLookUpContacts(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	userOnly := who{user: "NL.9100000000000000001"}
	both := who{wa: "31691000002", user: "NL.9100000000000000002"}
	waOnly := who{wa: "31691000003"}
	f.apply(f.message(userOnly, "wamid.in.1", "hi"))
	f.apply(f.message(both, "wamid.in.2", "hi"))
	f.apply(f.message(waOnly, "wamid.in.3", "hi"))
	contacts := len(f.contacts())

	f.apply(f.status(who{wa: userOnly.user}, "wamid.out.1", whatsapp.StatusSent))
	f.apply(f.status(who{wa: "31691000009", user: "NL.9100000000000000009"}, "wamid.out.9", whatsapp.StatusSent),
		f.status(who{wa: "31691000008"}, "wamid.out.8", whatsapp.StatusSent),
		f.status(who{wa: userOnly.user}, "wamid.out.1", whatsapp.StatusDelivered)) // the fast path
	f.apply(f.status(who{wa: waOnly.wa, user: "NL.9100000000000000003"}, "wamid.out.3", whatsapp.StatusSent))
	f.apply(f.userPreference(who{wa: "31691000007", user: "NL.9100000000000000007"}))
	if got := f.contacts(); len(got) != contacts {
		t.Errorf("contacts %+v: statuses or notices created or merged some (want %d)", got, contacts)
	}
	f.wantOneContactWith(f.contactOf("wamid.in.3"), waOnly.wa, "", waOnly.wa)
	if n := f.count(`SELECT count(*) FROM statuses`); n != 5 {
		t.Errorf("%d statuses stored, want 5", n)
	}

	// A blocked contact's statuses and notices are held under its id,
	// one by one and in the fast path.
	id := f.contactOf("wamid.in.2")
	if err := f.store.Block(ctx, both.user, "test: a poison event"); err != nil {
		t.Fatal(err)
	}
	f.apply(f.status(who{wa: both.wa}, "wamid.out.2", whatsapp.StatusSent))
	f.apply(f.status(who{user: both.user}, "wamid.out.2", whatsapp.StatusDelivered),
		f.status(both, "wamid.out.2", whatsapp.StatusRead), f.status(who{wa: "31691000008"}, "wamid.out.8", whatsapp.StatusRead))
	f.apply(f.userPreference(who{wa: both.wa}))
	if n := f.count(`SELECT count(*) FROM held_events WHERE contact_id = $1`, id); n != 4 {
		t.Errorf("%d events of the blocked contact held, want 4", n)
	}
	if n := f.count(`SELECT count(*) FROM statuses WHERE wamid = 'wamid.out.2'`); n != 0 {
		t.Errorf("%d statuses of the blocked contact applied", n)
	}
	if n := f.count(`SELECT count(*) FROM statuses WHERE wamid = 'wamid.out.8'`); n != 2 {
		t.Errorf("the other contact's status was not applied")
	}
}

// An id labelled the other way (a user id where a wa_id belongs) names the
// contact keyed by it instead of creating a second contact under the same
// key. Before, such a message could never be stored (the new row's key was
// taken): it failed on every attempt, so with races retried it would have
// stalled its partition for good.
func TestMessageWithAUserIDAsWaIDFindsItsContact(t *testing.T) {
	f := newApplyFixture(t)
	const user = "NL.9200000000000000001"
	f.apply(f.message(who{user: user}, "wamid.1", "by user id"))
	id := f.contactOf("wamid.1")
	f.apply(f.message(who{wa: user}, "wamid.2", "the user id as from"))
	f.apply(f.message(who{wa: user}, "wamid.3", "again"), f.message(who{wa: "31692000002"}, "wamid.4", "someone else"))
	for _, w := range []string{"wamid.2", "wamid.3"} {
		if got := f.contactOf(w); got != id {
			t.Errorf("%s went to contact %d, want %d", w, got, id)
		}
	}
	f.wantOneContactWith(id, "", user, user)
}
