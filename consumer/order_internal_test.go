package consumer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// A batch goes to the store partition by partition, each partition's
// records in their offset order, however the reader interleaved them.
func TestBatchAppliedPartitionByPartition(t *testing.T) {
	batch := []kafka.Message{{Partition: 2, Offset: 7}, {Partition: 0, Offset: 3}, {Partition: 1, Offset: 5},
		{Partition: 0, Offset: 4}, {Partition: 2, Offset: 8}, {Partition: 1, Offset: 6}, {Partition: 0, Offset: 9}}
	byPartition(batch)
	type po struct{ p, o int64 }
	got := make([]po, len(batch))
	for i, m := range batch {
		got[i] = po{int64(m.Partition), m.Offset}
	}
	want := []po{{0, 3}, {0, 4}, {0, 9}, {1, 5}, {1, 6}, {2, 7}, {2, 8}}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// In a rebalance the member that lost two partitions may still apply
// their records while the new owner applies them again, the reader of
// each having interleaved the partitions its own way. In the order the
// batches reach the store, the two transactions take the same rows in
// one order: the second waits for the first and finds its events
// applied, where two orders deadlocked (Postgres breaks a deadlock only
// after its deadlock_timeout, a second by default).
func TestOverlappingBatchesDoNotDeadlock(t *testing.T) {
	conn, _ := dbtest.New(t)
	store := db.NewStore(conn)
	ctx := context.Background()
	for round := range 20 {
		var p0, p1 []kafka.Message
		for k := range 8 {
			wamid := fmt.Sprintf("wamid.OVERLAP.%d.%d", round, k)
			envs, err := event.ParseAndSplit(wagwtest.TextWebhook("120000000000009", fmt.Sprintf("3170%04d%04d", round, k), wamid,
				time.Now().Add(-time.Minute), "hello"), time.Now())
			if err != nil || len(envs) != 1 {
				t.Fatalf("split: %d envelopes, %v", len(envs), err)
			}
			v, err := event.Encode(&envs[0])
			if err != nil {
				t.Fatal(err)
			}
			m := kafka.Message{Partition: k % 2, Offset: int64(round*100 + k), Value: v}
			if m.Partition == 0 {
				p0 = append(p0, m)
			} else {
				p1 = append(p1, m)
			}
		}
		batches := [][]kafka.Message{slices.Concat(p0, p1), slices.Concat(p1, p0)}
		var wg sync.WaitGroup
		errs := make([]error, len(batches))
		for i, batch := range batches {
			byPartition(batch)
			events := make([]event.Envelope, len(batch))
			for j, m := range batch {
				if err := event.Decode(m.Value, &events[j]); err != nil {
					t.Fatal(err)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = store.Apply(ctx, events, time.Now())
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, batch %d: %v", round, i, err)
			}
		}
	}
}
