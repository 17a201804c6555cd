package relay

import (
	"context"
	"sync"
)

// group gathers one kind of store write from the relay's concurrent sends:
// while one write is in flight, the calls that arrive wait, and the first
// of them then writes them all at once. N sends that finish together cost
// one statement and one commit (for OutboxSent, one WAL flush), not N. A
// call returns once the write that carried it returned, with its error;
// every caller writes at most one group, its own.
type group[T any] struct {
	write   func(ctx context.Context, items []T) error
	mu      sync.Mutex
	busy    bool       // a write is in flight
	waiting []*call[T] // arrived during it, in order
}

type call[T any] struct {
	item T
	done chan turn // one turn, buffered
}

// turn is what a waiting call is handed: the result of the write that
// carried it, or the lead (write the group now waiting).
type turn struct {
	err  error
	lead bool
}

// do writes item, with whatever else is waiting when its turn comes.
func (g *group[T]) do(ctx context.Context, item T) error {
	c := &call[T]{item: item, done: make(chan turn, 1)}
	g.mu.Lock()
	g.waiting = append(g.waiting, c)
	if g.busy {
		g.mu.Unlock()
		if t := <-c.done; !t.lead {
			return t.err
		}
		g.mu.Lock()
	}
	g.busy = true
	calls := g.waiting // c among them
	g.waiting = nil
	g.mu.Unlock()

	items := make([]T, len(calls))
	for i, w := range calls {
		items[i] = w.item
	}
	err := g.write(ctx, items)

	g.mu.Lock()
	if len(g.waiting) > 0 {
		g.waiting[0].done <- turn{lead: true} // busy stays set: it writes next
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	for _, w := range calls {
		if w != c {
			w.done <- turn{err: err}
		}
	}
	return err
}
