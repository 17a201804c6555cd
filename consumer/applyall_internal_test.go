package consumer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/event"
)

type poisonErr struct{ i int }

func (p poisonErr) Error() string    { return fmt.Sprintf("poison %d", p.i) }
func (p poisonErr) PoisonIndex() int { return p.i }

// lateBlameStore fails any batch holding the event bad and names the
// batch's last event, as a store may when the failure surfaces only at the
// batch's end. Other batches apply.
type lateBlameStore struct {
	bad     string
	applied []string
	blocked []string
}

func (s *lateBlameStore) Apply(_ context.Context, events []event.Envelope, _ time.Time) error {
	if slices.ContainsFunc(events, func(e event.Envelope) bool { return e.ID == s.bad }) {
		return poisonErr{len(events) - 1}
	}
	for _, e := range events {
		if slices.Contains(s.blocked, e.Key()) {
			continue // held
		}
		s.applied = append(s.applied, e.ID)
	}
	return nil
}

func (s *lateBlameStore) Block(_ context.Context, key, _ string) error {
	s.blocked = append(s.blocked, key)
	return nil
}

type dlqRecorder struct{ ids []string }

func (d *dlqRecorder) PublishRaw(_ context.Context, _ string, key, _ []byte, _ map[string]string) error {
	d.ids = append(d.ids, string(key))
	return nil
}

// When the store names a later event than the one at fault, narrowing the
// batch down finds the event at fault; the later events the store named on
// the way are innocent and must be applied, not dead-lettered with their
// contacts blocked.
func TestApplyAllMisblameDeadLettersOnlyTheEventAtFault(t *testing.T) {
	store, dlq := &lateBlameStore{bad: "A"}, &dlqRecorder{}
	c := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetryMin: time.Millisecond, RetryMax: time.Millisecond}, store, dlq)
	var events []event.Envelope
	var origin []kafka.Message
	for i, id := range []string{"X", "A", "Y", "Z"} { // one contact each, keyed by the event id
		events = append(events, event.Envelope{Version: event.Version, ID: id, Kind: event.KindMessage, ContactKey: id})
		origin = append(origin, kafka.Message{Key: []byte(id), Offset: int64(i)})
	}
	ctx := context.Background()
	if err := c.applyAll(ctx, ctx, events, origin); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dlq.ids, []string{"A"}) {
		t.Errorf("dead-lettered %v, want only [A] (the event at fault)", dlq.ids)
	}
	if !slices.Equal(store.blocked, []string{"A"}) {
		t.Errorf("blocked contacts %v, want only [A]", store.blocked)
	}
	if !slices.Equal(store.applied, []string{"X", "Y", "Z"}) {
		t.Errorf("applied %v, want [X Y Z]", store.applied)
	}
}
