package broker

// Defaults of the events topic: its name, its partition count, and where
// the embedded broker listens. cmd/wagw's KAFKA_TOPIC, KAFKA_PARTITIONS
// and KAFKA_EMBEDDED_ADDR default to them.
const (
	DefaultTopic        = "wa.events"
	DefaultPartitions   = 12
	DefaultEmbeddedAddr = "127.0.0.1:9092"
)

// DeadLetterTopic names the topic that keeps the records of topic that
// cannot be applied, and the signed bodies that cannot be parsed.
func DeadLetterTopic(topic string) string { return topic + ".dlq" }
