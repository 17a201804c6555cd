package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/scheduler"
	"github.com/wagw/wagw/wagwtest"
)

type noPublisher struct{}

func (noPublisher) Publish(context.Context, []event.Envelope) error { return nil }

// The drainer exports the queue's length and the age of its oldest
// conversation on each look at the queue; the age is measured at the
// scrape; a failing read makes the drainer unhealthy.
func TestDrainerExportsQueueLengthAndAge(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	stats, statsErr := scheduler.QueueStats{Length: 3, Oldest: now.Add(-90 * time.Second)}, error(nil)
	reg := prometheus.NewRegistry()
	wake := make(chan struct{}, 1)
	d := scheduler.NewDrainer(scheduler.DrainerConfig{Interval: time.Hour, RetryMin: 10 * time.Millisecond, Wake: wake,
		Now: func() time.Time { return now }, Logger: wagwtest.QuietLogger(), Registerer: reg,
		Stats: func(context.Context) (scheduler.QueueStats, error) {
			mu.Lock()
			defer mu.Unlock()
			return stats, statsErr
		}},
		func(context.Context, int, time.Time) ([]scheduler.QueueRef, error) { return nil, nil }, noPublisher{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	gauges := func() (float64, float64) {
		return wagwtest.Metric(t, reg, "wagw_queue_conversations", nil), wagwtest.Metric(t, reg, "wagw_queue_oldest_age_seconds", nil)
	}
	wagwtest.WaitFor(t, 10*time.Second, "3 queued, the oldest for 90 s", func() (bool, string) {
		n, age := gauges()
		return n == 3 && age == 90, fmt.Sprintf("%v queued, oldest %v s", n, age)
	})

	mu.Lock()
	stats, statsErr = scheduler.QueueStats{}, errors.New("postgres away")
	mu.Unlock()
	wake <- struct{}{}
	wagwtest.WaitFor(t, 10*time.Second, "unhealthy while the queue cannot be read", func() (bool, string) {
		return d.Health() != nil, fmt.Sprint(d.Health())
	})
	mu.Lock()
	statsErr = nil
	mu.Unlock()
	wagwtest.WaitFor(t, 10*time.Second, "an empty queue", func() (bool, string) {
		n, age := gauges()
		return n == 0 && age == 0 && d.Health() == nil, fmt.Sprintf("%v queued, oldest %v s, health %v", n, age, d.Health())
	})
}
