package broker

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/event"
)

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	Brokers []string
	// Security of the connections to Brokers. Default: plaintext without
	// authentication.
	Security Security
	// Topic for contact events. Default DefaultTopic.
	Topic string
	// WriteTimeout bounds one write. Default 5 s.
	WriteTimeout time.Duration
	// MaxMessageBytes is the largest record written (key, value and
	// headers), and the largest batch written to one partition. Default 5 MiB: the
	// default webhook body limit (4 MiB) with room for an envelope and its
	// headers. The brokers must accept it (EmbeddedConfig.MaxMessageBytes,
	// EnsureTopics).
	MaxMessageBytes int
}

// EnvelopeHeadroom is what a record may need beyond the webhook body it
// came from: the envelope around an event, or the headers of a dead letter.
const EnvelopeHeadroom = 1 << 20

// DefaultMaxMessageBytes is the default of ProducerConfig.MaxMessageBytes
// and EmbeddedConfig.MaxMessageBytes: the default webhook body limit with
// EnvelopeHeadroom.
const DefaultMaxMessageBytes = 4<<20 + EnvelopeHeadroom

// Producer writes envelopes and raw records with the settings DESIGN §3
// asks for. It is safe for concurrent use.
type Producer struct {
	group  *coalescer   // every write goes through it
	writer *groupWriter // writes its groups: its connections and record limit are the producer's
	topic  string
}

// NewProducer builds a producer; it connects lazily.
func NewProducer(cfg ProducerConfig) *Producer {
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	conns := cfg.Security.Transport(cfg.WriteTimeout)
	w := &groupWriter{addr: kafka.TCP(cfg.Brokers...), rt: conns, timeout: cfg.WriteTimeout, maxBytes: cfg.MaxMessageBytes,
		attempts: 3, backoff: [2]time.Duration{10 * time.Millisecond, 200 * time.Millisecond}}
	return &Producer{group: &coalescer{write: w.write}, writer: w, topic: cfg.Topic}
}

// Publish writes one record per envelope, keyed by contact, to the events
// topic and returns once the broker acknowledged all of them. An envelope
// that cannot be encoded fails the whole call (commands are built by wagw
// itself); webhook events go through PublishEach.
func (p *Producer) Publish(ctx context.Context, events []event.Envelope) error {
	if len(events) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(events))
	for i := range events {
		m, err := p.eventRecord(&events[i])
		if err != nil {
			return err
		}
		msgs[i] = m
	}
	return p.write(ctx, msgs)
}

