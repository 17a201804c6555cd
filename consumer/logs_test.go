package consumer_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/wagwtest"
)

// The consumer's lines about a record name its event and partition (and
// offset), and never its content or the contact's full phone number.
func TestConsumerLogLinesNameEventAndPartition(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	logs := &wagwtest.SyncBuffer{}
	f.start(f.store, func(c *consumer.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const wa, text = "316155501234", "my secret order number is 4711"
	ok := f.message(wa, "wamid.LOG1", text)
	poison := f.message(wa, "wamid.LOG2", "NUL")
	poison.Message.Text.Body = text + " \x00" // Postgres refuses it
	f.publish(ok, poison)

	// Where the records went: the partition and offset each line must name.
	where := map[string]string{}
	wagwtest.WaitFor(t, 20*time.Second, "one record applied, one dead-lettered", func() (bool, string) {
		for _, m := range wagwtest.ReadTopic(t, f.addr, consTopic) {
			var e struct{ ID string }
			json.Unmarshal(m.Value, &e)
			where[e.ID] = fmt.Sprintf("%d/%d", m.Partition, m.Offset)
		}
		dlq := len(wagwtest.ReadTopic(t, f.addr, consDLQ))
		return len(f.stored(wa)) == 1 && dlq == 1, fmt.Sprintf("%v stored, %d dead letters", f.stored(wa), dlq)
	})

	lines := map[string]string{} // message: event's partition/offset
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, text) || strings.Contains(l, wa) {
			t.Errorf("a log line holds the message's text or the full phone number: %s", l)
		}
		var m struct {
			Msg       string   `json:"msg"`
			Event     *string  `json:"event"`
			Partition *float64 `json:"partition"`
			Offset    *float64 `json:"offset"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m.Event != nil && m.Partition != nil && m.Offset != nil {
			lines[m.Msg+": "+*m.Event] = fmt.Sprintf("%.0f/%.0f", *m.Partition, *m.Offset)
		}
	}
	for _, want := range []struct{ msg, id string }{
		{"event applied", "wamid.LOG1"},
		{"record dead-lettered; contact blocked until released", "wamid.LOG2"},
	} {
		if got := lines[want.msg+": "+want.id]; got == "" || got != where[want.id] {
			t.Errorf("%q of %s at partition/offset %q, want %q (lines with an event: %v)", want.msg, want.id, got, where[want.id], lines)
		}
	}
}
