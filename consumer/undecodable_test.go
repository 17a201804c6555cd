package consumer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// A contact's message that comes before an undecodable record of the same
// contact, in the same batch, is applied, not held behind the record that
// blocks the contact.
func TestConsumerAppliesWhatCameBeforeAnUndecodableRecord(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	const wa = "316100000077"
	// Both records are on the topic before the consumer starts: one batch.
	f.publish(f.message(wa, "wamid.E1", "before the undecodable record"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.producer.PublishRaw(ctx, consTopic, []byte(wa), []byte(`{"v":1,"id":`), nil); err != nil {
		t.Fatal(err)
	}
	f.run(f.store)
	wagwtest.WaitFor(t, 20*time.Second, "the message applied or held", func() (bool, string) {
		applied, held := len(f.stored(wa)), f.count(`SELECT count(*) FROM held_events`)
		return applied+held == 1, fmt.Sprintf("%d applied, %d held", applied, held)
	})
	if got := f.stored(wa); !slices.Equal(got, []string{"wamid.E1"}) {
		t.Errorf("the message before the undecodable record: applied %v; want it applied, not held", got)
	}
	wagwtest.WaitFor(t, 20*time.Second, "the undecodable record dead-lettered", func() (bool, string) {
		n := len(wagwtest.ReadTopic(t, f.addr, consDLQ))
		return n == 1, fmt.Sprintf("%d dead letters", n)
	})
}
