package consumer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// misblamingStore is the real store, except that a batch holding the
// event bad fails and names its last event as the poison one, as a store
// may when the failure surfaces only at the batch's end.
type misblamingStore struct {
	*db.Store
	bad string
}

func (s *misblamingStore) Apply(ctx context.Context, events []event.Envelope, now time.Time) error {
	if slices.ContainsFunc(events, func(e event.Envelope) bool { return e.ID == s.bad }) {
		return &db.EventError{Index: len(events) - 1, Err: fmt.Errorf("refused at the batch's end")}
	}
	return s.Store.Apply(ctx, events, now)
}

// A store that names a later event than the one at fault (so the events
// before the one it names fail again, naming another) does not stall the
// partition: the consumer narrows the batch down until what comes before
// the event at fault applies, dead-letters that event alone, and goes on
// (the contact's later events are held, as after any poison event).
func TestConsumerGoesOnWhenTheStoreNamesALaterEvent(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	const wa = "316100000088"
	first, bad := f.message(wa, "wamid.N1", "first"), f.message(wa, "wamid.N2", "refused")
	// All on the topic before the consumer starts: one batch.
	f.publish(first, bad, f.message(wa, "wamid.N3", "third"), f.message(wa, "wamid.N4", "fourth"))
	f.run(&misblamingStore{Store: f.store, bad: bad.ID})
	wagwtest.WaitFor(t, 20*time.Second, "the message before the refused one applied", func() (bool, string) {
		got := f.stored(wa)
		return slices.Equal(got, []string{"wamid.N1"}), fmt.Sprintf("applied %v", got)
	})
	wagwtest.WaitFor(t, 20*time.Second, "the refused message dead-lettered, the later ones held", func() (bool, string) {
		dead, held := len(wagwtest.ReadTopic(t, f.addr, consDLQ)), f.count(`SELECT count(*) FROM held_events`)
		return dead == 1 && held == 2, fmt.Sprintf("%d dead letters, %d held", dead, held)
	})
}
