package scheduler

import (
	"context"
	"time"

	"github.com/wagw/wagw/outage"
)

// runLoop calls once until ctx is cancelled. After a success it waits for
// the duration once returned (at most interval), or for a signal on wake;
// after a failure it backs off from retryMin, doubling up to interval, so
// a Kafka or Postgres outage of any length is ridden out.
func runLoop(ctx context.Context, once func(context.Context) (time.Duration, error), wake <-chan struct{}, interval, retryMin time.Duration) error {
	wait := outage.Backoff{Min: retryMin, Max: interval}
	for {
		next, err := once(ctx)
		if err != nil && ctx.Err() == nil {
			if !outage.Sleep(ctx, wait.Next()) {
				return nil
			}
			continue
		}
		wait.Reset()
		t := time.NewTimer(min(max(next, 0), interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}
