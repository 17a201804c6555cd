package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// assignHistogram returns the count and the sum of wagw_assignment_seconds.
func assignHistogram(t *testing.T, reg *prometheus.Registry) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "wagw_assignment_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum()
		}
	}
	t.Fatal("wagw_assignment_seconds not registered")
	return 0, 0
}

// Assignment latency is observed once per conversation that gets its
// first assignee, from the opening message's time: from the queue (a drain
// command, the one-by-one path) and at once when it opens (the bulk path);
// a conversation that only queues observes nothing.
func TestAssignmentLatencyObserved(t *testing.T) {
	f := newApplyFixture(t)
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wagw_assignment_seconds", Buckets: prometheus.DefBuckets})
	reg.MustRegister(h)
	f.store.Instrument(h)
	ctx := context.Background()
	a := f.queueingInbox(nil)

	// Nobody online: the conversation queues, nothing is observed.
	f.apply(f.message(who{wa: "31612345001"}, "wamid.Q1", "waiting")) // sent a minute ago
	queued := f.conversationOf("wamid.Q1")
	if n, _ := assignHistogram(t, reg); n != 0 {
		t.Fatalf("%d assignments observed for a queued conversation, want 0", n)
	}

	if _, err := f.store.SetPresence(ctx, a.ID, assigner.PresenceOnline, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.apply(f.command(f.key(f.contactOf("wamid.Q1")), "drain-1", event.CmdDrain, event.DrainCommand{ConversationID: queued}))
	if n := f.count(`SELECT count(*) FROM conversation_assignees WHERE conversation_id = $1`, queued); n != 1 {
		t.Fatalf("drained conversation has %d assignees, want 1", n)
	}
	if n, sum := assignHistogram(t, reg); n != 1 || sum < 59 || sum > 90 {
		t.Errorf("after the drain: %d observations summing %.1f s, want 1 of about 60 s", n, sum)
	}

	f.apply(f.message(who{wa: "31612345002"}, "wamid.A1", "assigned at once"))
	if n, sum := assignHistogram(t, reg); n != 2 || sum < 2*59 || sum > 2*90 {
		t.Errorf("after an opening with an agent online: %d observations summing %.1f s, want 2 of about 60 s each", n, sum)
	}
	f.apply(f.message(who{wa: "31612345002"}, "wamid.A2", "same conversation"))
	if n, _ := assignHistogram(t, reg); n != 2 {
		t.Errorf("%d observations after a message in an assigned conversation, want still 2", n)
	}
}
