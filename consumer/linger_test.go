package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// slowStore takes delay longer than the store to apply a batch, as a busy
// Postgres would, and notes how many events each batch held.
type slowStore struct {
	*db.Store
	delay   atomic.Int64 // nanoseconds
	mu      sync.Mutex
	batches []int
}

func (s *slowStore) Apply(ctx context.Context, events []event.Envelope, now time.Time) error {
	time.Sleep(time.Duration(s.delay.Load()))
	err := s.Store.Apply(ctx, events, now)
	if err == nil {
		s.mu.Lock()
		s.batches = append(s.batches, len(events))
		s.mu.Unlock()
	}
	return err
}

func (s *slowStore) last() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches[len(s.batches)-1]
}

// A worker waits to fill a batch only as long as its last batch took to
// apply, at most Linger: a quiet worker applies a lone record at once
// (with a fixed wait, each one waited the whole Linger), a busy one
// gathers the records that arrive while it waits.
func TestLingerFollowsTheApplyTime(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	store := &slowStore{Store: f.store}
	const linger = 3 * time.Second
	f.start(store, func(c *consumer.Config) { c.Workers = 1; c.Linger = linger })
	const wa = "4917000000201"
	stored := func(n int) {
		t.Helper()
		wagwtest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d messages stored", n), func() (bool, string) {
			got := f.stored(wa)
			return len(got) == n, fmt.Sprintf("stored %v", got)
		})
	}

	for i := range 3 {
		sent := time.Now()
		f.publish(f.message(wa, fmt.Sprintf("wamid.quiet.%d", i), "hello"))
		stored(i + 1)
		if took := time.Since(sent); took > linger/3 {
			t.Errorf("quiet record %d applied %v after it was sent: want far less than the %v linger", i, took.Round(time.Millisecond), linger)
		}
	}

	// The second record must reach the worker within apply of the
	// first: with 600 ms, a run of make test on a busy machine once took
	// longer than the 400 ms left, so the margin is wide.
	const apply, gap = 2 * time.Second, 200 * time.Millisecond
	store.delay.Store(int64(apply))
	f.publish(f.message(wa, "wamid.busy.0", "a slow batch"))
	stored(4)
	f.publish(f.message(wa, "wamid.busy.1", "first of two"))
	time.Sleep(gap)
	f.publish(f.message(wa, "wamid.busy.2", "second of two"))
	stored(6)
	if n := store.last(); n != 2 {
		t.Errorf("after a batch that took %v, the next two records sent %v apart were applied in a batch of %d: want one batch of 2", apply, gap, n)
	}
}
