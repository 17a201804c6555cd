package consumer

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// startGate tells when every worker of the consumer has joined the group
// once. Each worker is a group member of its own, and the first to join
// gets every partition while the others' joins start a rebalance that
// waits for its next heartbeat; load taken before that is applied by one
// worker, then stopped and handed over. Readiness (Started) waits for the
// gate, at most maxStartWait (or a session timeout, when shorter) after
// the start: a group that still counts the members of a process killed a
// moment ago rebalances only once their sessions expire, and serve's
// gateway, whose readiness this is too, must not wait that long.
type startGate struct {
	joined []atomic.Bool
	opened atomic.Bool
	since  time.Time
	wait   time.Duration
}

func newStartGate(workers int, wait time.Duration) startGate {
	return startGate{joined: make([]atomic.Bool, workers), since: time.Now(), wait: wait}
}

// joinPoll is how often a worker's reader is asked whether it has joined;
// maxStartWait is the longest the gate stays shut (the workers' own
// joins settle within a heartbeat, a second).
const (
	joinPoll     = 10 * time.Millisecond
	maxStartWait = 3 * time.Second
)

// await marks worker joined once its reader has joined a generation of
// the group (kafka-go counts each generation it joins as a rebalance). It
// reads r's statistics, which resets their counters: nothing else reads
// them.
func (g *startGate) await(ctx context.Context, worker int, r *kafka.Reader) {
	if g.opened.Load() || g.joined[worker].Load() {
		return
	}
	t := time.NewTicker(joinPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.Stats().Rebalances > 0 {
			g.joined[worker].Store(true)
			return
		}
	}
}

// err is nil once every worker has joined the group once, or the wait is
// over; before, it says how many have.
func (g *startGate) err() error {
	if g.opened.Load() {
		return nil
	}
	n := 0
	for i := range g.joined {
		if g.joined[i].Load() {
			n++
		}
	}
	if n == len(g.joined) || time.Since(g.since) >= g.wait {
		g.opened.Store(true)
		return nil
	}
	return fmt.Errorf("consumer: %d of %d workers have joined the group so far", n, len(g.joined))
}

// Started is nil once every worker has joined the consumer group once
// since the consumer was built (or maxStartWait has passed): until
// then /readyz says the consumer is starting, so that no load is taken by
// a group about to rebalance.
func (c *Consumer) Started() error { return c.start.err() }