// PublishEach writes a webhook's events, each encoded on its own. The
// ones that encode go to the events topic, keyed by contact. One that
// cannot be encoded, or whose record would be larger than
// MaxMessageBytes, is written instead to deadLetterTopic under the same
// key: the event as Meta sent it (the message, status or change value)
// with the reason, the event's id and kind, and the given headers. All
// go in one write. rejected[i] says why events[i] was dead-lettered (nil
// when it was produced); err is set only when Kafka failed.
func (p *Producer) PublishEach(ctx context.Context, events []event.Envelope, deadLetterTopic string, headers map[string]string) (rejected []error, err error) {
	rejected = make([]error, len(events))
	msgs := make([]kafka.Message, 0, len(events))
	for i := range events {
		m, err := p.eventRecord(&events[i])
		if err != nil {
			rejected[i] = err
			m = p.deadLetterRecord(&events[i], deadLetterTopic, err, headers)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return rejected, nil
	}
	return rejected, p.write(ctx, msgs)
}

// eventRecord encodes one envelope as its record on the events topic.
func (p *Producer) eventRecord(e *event.Envelope) (kafka.Message, error) {
	v, err := event.Encode(e)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	m := kafka.Message{Topic: p.topic, Key: []byte(e.Key()), Value: v,
		Headers: []kafka.Header{{Key: "kind", Value: []byte(e.Kind)}}}
	if n := recordSize(m); n > p.writer.maxBytes {
		return kafka.Message{}, fmt.Errorf("event %s is too large: its record has %d bytes, the limit is %d", e.ID, n, p.writer.maxBytes)
	}
	return m, nil
}

// deadLetterRecord keeps an event that could not be produced: its item as
// received, cut to fit the record limit if it must be (header truncated).
// Its headers are bounded (boundedHeader): an id of megabytes, repeated in
// them, would leave the record over the limit however much of the value
// is cut.
func (p *Producer) deadLetterRecord(e *event.Envelope, topic string, reason error, headers map[string]string) kafka.Message {
	m := kafka.Message{Topic: topic, Key: []byte(e.Key()), Value: receivedItem(e), Headers: headersOf(headers)}
	m.Headers = append(m.Headers,
		kafka.Header{Key: "reason", Value: boundedHeader(reason.Error())},
		kafka.Header{Key: "event_id", Value: boundedHeader(e.ID)},
		kafka.Header{Key: "kind", Value: boundedHeader(string(e.Kind))},
		kafka.Header{Key: "phone_number_id", Value: boundedHeader(e.PhoneNumberID)},
		kafka.Header{Key: "content_type", Value: []byte("application/json")})
	if over := recordSize(m) - p.writer.maxBytes; over > 0 {
		m.Value = m.Value[:max(0, len(m.Value)-over)]
		m.Headers = append(m.Headers, kafka.Header{Key: "truncated", Value: []byte("true")})
	}
	return m
}

// maxHeader bounds each header value the producer writes from a caller's
// map or an event.
const maxHeader = 1 << 10

// headersOf is headers as Kafka headers, each bounded (boundedHeader).
func headersOf(headers map[string]string) []kafka.Header {
	hs := make([]kafka.Header, 0, len(headers))
	for k, v := range headers {
		hs = append(hs, kafka.Header{Key: k, Value: boundedHeader(v)})
	}
	return hs
}

// boundedHeader is v cut to maxHeader bytes, on a character's start.
func boundedHeader(v string) []byte {
	if len(v) <= maxHeader {
		return []byte(v)
	}
	cut := maxHeader
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return []byte(v[:cut])
}

// receivedItem is the part of the webhook an event came from, as Meta
// sent it.
func receivedItem(e *event.Envelope) []byte {
	switch {
	case e.Message != nil && len(e.Message.Raw) > 0:
		return e.Message.Raw
	case e.Status != nil && len(e.Status.Raw) > 0:
		return e.Status.Raw
	case e.Command != nil && len(e.Command.Data) > 0:
		return e.Command.Data
	}
	return e.Raw
}

// recordSize bounds what a record counts toward the broker's limit: its
// key, value and headers, and 1 KiB for the record's framing.
func recordSize(m kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 1024
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// PublishRaw writes records to any topic (the dead-letter topic). A call
// that ctx cut short returns while its record may still be written (with
// the concurrent writes it joined): key and value must not change after
// the call, even once it returned. The same holds for the bytes the
// envelopes of Publish and PublishEach hold (the gateway's come from a
// request body read into a buffer of its own, never reused).
func (p *Producer) PublishRaw(ctx context.Context, topic string, key, value []byte, headers map[string]string) error {
	m := kafka.Message{Topic: topic, Key: key, Value: value, Headers: headersOf(headers)}
	return p.write(ctx, []kafka.Message{m})
}

// write writes msgs with the concurrent writes' records (coalescer) and
// returns once all of msgs were acknowledged.
func (p *Producer) write(ctx context.Context, msgs []kafka.Message) error {
	if err := p.group.writeAll(ctx, msgs); err != nil {
		return fmt.Errorf("kafka write: %w", Explain(err))
	}
	return nil
}

// Close closes the idle connections; a write in flight goes on until it
// returns.
func (p *Producer) Close() error {
	p.writer.rt.CloseIdleConnections()
	return nil
}

// Ping dials the first reachable broker with sec and reads the topic's
// partitions. A refused SASL login says so.
func Ping(ctx context.Context, brokers []string, sec Security, topic string) error {
	var last error
	d := sec.Dialer(2 * time.Second)
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			conn.SetDeadline(dl)
		}
		parts, err := conn.ReadPartitions(topic)
		conn.Close()
		if err != nil {
			last = err
			continue
		}
		if len(parts) == 0 {
			return fmt.Errorf("topic %s has no partitions", topic)
		}
		return nil
	}
	if last == nil {
		last = errors.New("no brokers configured")
	}
	return fmt.Errorf("kafka: %w", Explain(last))
}
