package consumer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/wagwtest"
)

// A gap filler (what the embedded broker's replay writes in place of a
// record it lost that was never acknowledged) is passed over: not
// dead-lettered, its contact not blocked, the events around it applied.
func TestConsumerSkipsGapFillers(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	f.run(f.store)
	const wa = "316200000001"
	f.publish(f.message(wa, "wamid.G1", "before"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		if err := f.producer.PublishRaw(ctx, consTopic, []byte(wa), nil, map[string]string{broker.GapHeader: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	f.publish(f.message(wa, "wamid.G2", "after"))
	wagwtest.WaitFor(t, 20*time.Second, "both messages applied", func() (bool, string) {
		got := f.stored(wa)
		return len(got) == 2, fmt.Sprintf("applied %v", got)
	})
	if got := f.stored(wa); !slices.Equal(got, []string{"wamid.G1", "wamid.G2"}) {
		t.Errorf("applied %v, want G1 G2", got)
	}
	if n := len(wagwtest.ReadTopic(t, f.addr, consDLQ)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE blocked_at IS NOT NULL`); n != 0 {
		t.Errorf("%d contacts blocked, want none", n)
	}
}
