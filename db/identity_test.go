package db_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// system is a system message from u announcing new identities, as Meta
// sends user_changed_number and user_changed_user_id (no contacts array).
func (f *applyFixture) system(u who, wamid, typ, newWa, newUser, previous string) event.Envelope {
	f.t.Helper()
	sys := map[string]any{"type": typ, "body": "identity changed"}
	if newWa != "" {
		sys["wa_id"] = newWa
	}
	if newUser != "" {
		sys["user_id"] = newUser
	}
	if previous != "" {
		sys["previous_user_id"] = previous
	}
	msg := map[string]any{"id": wamid, "timestamp": strconv.FormatInt(time.Now().Unix(), 10), "type": "system", "system": sys}
	if u.wa != "" {
		msg["from"] = u.wa
	}
	if u.user != "" {
		msg["from_user_id"] = u.user
	}
	envs := f.webhook(map[string]any{"messages": []any{msg}})
	if len(envs) != 1 {
		f.t.Fatalf("%d envelopes, want 1", len(envs))
	}
	return envs[0]
}

// stored is a contact row as the store keeps it.
type stored struct {
	ID     int64   `db:"id"`
	Key    string  `db:"key"`
	WaID   *string `db:"wa_id"`
	UserID *string `db:"user_id"`
}

func (f *applyFixture) contacts() []stored {
	f.t.Helper()
	var out []stored
	if err := f.conn.Select(&out, `SELECT id, key, wa_id, user_id FROM contacts ORDER BY id`); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *applyFixture) wantOneContact(id int64, wa, user, key string) {
	f.t.Helper()
	cs := f.contacts()
	if len(cs) != 1 {
		f.t.Fatalf("%d contacts %+v, want one", len(cs), cs)
	}
	c := cs[0]
	if c.ID != id || deref(c.WaID) != wa || deref(c.UserID) != user || c.Key != key {
		f.t.Errorf("contact %d wa %q user %q key %q, want %d wa %q user %q key %q",
			c.ID, deref(c.WaID), deref(c.UserID), c.Key, id, wa, user, key)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The partition key is the user id whenever Meta sends one: a contact
// first seen by its user id and later with both ids keeps its key (one
// partition), and the store fills in the wa_id; a payload without a user
// id still finds the contact by its wa_id.
func TestContactKeyIsStableAcrossIdentities(t *testing.T) {
	f := newApplyFixture(t)
	const wa, user = "31622220001", "NL.7000000000000000001"
	first := f.message(who{user: user}, "wamid.1", "by user id")
	both := f.message(who{wa: wa, user: user}, "wamid.2", "both ids")
	if first.Key() != user || both.Key() != user {
		t.Fatalf("keys %q and %q, want both %q", first.Key(), both.Key(), user)
	}
	f.apply(first)
	id := f.contactOf("wamid.1")
	f.apply(both)
	f.wantOneContact(id, wa, user, user)

	legacy := f.message(who{wa: wa}, "wamid.3", "wa_id only")
	f.apply(legacy)
	if got := f.contactOf("wamid.3"); got != id {
		t.Errorf("a wa_id-only message went to contact %d, want %d", got, id)
	}
	if f.conversationOf("wamid.3") != f.conversationOf("wamid.1") {
		t.Error("the contact's messages are in two conversations")
	}
	f.wantOneContact(id, wa, user, user)
}

// A contact stored before the user id was known (wa_id only) learns it,
// and its key becomes the user id: the partition Meta's events now use.
// Sends not yet reported go to that partition too.
func TestWaOnlyContactLearnsUserID(t *testing.T) {
	f := newApplyFixture(t)
	const wa, user = "31622220002", "NL.7000000000000000002"
	f.apply(f.message(who{wa: wa}, "wamid.1", "old payload"))
	id := f.contactOf("wamid.1")
	conv := f.conversationOf("wamid.1")
	f.apply(f.command(wa, "cmd_reply", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "hi"}))
	// Two events in the batch: the fast path links the ids.
	f.apply(f.message(who{wa: wa, user: user}, "wamid.2", "new payload"), f.message(who{wa: "31622229999"}, "wamid.x", "other"))
	f.wantOneContactWith(id, wa, user, user)
	if n := f.count(`SELECT count(*) FROM outbox WHERE contact_id = $1 AND contact_key = $2`, id, user); n != 1 {
		t.Errorf("%d unreported sends keyed by the user id, want 1", n)
	}
	// A command keyed as the contact was keyed before still finds it.
	f.apply(f.command(wa, "cmd_resolve", event.CmdResolve, event.ResolveCommand{ConversationID: conv}))
	if kind, code, body := f.result("cmd_resolve"); kind != assigner.OutcomeDecided {
		t.Errorf("command under the old key: %q %q %s", kind, code, body)
	}
}

func (f *applyFixture) wantOneContactWith(id int64, wa, user, key string) {
	f.t.Helper()
	var c stored
	if err := f.conn.Get(&c, `SELECT id, key, wa_id, user_id FROM contacts WHERE id = $1`, id); err != nil {
		f.t.Fatal(err)
	}
	if deref(c.WaID) != wa || deref(c.UserID) != user || c.Key != key {
		f.t.Errorf("contact %d wa %q user %q key %q, want wa %q user %q key %q", id, deref(c.WaID), deref(c.UserID), c.Key, wa, user, key)
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE wa_id = $1 OR user_id = $2`, wa, user); n != 1 {
		f.t.Errorf("%d contacts hold %s or %s", n, wa, user)
	}
}

// A wa_id-only row and a user-id-only row of one person, each with an open
// conversation, meet in a message naming both. Before, the message failed
// with a duplicate key and became poison (its contact blocked); now the
// rows merge into the older one: one contact, one open conversation, every
// message kept, and the contact's later events flow.
func TestWaOnlyAndUserOnlyContactsMerge(t *testing.T) {
	f := newApplyFixture(t)
	const wa, user = "31622220003", "NL.7000000000000000003"
	owner := f.agent("Ana")
	f.apply(f.message(who{wa: wa}, "wamid.W1", "by number"))
	f.apply(f.message(who{user: user}, "wamid.U1", "by user id"))
	older, younger := f.contactOf("wamid.W1"), f.contactOf("wamid.U1")
	if older == younger {
		t.Fatal("setup: the two messages share a contact")
	}
	ctx := context.Background()
	f.apply(f.command(user, "cmd_owner", event.CmdSetOwners, event.SetOwnersCommand{ContactID: younger, AgentIDs: []int64{owner}}))

	// Both ids, in a batch of several messages (the fast path hands the
	// merge to the one-by-one path).
	f.apply(f.message(who{wa: "31622228888"}, "wamid.X1", "someone else"),
		f.message(who{wa: wa, user: user}, "wamid.B1", "both ids"),
		f.message(who{user: user}, "wamid.U2", "later"))
	f.wantOneContactWith(older, wa, user, user)
	for _, w := range []string{"wamid.W1", "wamid.U1", "wamid.B1", "wamid.U2"} {
		if got := f.contactOf(w); got != older {
			t.Errorf("%s belongs to contact %d, want %d", w, got, older)
		}
	}
	if n := f.count(`SELECT count(*) FROM conversations WHERE contact_id = $1 AND status = 'open'`, older); n != 1 {
		t.Errorf("%d open conversations, want 1", n)
	}
	if f.conversationOf("wamid.B1") != f.conversationOf("wamid.W1") || f.conversationOf("wamid.U2") != f.conversationOf("wamid.W1") {
		t.Error("the later messages are not in the contact's open conversation")
	}
	if f.blocked(older) {
		t.Error("the contact was blocked")
	}
	c, err := f.store.Contact(ctx, older)
	if err != nil || !slices.Equal(c.OwnerIDs, []int64{owner}) {
		t.Errorf("merged contact's owners %v (%v), want the younger row's owner", c.OwnerIDs, err)
	}
	var reasons []byte
	if err := f.conn.Get(&reasons, `SELECT decision->'reasons' FROM decisions WHERE event_id LIKE 'merge:%'`); err != nil {
		t.Errorf("no decision logged for the conversation resolved by the merge: %v", err)
	}
	t.Logf("merge decision reasons: %s", reasons)
}

// Events of a blocked contact are held by contact id, whichever identity
// (and so whichever key) they came with, and one release applies them all.
func TestHeldByContactIDAcrossKeys(t *testing.T) {
	f := newApplyFixture(t)
	const wa, user = "31622220004", "NL.7000000000000000004"
	f.apply(f.message(who{wa: wa, user: user}, "wamid.1", "first"))
	id := f.contactOf("wamid.1")
	ctx := context.Background()
	// The consumer blocks by the dead-lettered event's key: here an
	// event that named only the wa_id.
	if err := f.store.Block(ctx, wa, "test: a poison event"); err != nil {
		t.Fatal(err)
	}
	if !f.blocked(id) || len(f.contacts()) != 1 {
		t.Fatalf("block by wa_id: contact blocked %v, %d contacts", f.blocked(id), len(f.contacts()))
	}
	byUser := f.message(who{user: user}, "wamid.2", "second")
	byWa := f.message(who{wa: wa}, "wamid.3", "third")
	if byUser.Key() == byWa.Key() {
		t.Fatal("setup: both events have one key")
	}
	f.apply(byUser)
	f.apply(byWa)
	if n := f.count(`SELECT count(*) FROM held_events`); n != 2 {
		t.Fatalf("%d events held, want 2", n)
	}
	f.apply(f.command(user, "cmd_release", event.CmdRelease, event.ReleaseCommand{ContactID: id}))
	_, _, body := f.result("cmd_release")
	var r struct {
		Released int `json:"released_events"`
	}
	json.Unmarshal([]byte(body), &r)
	if r.Released != 2 || f.count(`SELECT count(*) FROM held_events`) != 0 {
		t.Errorf("release %s, %d still held; want both released", body, f.count(`SELECT count(*) FROM held_events`))
	}
	for _, w := range []string{"wamid.2", "wamid.3"} {
		if f.contactOf(w) != id {
			t.Errorf("%s not applied to the contact", w)
		}
	}
}

// user_changed_user_id links the new user id to the contact, also when a
// message from the new user id arrived first (on its own partition) and
// made a contact of its own: the two are merged.
func TestUserChangedUserID(t *testing.T) {
	f := newApplyFixture(t)
	const wa, oldID, newID = "31622220005", "NL.7000000000000000005", "NL.7000000000000000055"
	f.apply(f.message(who{wa: wa, user: oldID}, "wamid.1", "before"))
	id := f.contactOf("wamid.1")
	f.apply(f.message(who{wa: wa, user: newID}, "wamid.2", "new id, before the notice"))
	f.apply(f.system(who{user: oldID}, "wamid.sys", "user_changed_user_id", "", newID, oldID))
	f.wantOneContact(id, wa, newID, newID)
	f.apply(f.message(who{user: newID}, "wamid.3", "after"))
	for _, w := range []string{"wamid.1", "wamid.2", "wamid.3", "wamid.sys"} {
		if f.contactOf(w) != id {
			t.Errorf("%s is not the contact's", w)
		}
	}
}

// user_changed_number gives the contact its new number and, since 2026,
// its new user id; later messages with the new identities find it.
func TestUserChangedNumber(t *testing.T) {
	f := newApplyFixture(t)
	const oldWa, newWa, oldID, newID = "31622220006", "31622220066", "NL.7000000000000000006", "NL.7000000000000000066"
	f.apply(f.message(who{wa: oldWa, user: oldID}, "wamid.1", "before"))
	id := f.contactOf("wamid.1")
	f.apply(f.system(who{wa: oldWa, user: oldID}, "wamid.sys", "user_changed_number", newWa, newID, oldID))
	f.wantOneContact(id, newWa, newID, newID)
	f.apply(f.message(who{wa: newWa, user: newID}, "wamid.2", "after"))
	if f.contactOf("wamid.2") != id || len(f.contacts()) != 1 {
		t.Errorf("the message after the number change went to contact %d of %d", f.contactOf("wamid.2"), len(f.contacts()))
	}

	// A number change without a user id (payloads before 2026): the old
	// user id, which Meta replaces on a number change, is forgotten.
	f.apply(f.system(who{wa: newWa}, "wamid.sys2", "user_changed_number", "31622220666", "", ""))
	f.wantOneContact(id, "31622220666", "", "31622220666")
}

// A number Meta now names with another user id moves to that user id's
// contact; the old contact keeps its user id and history.
func TestNumberMovesToAnotherUserID(t *testing.T) {
	f := newApplyFixture(t)
	const wa, first, second = "31622220007", "NL.7000000000000000007", "NL.7000000000000000077"
	f.apply(f.message(who{wa: wa, user: first}, "wamid.1", "first owner"))
	old := f.contactOf("wamid.1")
	f.apply(f.message(who{wa: wa, user: second}, "wamid.2", "second owner"))
	now := f.contactOf("wamid.2")
	if now == old {
		t.Fatal("two user ids share a contact")
	}
	f.wantOneContactWith(now, wa, second, second)
	var c stored
	if err := f.conn.Get(&c, `SELECT id, key, wa_id, user_id FROM contacts WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	if c.WaID != nil || deref(c.UserID) != first || c.Key != first {
		t.Errorf("old contact %+v, want no number, its user id and key", c)
	}
}
