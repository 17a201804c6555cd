package broker

import (
	"context"
	"errors"
	"sync"

	"github.com/segmentio/kafka-go"
)

// coalescer groups the records of concurrent writes: while one group is
// being written, the records of every write that comes in join the next
// group, written as one WriteMessages call as soon as the first returns.
//
// kafka-go writes each partition's batches one after the other and
// closes a batch BatchTimeout after its first record, so without it a
// partition's records arriving while its batch waits for the broker's
// durable flush would go out as many small batches, each waiting for a
// flush of its own: under load the queue would grow without bound. With
// it, a partition gets one batch per group, and one group covers all
// that arrived during the previous one; alone, a write goes out at once.
type coalescer struct {
	write func(context.Context, []kafka.Message) error // the group's write

	mu      sync.Mutex
	next    *writeGroup // records waiting for the group in flight; nil when none
	running bool        // a group is being written
}

// writeGroup is the records of the writes of one group, and its outcome.
type writeGroup struct {
	msgs []kafka.Message
	done chan struct{}
	err  error // the group's error, nil or for all its records
	errs kafka.WriteErrors
}

// writeAll writes msgs in the current group and returns when the group
// was written: nil when all of msgs were acknowledged. ctx bounds the
// wait, not the write (which the writer's own timeouts bound): a write
// given up on may still be stored.
func (c *coalescer) writeAll(ctx context.Context, msgs []kafka.Message) error {
	c.mu.Lock()
	if c.next == nil {
		c.next = &writeGroup{done: make(chan struct{})}
	}
	g := c.next
	from := len(g.msgs)
	g.msgs = append(g.msgs, msgs...)
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
	case g.err != nil:
		return g.err
	case g.errs == nil:
		return nil
	case len(g.errs) < from+len(msgs): // kafka-go gives one per record of the group
		return g.errs
	}
	for _, err := range g.errs[from : from+len(msgs)] {
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
		err := c.write(context.Background(), g.msgs)
		if !errors.As(err, &g.errs) {
			g.err = err
		}
		close(g.done)
	}
}
