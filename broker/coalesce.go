package broker

import (
	"context"
	"errors"
	"sync"

	"github.com/segmentio/kafka-go"
)

// coalescer groups the records of concurrent writes: while one group is
// being written, the records of every write that comes in join the next
// group, written as one call of write (groupWriter: one Produce request
// per partition leader) as soon as the first returns. Alone, a write goes
// out at once; under load, one group covers all that arrived during the
// previous one, so the requests (and, on the embedded broker, the waits
// for a durable flush) do not grow with the rate.
type coalescer struct {
	write func(context.Context, []kafka.Message) error // the group's write

	mu      sync.Mutex
	next    *writeGroup // writes waiting for the group in flight; nil when none
	running bool        // a group is being written
}

// writeGroup is the writes of one group, and its outcome.
type writeGroup struct {
	parts []*groupPart
	done  chan struct{}
	err   error             // the group's error, for all its records
	errs  kafka.WriteErrors // or one error per record of the group
}

// groupPart is one write's records in a group.
type groupPart struct {
	ctx  context.Context
	msgs []kafka.Message
	at   int // index of its first record in the group's write; -1: not written
}

// writeAll writes msgs in the next group and returns when the group was
// written: nil when all of msgs were acknowledged. ctx bounds the wait: a
// write given up on before its group starts is left out of it, one given
// up on later may still be stored (the writer's own timeouts bound it).
func (c *coalescer) writeAll(ctx context.Context, msgs []kafka.Message) error {
	p := &groupPart{ctx: ctx, msgs: msgs}
	c.mu.Lock()
	if c.next == nil {
		c.next = &writeGroup{done: make(chan struct{})}
	}
	g := c.next
	g.parts = append(g.parts, p)
	if !c.running {
		c.running = true
		go c.run()
	}
	c.mu.Unlock()
	select {
	case <-g.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	switch {
	case p.at < 0:
		return ctx.Err()
	case g.err != nil:
		return g.err
	case g.errs == nil:
		return nil
	case len(g.errs) < p.at+len(msgs): // kafka-go gives one per record of the group
		return g.errs
	}
	for _, err := range g.errs[p.at : p.at+len(msgs)] {
		if err != nil {
			return err
		}
	}
	return nil
}

// run writes groups until none is waiting.
func (c *coalescer) run() {
	for {
		c.mu.Lock()
		g := c.next
		c.next = nil
		if g == nil {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		var msgs []kafka.Message
		for _, p := range g.parts {
			p.at = -1
			if p.ctx.Err() == nil {
				p.at = len(msgs)
				msgs = append(msgs, p.msgs...)
			}
		}
		if len(msgs) > 0 {
			err := c.write(context.Background(), msgs)
			if !errors.As(err, &g.errs) {
				g.err = err
			}
		}
		close(g.done)
	}
}
