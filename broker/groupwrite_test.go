package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// groupBroker starts an embedded broker on a data dir (durable
// acknowledgement) with the topic wa.events of parts partitions, and a
// producer for it that has written one record (connections and metadata).
func groupBroker(t *testing.T, parts, maxBytes int) (*Embedded, *Producer) {
	t.Helper()
	emb, err := startEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Topics: []string{"wa.events"},
		Partitions: parts, MaxMessageBytes: maxBytes}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	prod := NewProducer(ProducerConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events", WriteTimeout: 10 * time.Second, MaxMessageBytes: maxBytes})
	t.Cleanup(func() { prod.Close() })
	if err := prod.PublishRaw(context.Background(), "wa.events", []byte("warm-up"), []byte("{}"), nil); err != nil {
		t.Fatal(err)
	}
	return emb, prod
}

// TestAGroupIsOneRequestAndOneFlush: 240 events of 120 contacts, spread
// over the twelve partitions, written together: one Produce request and
// one durable flush of the journal (kafka-go's Writer sent one request per partition,
// whose answers took two flushes or more), every record on the partition
// kafka.Writer's murmur2 balancer gives its key, each contact's in order.
func TestAGroupIsOneRequestAndOneFlush(t *testing.T) {
	emb, prod := groupBroker(t, 12, 0)
	var events []event.Envelope
	for n := range 2 {
		for c := range 120 {
			events = append(events, event.Envelope{Version: event.Version, ID: fmt.Sprintf("wamid.%03d.%d", c, n), Kind: event.KindMessage,
				Contact: event.Contact{WaID: fmt.Sprintf("49170%07d", c)}, OccurredAt: time.Now()})
		}
	}
	req0, flush0 := prod.writer.requests.Load(), emb.wal.Load().group.flushes.Load()
	if err := prod.Publish(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if n := prod.writer.requests.Load() - req0; n != 1 {
		t.Errorf("%d produce requests for one group, want 1", n)
	}
	if n := emb.wal.Load().group.flushes.Load() - flush0; n != 1 {
		t.Errorf("%d flushes for one group, want 1", n)
	}
	parts := make([]int, 12)
	for i := range parts {
		parts[i] = i
	}
	seen := map[string][]string{}
	for p := range 12 {
		for _, m := range wagwtest.ReadPartition(t, emb.Addr(), "wa.events", p) {
			if string(m.Key) == "warm-up" {
				continue
			}
			if want := (kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, parts...); p != want {
				t.Errorf("key %s on partition %d, kafka.Writer's balancer gives %d", m.Key, p, want)
			}
			var e event.Envelope
			if err := event.Decode(m.Value, &e); err != nil {
				t.Fatal(err)
			}
			seen[string(m.Key)] = append(seen[string(m.Key)], e.ID)
		}
	}
	if len(seen) != 120 {
		t.Fatalf("%d contacts stored, want 120", len(seen))
	}
	for key, ids := range seen {
		if len(ids) != 2 || !strings.HasSuffix(ids[0], ".0") || !strings.HasSuffix(ids[1], ".1") {
			t.Errorf("contact %s: %v, want its two events in order", key, ids)
		}
	}
}

// TestAGroupLargerThanABatchGoesInRounds: three records of 40 KiB for one
// contact with a batch limit of 64 KiB: three requests, one batch each,
// stored in order.
func TestAGroupLargerThanABatchGoesInRounds(t *testing.T) {
	emb, prod := groupBroker(t, 1, 64<<10)
	big := strings.Repeat("x", 40<<10)
	msgs := make([]kafka.Message, 3)
	for i := range msgs {
		msgs[i] = kafka.Message{Topic: "wa.events", Key: []byte("4917000000"), Value: []byte(fmt.Sprintf("%d%s", i, big))}
	}
	req0 := prod.writer.requests.Load()
	if err := prod.write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if n := prod.writer.requests.Load() - req0; n != 3 {
		t.Errorf("%d requests, want 3 (one batch of at most 64 KiB each)", n)
	}
	got := wagwtest.ReadPartition(t, emb.Addr(), "wa.events", 0)[1:] // after the warm-up
	if len(got) != 3 {
		t.Fatalf("%d records stored, want 3", len(got))
	}
	for i, m := range got {
		if m.Value[0] != byte('0'+i) {
			t.Errorf("record %d is %c, want them in order", i, m.Value[0])
		}
	}
}

// answerProduce makes the broker answer the next Produce request itself
// (every one with keep), without storing anything, with code(partition)
// for each partition.
func answerProduce(emb *Embedded, keep bool, code func(partition int32) int16) {
	emb.cluster.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
		if keep {
			emb.cluster.KeepControl()
		}
		req := r.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code(rp.Partition)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// TestATemporaryErrorIsSentAgain: the broker answers the first request
// with "not leader for partition" for every partition; the write sends
// the records again and they are stored once.
func TestATemporaryErrorIsSentAgain(t *testing.T) {
	emb, prod := groupBroker(t, 2, 0)
	answerProduce(emb, false, func(int32) int16 { return int16(kafka.NotLeaderForPartition) })
	req0 := prod.writer.requests.Load()
	msgs := []kafka.Message{{Topic: "wa.events", Key: []byte("a"), Value: []byte("1")}, {Topic: "wa.events", Key: []byte("b"), Value: []byte("2")}}
	if err := prod.write(context.Background(), msgs); err != nil {
		t.Fatalf("write: %v", err)
	}
	if n := prod.writer.requests.Load() - req0; n != 2 {
		t.Errorf("%d requests, want 2 (the refused one and the one sent again)", n)
	}
	n := len(wagwtest.ReadPartition(t, emb.Addr(), "wa.events", 0)) + len(wagwtest.ReadPartition(t, emb.Addr(), "wa.events", 1))
	if n != 3 { // with the warm-up
		t.Errorf("%d records stored, want 3", n)
	}
}

// TestARefusedPartitionFailsOnlyItsRecords: the broker refuses one
// partition's batch for good (record too large) and takes the other's: the
// errors name the refused records only, and nothing is sent again.
func TestARefusedPartitionFailsOnlyItsRecords(t *testing.T) {
	emb, prod := groupBroker(t, 2, 0)
	var msgs []kafka.Message
	for i := range 8 {
		msgs = append(msgs, kafka.Message{Topic: "wa.events", Key: []byte(fmt.Sprintf("contact-%d", i)), Value: []byte("v")})
	}
	parts, err := partitionsOf(mustMeta(t, prod, msgs), msgs)
	if err != nil {
		t.Fatal(err)
	}
	answerProduce(emb, false, func(p int32) int16 {
		if p == 0 {
			return int16(kafka.MessageSizeTooLarge)
		}
		return 0
	})
	req0 := prod.writer.requests.Load()
	err = prod.writer.write(context.Background(), msgs)
	if n := prod.writer.requests.Load() - req0; n != 1 {
		t.Errorf("%d requests, want 1 (a refusal for good is not sent again)", n)
	}
	var errs kafka.WriteErrors
	if !errors.As(err, &errs) || len(errs) != len(msgs) {
		t.Fatalf("write: %v, want one error per record", err)
	}
	for i := range msgs {
		refused := errors.Is(errs[i], kafka.MessageSizeTooLarge)
		if refused != (parts[i] == 0) {
			t.Errorf("record %d on partition %d: error %v", i, parts[i], errs[i])
		}
	}
}

func mustMeta(t *testing.T, prod *Producer, msgs []kafka.Message) *metadataAPI.Response {
	t.Helper()
	meta, err := prod.writer.metadata(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	return meta
}

// TestATemporaryErrorGivesUpAfterThreeAttempts: a broker that answers
// every request with "not enough replicas" gets three requests, and the
// write fails with that error for each record instead of trying forever.
func TestATemporaryErrorGivesUpAfterThreeAttempts(t *testing.T) {
	emb, prod := groupBroker(t, 2, 0)
	answerProduce(emb, true, func(int32) int16 { return int16(kafka.NotEnoughReplicas) })
	req0 := prod.writer.requests.Load()
	msgs := []kafka.Message{{Topic: "wa.events", Key: []byte("a"), Value: []byte("1")}, {Topic: "wa.events", Key: []byte("b"), Value: []byte("2")}}
	err := prod.writer.write(context.Background(), msgs)
	var errs kafka.WriteErrors
	if !errors.As(err, &errs) || len(errs) != 2 || !errors.Is(errs[0], kafka.NotEnoughReplicas) || !errors.Is(errs[1], kafka.NotEnoughReplicas) {
		t.Fatalf("write: %v, want not enough replicas for both records", err)
	}
	if n := prod.writer.requests.Load() - req0; n != 3 {
		t.Errorf("%d requests, want 3 (the attempts)", n)
	}
}
