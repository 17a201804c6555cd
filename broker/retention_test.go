package broker

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// fill writes n records of about 1 KiB to partition 0 of topic.
func fill(t *testing.T, addr, topic string, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.LeastBytes{}, BatchSize: 1, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	value := make([]byte, 1000)
	for i := range n {
		if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(fmt.Sprint(i)), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
}

// commit commits offset for group on partition 0 of topic.
func commit(t *testing.T, addr, group, topic string, offset int64) {
	t.Helper()
	resp, err := (&kafka.Client{Addr: kafka.TCP(addr)}).OffsetCommit(context.Background(), &kafka.OffsetCommitRequest{
		GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: offset}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			t.Fatal(p.Error)
		}
	}
}

// TestRetentionNeverDeletesUncommitted: a size limit that would keep 10
// of 100 records trims a protected topic only up to what the consumer
// group committed, and nothing before it committed at all; an
// unprotected topic is trimmed by the limit alone.
func TestRetentionNeverDeletesUncommitted(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 1,
		Topics:       []string{"ev", "ev.dlq"},
		TopicConfigs: map[string]string{"retention.bytes": "12000", "retention.ms": "604800000", "segment.bytes": "20000"},
		Protect:      map[string][]string{"ev": {"wagw"}}, RetentionInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	fill(t, emb.Addr(), "ev", 100)
	fill(t, emb.Addr(), "ev.dlq", 100)
	start := func(topic string) int64 { return emb.cluster.PartitionInfo(topic, 0).LogStartOffset }

	emb.retention.enforce()
	if got := start("ev"); got != 0 {
		t.Fatalf("retention deleted up to %d before the group committed anything", got)
	}
	dlq := start("ev.dlq")
	if dlq < 85 || dlq > 95 {
		t.Fatalf("the unprotected topic starts at %d after retention, want about 90 (12 kB of 1 kB records)", dlq)
	}

	if n := logBytes(t, emb, "ev.dlq"); n > 12000+2*20000 {
		t.Errorf("the trimmed partition keeps %d bytes of segment files on disk", n)
	}

	commit(t, emb.Addr(), "wagw", "ev", 30)
	emb.retention.enforce()
	if got := start("ev"); got != 30 {
		t.Fatalf("after a commit at 30, the log starts at %d, want 30 (the limit would go further)", got)
	}
	commit(t, emb.Addr(), "wagw", "ev", 100)
	emb.retention.enforce()
	if got := start("ev"); got != dlq {
		t.Fatalf("after a commit of everything, the log starts at %d, want %d like the unprotected topic", got, dlq)
	}
	if ti := emb.cluster.TopicInfo("ev"); ti.Configs["retention.ms"] == nil || *ti.Configs["retention.ms"] != "604800000" {
		t.Errorf("topic settings not applied at creation: %v", ti.Configs)
	}
}

// TestRetentionByAge: records written before now-retention.ms go (once
// committed), newer ones stay.
func TestRetentionByAge(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 1, Topics: []string{"ev"},
		TopicConfigs: map[string]string{"retention.ms": "60000"}, Protect: map[string][]string{"ev": {"wagw"}}, RetentionInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	clock := time.Now()
	emb.retention.now = func() time.Time { return clock }
	fill(t, emb.Addr(), "ev", 40)
	emb.retention.enforce() // samples: 40 records written by now
	clock = clock.Add(30 * time.Second)
	fill(t, emb.Addr(), "ev", 20)
	emb.retention.enforce()
	commit(t, emb.Addr(), "wagw", "ev", 60)
	clock = clock.Add(40 * time.Second) // the first 40 are 70 s old, the next 20 are 40 s old
	emb.retention.enforce()
	if got := emb.cluster.PartitionInfo("ev", 0).LogStartOffset; got != 40 {
		t.Fatalf("log starts at %d, want 40 (the records older than 60 s)", got)
	}
}

// logBytes is the size of partition 0's segment files on disk.
func logBytes(t *testing.T, emb *Embedded, topic string) int64 {
	t.Helper()
	var n int64
	ents, err := os.ReadDir(emb.sync.root + "/" + topic + "-0")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".dat") {
			n += fi.Size()
		}
	}
	return n
}
