package broker_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// startBroker runs an embedded broker with the default limits and a
// producer for it.
func startBroker(t *testing.T, topics ...string) (*broker.Embedded, *broker.Producer) {
	t.Helper()
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: topics, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{emb.Addr()}, Topic: topics[0], WriteTimeout: 5 * time.Second})
	t.Cleanup(func() { prod.Close() })
	return emb, prod
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestPublishEachDeadLettersWhatCannotBeEncoded: of three events, the one
// whose time cannot be written as JSON (year 10000) goes to the
// dead-letter topic, as received and with its reason; the others are
// produced.
func TestPublishEachDeadLettersWhatCannotBeEncoded(t *testing.T) {
	emb, prod := startBroker(t, "wa.events", "wa.events.dlq")
	now := time.Now()
	events := []event.Envelope{
		{Version: 1, ID: "wamid.ok1", Kind: event.KindMessage, Contact: event.Contact{WaID: "491700000001"}, OccurredAt: now,
			Message: &whatsapp.Message{ID: "wamid.ok1", Raw: json.RawMessage(`{"id":"wamid.ok1"}`)}},
		{Version: 1, ID: "wamid.bad:read", Kind: event.KindStatus, Contact: event.Contact{WaID: "491700000002"},
			OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
			Status:     &whatsapp.Status{ID: "wamid.bad", Raw: json.RawMessage(`{"id":"wamid.bad","timestamp":"253402300800"}`)}},
		{Version: 1, ID: "wamid.ok2", Kind: event.KindMessage, Contact: event.Contact{WaID: "491700000001"}, OccurredAt: now},
	}
	rejected, err := prod.PublishEach(context.Background(), events, "wa.events.dlq", map[string]string{"source": "test"})
	if err != nil {
		t.Fatalf("PublishEach: %v", err)
	}
	if len(rejected) != 3 || rejected[0] != nil || rejected[1] == nil || rejected[2] != nil {
		t.Fatalf("rejected = %v, want only the second event", rejected)
	}
	got := wagwtest.ReadTopic(t, emb.Addr(), "wa.events")
	if len(got) != 2 {
		t.Fatalf("events topic has %d records, want 2", len(got))
	}
	for _, m := range got {
		var e event.Envelope
		if err := json.Unmarshal(m.Value, &e); err != nil || (e.ID != "wamid.ok1" && e.ID != "wamid.ok2") {
			t.Errorf("events topic holds %s (%v)", m.Value, err)
		}
	}
	dl := wagwtest.ReadTopic(t, emb.Addr(), "wa.events.dlq")
	if len(dl) != 1 {
		t.Fatalf("dead-letter topic has %d records, want 1", len(dl))
	}
	m := dl[0]
	if string(m.Value) != `{"id":"wamid.bad","timestamp":"253402300800"}` || string(m.Key) != "491700000002" {
		t.Errorf("dead letter %s=%s, want the status as received under its contact's key", m.Key, m.Value)
	}
	if !strings.Contains(header(m, "reason"), "encode") || header(m, "event_id") != "wamid.bad:read" ||
		header(m, "kind") != "status" || header(m, "source") != "test" {
		t.Errorf("dead letter headers %v", m.Headers)
	}
}

// noise is n bytes of letters and digits that do not compress much.
func noise(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, base64.RawURLEncoding.DecodedLen(n)+1)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return []byte(base64.RawURLEncoding.EncodeToString(b)[:n])
}

// TestLargeRecordsFit: records up to the default limit (a 4 MiB webhook
// with room for its envelope) are written; an event whose record would be
// larger is dead-lettered instead of failing the write.
func TestLargeRecordsFit(t *testing.T) {
	emb, prod := startBroker(t, "wa.events", "wa.events.dlq")
	ctx := context.Background()
	raw := noise(3 << 20)
	if err := prod.PublishRaw(ctx, "wa.events.dlq", nil, raw, map[string]string{"reason": "test"}); err != nil {
		t.Fatalf("a 3 MiB dead letter: %v", err)
	}
	big := event.Envelope{Version: 1, ID: "wamid.big", Kind: event.KindMessage, Contact: event.Contact{WaID: "1"}, OccurredAt: time.Now(),
		Message: &whatsapp.Message{ID: "wamid.big", Raw: json.RawMessage(`"` + string(noise(3<<20)) + `"`)}}
	huge := big
	huge.ID = "wamid.huge"
	huge.Message = &whatsapp.Message{ID: "wamid.huge", Raw: json.RawMessage(`"` + string(noise(6<<20)) + `"`)}
	rejected, err := prod.PublishEach(ctx, []event.Envelope{big, huge}, "wa.events.dlq", nil)
	if err != nil {
		t.Fatalf("PublishEach of a 3 MiB and a 6 MiB event: %v", err)
	}
	if rejected[0] != nil || rejected[1] == nil || !strings.Contains(rejected[1].Error(), "large") {
		t.Fatalf("rejected = %v, want only the 6 MiB event, as too large", rejected)
	}
	if n := len(wagwtest.ReadTopic(t, emb.Addr(), "wa.events")); n != 1 {
		t.Errorf("events topic has %d records, want 1", n)
	}
	dl := wagwtest.ReadTopic(t, emb.Addr(), "wa.events.dlq")
	if len(dl) != 2 || len(dl[0].Value)+len(dl[1].Value) < 3<<20 {
		t.Errorf("dead-letter topic has %d records", len(dl))
	}
}

// TestDeadLetterOfAnEventWithAHugeIDFits: an event too large for the
// events topic because of its id (a message id of megabytes, from a body
// within the webhook limit) is still dead-lettered: the headers that
// repeat the id are bounded, not only the value cut, so the dead letter
// fits the broker's limit and the write does not fail.
func TestDeadLetterOfAnEventWithAHugeIDFits(t *testing.T) {
	emb, prod := startBroker(t, "wa.events", "wa.events.dlq")
	id := "wamid." + string(noise(3500<<10))
	huge := event.Envelope{Version: 1, ID: id, Kind: event.KindMessage, Contact: event.Contact{WaID: "1"}, OccurredAt: time.Now(),
		PhoneNumberID: "106540352242922", Message: &whatsapp.Message{ID: id, Raw: json.RawMessage(`{"id":"` + id + `"}`)}}
	rejected, err := prod.PublishEach(context.Background(), []event.Envelope{huge}, "wa.events.dlq", map[string]string{"source": "test"})
	if err != nil {
		t.Fatalf("PublishEach of an event with a %d-byte id: %v", len(id), err)
	}
	if rejected[0] == nil {
		t.Fatal("the event was produced, want it dead-lettered as too large")
	}
	dl := wagwtest.ReadTopic(t, emb.Addr(), "wa.events.dlq")
	if len(dl) != 1 || header(dl[0], "kind") != "message" || header(dl[0], "phone_number_id") != "106540352242922" {
		t.Fatalf("dead-letter topic has %d records, want the event's", len(dl))
	}
	if !strings.HasPrefix(id, header(dl[0], "event_id")[:len("wamid.")+64]) {
		t.Errorf("event_id header does not begin with the event's id")
	}
}
