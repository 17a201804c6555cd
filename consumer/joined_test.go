package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/consumer"
)

// TestStartedOnceEveryWorkerHoldsPartitions: the consumer says it has
// started only once the group has settled with every worker in it, each
// holding partitions; before, the first worker to join held them all and
// the others' joins were still to rebalance the group.
func TestStartedOnceEveryWorkerHoldsPartitions(t *testing.T) {
	f := newConsumerFixture(t)
	r := f.start(f.store, func(c *consumer.Config) { c.Workers = consPartitions; c.SessionTimeout = 10 * time.Second })
	if err := r.Started(); err == nil {
		t.Fatal("started before any worker joined the group")
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Started() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not started after 10 s: %v", r.Started())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := (&kafka.Client{Addr: kafka.TCP(f.addr)}).DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{"wagw"}})
	if err != nil || len(resp.Groups) != 1 {
		t.Fatalf("describe the group: %+v, %v", resp, err)
	}
	g := resp.Groups[0]
	if g.GroupState != "Stable" || len(g.Members) != consPartitions {
		t.Fatalf("group %s with %d members when started; want Stable with %d", g.GroupState, len(g.Members), consPartitions)
	}
	for _, m := range g.Members {
		n := 0
		for _, tp := range m.MemberAssignments.Topics {
			n += len(tp.Partitions)
		}
		if n != 1 {
			t.Errorf("member %s holds %d partitions when started; want 1 each", m.MemberID, n)
		}
	}
}
