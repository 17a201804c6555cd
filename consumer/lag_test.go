package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// gatedStore applies nothing until open is closed.
type gatedStore struct {
	consumer.Store
	open chan struct{}
}

func (s gatedStore) Apply(ctx context.Context, events []event.Envelope, now time.Time) error {
	<-s.open
	return s.Store.Apply(ctx, events, now)
}

// lagByPartition returns the values of a per-partition gauge.
func (f *consumerFixture) lagByPartition(name string) map[string]float64 {
	f.t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" {
					out[l.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

// The group's lag is exported per partition, in records and in seconds
// since the gateway received the oldest record not committed; both fall
// to 0 once the records are applied and committed.
func TestConsumerExportsLagPerPartition(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	gate := gatedStore{Store: f.store, open: make(chan struct{})}
	f.start(gate, func(c *consumer.Config) { c.LagInterval = 50 * time.Millisecond })
	opened := false
	release := func() {
		if !opened {
			opened = true
			close(gate.open)
		}
	}
	t.Cleanup(release) // before the consumer stops (cleanups run last first)

	wagwtest.WaitFor(t, 10*time.Second, "every partition's lag exported at 0", func() (bool, string) {
		recs, secs := f.lagByPartition("wagw_consumer_lag_records"), f.lagByPartition("wagw_consumer_lag_seconds")
		return len(recs) == consPartitions && len(secs) == consPartitions && sum(recs) == 0 && sum(secs) == 0,
			fmt.Sprintf("records %v, seconds %v", recs, secs)
	})

	received := time.Now().Add(-time.Minute)
	var envs []event.Envelope
	for i := range 3 {
		e, err := event.ParseAndSplit(wagwtest.TextWebhook(consInbox, fmt.Sprintf("3163000001%02d", i), fmt.Sprintf("wamid.LAG%d", i),
			received, "hello"), received)
		if err != nil || len(e) != 1 {
			t.Fatalf("split: %d envelopes, %v", len(e), err)
		}
		envs = append(envs, e[0])
	}
	f.publish(envs...)

	wagwtest.WaitFor(t, 10*time.Second, "3 records of lag, a minute old", func() (bool, string) {
		recs, secs := f.lagByPartition("wagw_consumer_lag_records"), f.lagByPartition("wagw_consumer_lag_seconds")
		ok := sum(recs) == 3
		for p, n := range recs {
			if n > 0 && (secs[p] < 60 || secs[p] > 120) {
				ok = false
			}
			if n == 0 && secs[p] != 0 {
				ok = false
			}
		}
		return ok, fmt.Sprintf("records %v, seconds %v", recs, secs)
	})

	release()
	wagwtest.WaitFor(t, 10*time.Second, "no lag once applied and committed", func() (bool, string) {
		recs, secs := f.lagByPartition("wagw_consumer_lag_records"), f.lagByPartition("wagw_consumer_lag_seconds")
		return sum(recs) == 0 && sum(secs) == 0 && f.count(`SELECT count(*) FROM messages`) == 3,
			fmt.Sprintf("records %v, seconds %v", recs, secs)
	})
}

func sum(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}
