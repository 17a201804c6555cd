package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/whatsapp"
)

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	Brokers []string
	// Topic for contact events. Default "wa.events".
	Topic string
	// WriteTimeout bounds one write. Default 5 s.
	WriteTimeout time.Duration
	// BatchTimeout is how long the writer waits to fill a batch. Default 1 ms
	// (kafka-go's 1 s default would make every synchronous write take a second).
	BatchTimeout time.Duration
}

// Producer writes envelopes and raw records with the settings DESIGN §3
// asks for. It is safe for concurrent use.
type Producer struct {
	w     *kafka.Writer
	topic string
}

// NewProducer builds a producer; it connects lazily.
func NewProducer(cfg ProducerConfig) *Producer {
	if cfg.Topic == "" {
		cfg.Topic = "wa.events"
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = time.Millisecond
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Balancer:               kafka.Murmur2Balancer{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              1000,
		WriteTimeout:           cfg.WriteTimeout,
		ReadTimeout:            cfg.WriteTimeout,
		MaxAttempts:            3,
		WriteBackoffMin:        10 * time.Millisecond,
		WriteBackoffMax:        200 * time.Millisecond,
		AllowAutoTopicCreation: false,
		Compression:            kafka.Snappy,
	}
	return &Producer{w: w, topic: cfg.Topic}
}

// Publish writes one record per envelope, keyed by contact, to the events
// topic and returns once the broker acknowledged all of them.
func (p *Producer) Publish(ctx context.Context, events []whatsapp.Envelope) error {
	if len(events) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(events))
	for i := range events {
		v, err := json.Marshal(&events[i])
		if err != nil {
			return fmt.Errorf("encode event %s: %w", events[i].ID, err)
		}
		msgs[i] = kafka.Message{Topic: p.topic, Key: []byte(events[i].Key()), Value: v,
			Headers: []kafka.Header{{Key: "kind", Value: []byte(events[i].Kind)}}}
	}
	return p.write(ctx, msgs)
}

// PublishRaw writes records to any topic (the dead-letter topic).
func (p *Producer) PublishRaw(ctx context.Context, topic string, key, value []byte, headers map[string]string) error {
	m := kafka.Message{Topic: topic, Key: key, Value: value}
	for k, v := range headers {
		m.Headers = append(m.Headers, kafka.Header{Key: k, Value: []byte(v)})
	}
	return p.write(ctx, []kafka.Message{m})
}

func (p *Producer) write(ctx context.Context, msgs []kafka.Message) error {
	err := p.w.WriteMessages(ctx, msgs...)
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				return fmt.Errorf("kafka write: %w", e)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("kafka write: %w", err)
	}
	return nil
}

// Close flushes pending writes and closes connections.
func (p *Producer) Close() error { return p.w.Close() }

// Ping checks that a broker answers and the topic exists.
func (p *Producer) Ping(ctx context.Context, brokers []string) error {
	return Ping(ctx, brokers, p.topic)
}

// Ping dials the first reachable broker and reads the topic's partitions.
func Ping(ctx context.Context, brokers []string, topic string) error {
	var last error
	for _, b := range brokers {
		d := kafka.Dialer{Timeout: 2 * time.Second}
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
	return fmt.Errorf("kafka: %w", last)
}

// EnsureTopics creates the topics on a real cluster when they are missing.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, topics ...string) error {
	d := kafka.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return fmt.Errorf("kafka controller: %w", err)
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return fmt.Errorf("kafka controller: %w", err)
	}
	defer cc.Close()
	var cfgs []kafka.TopicConfig
	for _, t := range topics {
		cfgs = append(cfgs, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	err = cc.CreateTopics(cfgs...)
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topics: %w", err)
	}
	return nil
}
