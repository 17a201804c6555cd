package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
)

// A queued conversation of a blocked contact does not keep its place in
// the drain window: with one free slot, the conversation behind it is the
// one offered to the drainer.
func TestDrainSkipsBlockedContacts(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	capacity := 1
	a := f.queueingInbox(&capacity)
	if st, err := f.store.QueueStats(ctx); err != nil || st.Length != 0 || !st.Oldest.IsZero() {
		t.Fatalf("queue statistics before anything queued = %+v, %v; want empty", st, err)
	}
	// Nobody online: both conversations queue, the blocked contact's first.
	f.apply(f.message(who{user: "NL.9000000000000000001"}, "wamid.X1", "first in the queue"))
	f.apply(f.message(who{user: "NL.9000000000000000002"}, "wamid.Y1", "second in the queue"))
	blocked, waiting := f.conversationOf("wamid.X1"), f.conversationOf("wamid.Y1")
	if n := f.count(`SELECT count(*) FROM conversations WHERE queued_at IS NOT NULL`); n != 2 {
		t.Fatalf("setup: %d queued conversations, want 2", n)
	}
	var first time.Time
	if err := f.conn.Get(&first, `SELECT queued_at FROM conversations WHERE id = $1`, blocked); err != nil {
		t.Fatal(err)
	}
	if st, err := f.store.QueueStats(ctx); err != nil || st.Length != 2 || !st.Oldest.Equal(first) {
		t.Errorf("queue statistics = %+v, %v; want 2 conversations, the oldest queued at %v", st, err, first)
	}
	if err := f.store.Block(ctx, f.key(f.contactOf("wamid.X1")), "test: a poison event"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := f.store.SetPresence(ctx, a.ID, assigner.PresenceOnline, now); err != nil {
		t.Fatal(err)
	}
	refs, err := f.store.DrainCandidates(ctx, 500, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].ConversationID != waiting {
		t.Errorf("drain candidates %+v, want only conversation %d (not %d, whose contact is blocked)", refs, waiting, blocked)
	}
}
