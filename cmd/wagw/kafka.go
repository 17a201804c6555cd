package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/outage"
)

// prepareKafkaSecurity loads the TLS and SASL settings of KAFKA_BROKERS.
func (p *process) prepareKafkaSecurity() error {
	sc := p.cfg.KafkaSecurity
	if len(p.cfg.KafkaBrokers) == 0 {
		if sc != (broker.SecurityConfig{}) {
			return errors.New("KAFKA_TLS* and KAFKA_SASL_* are for KAFKA_BROKERS; the embedded broker is plaintext on loopback")
		}
		return nil
	}
	sec, err := broker.NewSecurity(sc)
	if err != nil {
		return fmt.Errorf("kafka security (KAFKA_TLS*, KAFKA_SASL_*): %w", err)
	}
	if sec.SASL() == broker.SASLPlain && !sec.TLS() {
		p.log.Warn("KAFKA_SASL_MECHANISM=PLAIN without KAFKA_TLS sends the password in clear text")
	}
	p.security = sec
	return nil
}

// startKafka starts the embedded broker when no brokers are configured
// and creates its topics. With KAFKA_BROKERS every role creates the
// topics that are missing and logs how the existing ones differ from
// what it would create, retrying in the background until that worked
// once (Kafka may be down when a role starts).
func (p *process) startKafka(ctx context.Context) (func(context.Context) error, error) {
	p.brokers = p.cfg.KafkaBrokers
	specs := p.cfg.topicSettings(p.maxRecord()).Specs(p.cfg.KafkaTopic)
	if len(p.brokers) > 0 {
		return p.failed.loop(ctx, "topics", func(ctx context.Context) error {
			p.setupTopicsUntilDone(ctx, specs)
			<-ctx.Done()
			return ctx.Err()
		}), nil
	}
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{
		Addr: p.cfg.KafkaEmbeddedAddr, DataDir: filepath.Join(p.cfg.DataDir, "kafka"),
		Partitions: p.cfg.KafkaPartitions, NoSync: !p.cfg.KafkaEmbeddedSync, MaxMessageBytes: p.maxRecord(),
		// Retention (the topics' settings, applied by setupTopics below)
		// never deletes what the consumer group has not committed.
		Topics:  []string{p.cfg.KafkaTopic, p.cfg.dlqTopic()},
		Protect: map[string][]string{p.cfg.KafkaTopic: {consumerGroup}},
	})
	if err != nil {
		return nil, err
	}
	p.brokers, p.embedded, p.security = []string{emb.Addr()}, true, emb.Security()
	if _, n := emb.JournalStats(); n > 0 {
		p.log.Warn("embedded kafka: records acknowledged before the last stop were missing from the log files and came back from the journal",
			"records", n)
	}
	if n := emb.GapFillers(); n > 0 {
		p.log.Warn("embedded kafka: the log files lost records never acknowledged, before acknowledged ones or under the consumer group's committed offset; gap fillers took their offsets (consumers skip them)",
			"fillers", n)
	}
	registerFlushStats(p.reg, emb)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.setupTopics(sctx, specs); err != nil {
		emb.Close()
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return func(context.Context) error { emb.Close(); return nil }, nil
}

// setupTopicsUntilDone runs setupTopics until it works or ctx ends; it
// logs the first failure and the success after it.
func (p *process) setupTopicsUntilDone(ctx context.Context, specs []broker.TopicSpec) {
	back := outage.Backoff{Min: time.Second, Max: time.Minute}
	for failed := false; ; {
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.setupTopics(actx, specs)
		cancel()
		if err == nil {
			if failed {
				p.log.Info("kafka topics checked after all")
			}
			return
		}
		if !failed {
			p.log.Warn("kafka topics could not be checked or created; retrying with backoff", "err", err)
			failed = true
		}
		if !outage.Sleep(ctx, back.Next()) {
			return
		}
	}
}

// setupTopics creates the missing topics and logs each setting of an
// existing one that differs from what wagw would create. On the embedded
// broker, which is wagw's own, it sets the config entries that differ
// (topics of an older wagw had no retention).
func (p *process) setupTopics(ctx context.Context, specs []broker.TopicSpec) error {
	rep, err := broker.SetupTopics(ctx, p.brokers, p.security, specs)
	if err != nil {
		return err
	}
	if p.embedded {
		fixed, err := broker.AlignTopicConfigs(ctx, p.brokers, p.security, rep.Diffs)
		if err != nil {
			return err
		}
		for _, d := range fixed {
			p.log.Info("embedded kafka: set "+d.Setting+" of topic "+d.Topic, "was", d.Have, "now", d.Want)
		}
		rep.Diffs = slices.DeleteFunc(rep.Diffs, func(d broker.TopicDiff) bool { return slices.Contains(fixed, d) })
	}
	for _, s := range specs {
		for _, c := range rep.Created {
			if c == s.Name {
				p.log.Info("created kafka topic", "topic", s.Name, "partitions", s.Partitions, "replication", s.ReplicationFactor,
					"min.insync.replicas", s.Configs["min.insync.replicas"], "retention.ms", s.Configs["retention.ms"],
					"retention.bytes", s.Configs["retention.bytes"])
			}
		}
	}
	for _, d := range rep.Diffs {
		p.log.Warn("kafka "+d.String()+"; wagw uses the topic as it is", "topic", d.Topic, "setting", d.Setting, "have", d.Have, "want", d.Want)
	}
	return nil
}

// registerFlushStats exports the embedded broker's group flushes (of its
// journal, and of its log files for what the journal does not take), the
// files they synced and the journal's checkpoints: with
// wagw_webhook_events_total, what durability costs per event.
func registerFlushStats(reg *prometheus.Registry, emb *broker.Embedded) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wagw_kafka_embedded_flushes_total",
			Help: "Group flushes the embedded broker ran to make produced batches durable (of its journal, or of its log files)."},
			func() float64 { n, _ := emb.FlushStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wagw_kafka_embedded_synced_files_total",
			Help: "Journal files, log files and directories the embedded broker synced (fdatasync, fsync), checkpoints included."},
			func() float64 { _, n := emb.FlushStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wagw_kafka_embedded_checkpoints_total",
			Help: "Checkpoints of the embedded broker's journal: its log files made durable, the journal file they cover freed."},
			func() float64 { n, _ := emb.JournalStats(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wagw_kafka_embedded_inprocess_connections_total",
			Help: "Connections this process's own Kafka clients opened to the embedded broker in memory, without a socket."},
			func() float64 { return float64(emb.InProcessConns()) }))
}
