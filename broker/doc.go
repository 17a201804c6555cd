// Package broker owns wagw's Kafka plumbing that is not the consumer loop:
// the embedded Kafka-protocol broker (kfake, persisted to a data
// directory) that `wagw serve` starts when no KAFKA_BROKERS are given,
// with its durable acknowledgement (durable.go: a Produce is answered only
// once it is in the broker's journal, journal.go, and a group flush of
// the journal, shared by every Produce waiting at that moment, made it
// durable; the log files are made durable by the journal's checkpoints,
// flush.go, and what they lost in a crash is replayed from the journal at
// start-up, replay.go), the in-process connections of
// serve's own clients to it (inproc.go: a net.Pipe through the same
// listener as TCP, so that they too wait for the flush) and its retention (retention.go:
// the topics' limits, never past what a protecting consumer group has
// committed); topic setup (setup.go: the events topic and its dead-letter
// topic created with their partitions, replication factor,
// min.insync.replicas, retention and record limit, and existing topics
// compared with those settings, never changed); the producer, whose
// concurrent writes go out together while one is in flight (coalesce.go),
// each group as one Produce request per partition leader over kafka-go's
// transport (groupwrite.go), with explicit, safe settings (acks from all
// replicas, murmur2 partitioning like kafka-go's Writer and the Java
// client, snappy, a bounded time per request, three attempts); and the
// clients' security (security.go: TLS with the
// system's roots or a CA file, an optional client certificate, SASL PLAIN
// and SCRAM-SHA-256/512), which every Kafka call of every role uses. The
// events topic's default name and partition count, and the naming of its
// dead-letter topic, are defined here (topics.go).
package broker
