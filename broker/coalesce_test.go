package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// TestWritesCoalesceWhileAFlushIsSlow: one partition, a durable flush that
// takes 20 ms, and writes arriving one at a time at 4,000/s for a second.
// Coalesced, the records that arrive during one write go out together as
// the next: every write is acknowledged within seconds of the last, in
// requests of many records (kafka-go's Writer alone, which this producer
// used before, closed a batch of the few records of each millisecond and
// wrote them one batch per flush: the backlog grew for the whole test).
func TestWritesCoalesceWhileAFlushIsSlow(t *testing.T) {
	slow := func(f *os.File) error {
		time.Sleep(20 * time.Millisecond)
		return f.Sync()
	}
	emb, err := startEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Topics: []string{"wa.events"}, Partitions: 1}, slow)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	prod := NewProducer(ProducerConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events", WriteTimeout: 10 * time.Second})
	defer prod.Close()
	publish := func(id string) error {
		return prod.Publish(context.Background(), []event.Envelope{{Version: event.Version, ID: id, Kind: event.KindMessage,
			Contact: event.Contact{WaID: "4917000000"}, OccurredAt: time.Now()}})
	}
	if err := publish("warm-up"); err != nil { // connections and metadata
		t.Fatal(err)
	}
	req0, rec0 := prod.writer.requests.Load(), prod.writer.records.Load() // from here on

	var wg sync.WaitGroup
	var failed atomic.Int64
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	for start := time.Now(); time.Since(start) < time.Second; <-tick.C {
		for range 4 {
			sent++
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				if err := publish(id); err != nil {
					failed.Add(1)
				}
			}(fmt.Sprintf("e%05d", sent))
		}
	}
	tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("writes still waiting 5 s after the last of %d was sent: a backlog", sent)
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d writes failed", n, sent)
	}
	reqs, recs := prod.writer.requests.Load()-req0, prod.writer.records.Load()-rec0
	perBatch := float64(recs) / float64(max(reqs, 1))
	t.Logf("%d records in %d produce requests (%.1f per request), %d flushes", recs, reqs, perBatch, emb.sync.flushes.Load())
	if perBatch < 20 {
		t.Errorf("%.1f records per produce request while each waits 20 ms for its flush: the writes were not coalesced", perBatch)
	}
}

// TestCoalescedErrorsGoToTheirWrites: the writes that joined while a group
// was in flight go out as one group, each gets the errors of its own
// records only, and a write given up on before its group started is left
// out of it.
func TestCoalescedErrorsGoToTheirWrites(t *testing.T) {
	release := make(chan struct{})
	var groups [][]string
	var mu sync.Mutex
	c := &coalescer{write: func(_ context.Context, msgs []kafka.Message) error {
		var keys []string
		errs := make(kafka.WriteErrors, len(msgs))
		for i, m := range msgs {
			keys = append(keys, string(m.Key))
			if string(m.Key) == "bad" {
				errs[i] = errors.New("refused")
			}
		}
		mu.Lock()
		groups = append(groups, keys)
		first := len(groups) == 1
		mu.Unlock()
		if first {
			<-release // the next writes pile up meanwhile
		}
		return errs
	}}
	rec := func(keys ...string) []kafka.Message {
		var out []kafka.Message
		for _, k := range keys {
			out = append(out, kafka.Message{Key: []byte(k)})
		}
		return out
	}
	ctx := context.Background()
	first := make(chan error)
	go func() { first <- c.writeAll(ctx, rec("a")) }()
	wagwtest.WaitEvery(t, 5*time.Second, time.Millisecond, "the first group to start", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(groups) == 1, fmt.Sprint(groups)
	})
	results := make([]chan error, 3)
	for i, keys := range [][]string{{"b", "c"}, {"bad", "d"}, {"e"}} {
		results[i] = make(chan error, 1)
		go func() { results[i] <- c.writeAll(ctx, rec(keys...)) }()
	}
	gaveUp, cancel := context.WithCancel(ctx) // a write given up on before its group starts
	late := make(chan error, 1)
	go func() { late <- c.writeAll(gaveUp, rec("late")) }()
	wagwtest.WaitEvery(t, 5*time.Second, time.Millisecond, "four writes to wait for the next group", func() (bool, string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := 0
		if c.next != nil {
			n = len(c.next.parts)
		}
		return n == 4, fmt.Sprintf("%d writes waiting", n)
	})
	cancel()
	if err := <-late; !errors.Is(err, context.Canceled) {
		t.Errorf("the write given up on: %v", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first write: %v", err)
	}
	for i, want := range []bool{false, true, false} {
		if err := <-results[i]; (err != nil) != want {
			t.Errorf("write %d: err %v, want an error: %v", i, err, want)
		}
	}
	if len(groups) != 2 || len(groups[1]) != 5 {
		t.Errorf("groups %v: want [a] then the five records of the three writes together, without the one given up on", groups)
	}
}
