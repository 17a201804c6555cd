package broker_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/event"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEmbeddedKeepsAcknowledgedEventsAcrossRestart: what Publish returned
// for is on disk; a new broker on the same data dir serves it, keyed by
// contact and on the partition the murmur2 balancer chose.
func TestEmbeddedKeepsAcknowledgedEventsAcrossRestart(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := broker.EmbeddedConfig{Addr: addr, DataDir: dir, Topics: []string{"wa.events"}, Partitions: 3}
	emb, err := broker.StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events"})
	now := time.Now()
	events := []event.Envelope{
		{Version: 1, ID: "wamid.1", Kind: event.KindMessage, Contact: event.Contact{WaID: "491700000001"}, OccurredAt: now},
		{Version: 1, ID: "wamid.2", Kind: event.KindMessage, Contact: event.Contact{UserID: "US.123"}, OccurredAt: now},
		{Version: 1, ID: "wamid.3", Kind: event.KindMessage, Contact: event.Contact{WaID: "491700000001"}, OccurredAt: now},
	}
	if err := prod.Publish(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	emb.Close()

	emb, err = broker.StartEmbedded(cfg)
	if err != nil {
		t.Fatalf("restart on the same data dir: %v", err)
	}
	defer emb.Close()
	if err := broker.Ping(context.Background(), []string{emb.Addr()}, broker.Security{}, "wa.events"); err != nil {
		t.Fatal(err)
	}
	got := map[string]kafka.Message{}
	for p := 0; p < 3; p++ {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events", Partition: p, MaxWait: 50 * time.Millisecond})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			got[string(m.Value)] = m
		}
		r.Close()
	}
	if len(got) != len(events) {
		t.Fatalf("after restart %d records, want %d", len(got), len(events))
	}
	partOf := map[string]int{}
	for _, m := range got {
		if prev, ok := partOf[string(m.Key)]; ok && prev != m.Partition {
			t.Errorf("key %s on partitions %d and %d: one contact must stay on one partition", m.Key, prev, m.Partition)
		}
		partOf[string(m.Key)] = m.Partition
	}
	if _, ok := partOf["US.123"]; !ok {
		t.Errorf("a contact known only by its user id is keyed by it; keys %v", partOf)
	}
}

// TestPublishFailsWhenBrokerIsDown: no acknowledgement, an error.
func TestPublishFailsWhenBrokerIsDown(t *testing.T) {
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{freeAddr(t)}, WriteTimeout: time.Second})
	defer prod.Close()
	err := prod.Publish(context.Background(), []event.Envelope{{Version: 1, ID: "x", Kind: event.KindMessage,
		Contact: event.Contact{WaID: "1"}}})
	if err == nil {
		t.Fatal("Publish to a broker that is down returned no error")
	}
}
