package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/wagw/wagw/wagwtest"
)

// A batch the broker took compressed, within its size limit, is replayed
// compressed: uncompressed it would be over the limit and refused, and
// the broker would not start.
func TestReplayKeepsTheBatchCompressed(t *testing.T) {
	live, lost := t.TempDir(), t.TempDir()
	cfg := func(dir string) EmbeddedConfig {
		return EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: dir, Topics: []string{"wa.events"}, Partitions: 1,
			MaxMessageBytes: 1 << 20, journalBytes: 16 << 20, checkpointEvery: time.Hour}
	}
	start := func(dir string) *Embedded {
		t.Helper()
		emb, err := startEmbedded(cfg(dir), nil)
		if err != nil {
			t.Fatal(err)
		}
		return emb
	}
	start(live).Close()
	copyDir(t, live, lost) // the log as the crash leaves it: without the batch below
	emb := start(live)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(emb.Addr()), Timeout: 5 * time.Second}
	value := make([]byte, 2<<20) // 2 MiB of zeros: a few KiB with snappy
	res, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "wa.events", Partition: 0, RequiredAcks: kafka.RequireAll,
		Compression: compress.Snappy, Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes(value)})})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		t.Fatalf("the compressed batch: %v", err)
	}
	emb.Close()
	if err := os.RemoveAll(filepath.Join(lost, "journal")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(live, "journal"), filepath.Join(lost, "journal"))

	back, err := startEmbedded(cfg(lost), nil)
	if err != nil {
		t.Fatalf("restart after the crash: %v", err)
	}
	defer back.Close()
	if _, replayed := back.JournalStats(); replayed != 1 {
		t.Errorf("%d records replayed, want 1", replayed)
	}
	if end, _ := back.partitionEnd("wa.events", 0); end != 1 {
		t.Errorf("the partition ends at %d after the replay, want 1", end)
	}
}

// A batch the log lost that was never acknowledged (here a Produce with
// acks=0), before one that was: the restart replays the acknowledged one
// at the offset it was acknowledged with, a gap filler in place of the
// other, rather than refusing to start.
func TestReplayFillsTheGapOfARecordNeverAcknowledged(t *testing.T) {
	live, lost := t.TempDir(), t.TempDir()
	cfg := func(dir string) EmbeddedConfig {
		return EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: dir, Topics: []string{"wa.events"}, Partitions: 1,
			journalBytes: 4 << 20, checkpointEvery: time.Hour}
	}
	emb, err := startEmbedded(cfg(live), nil)
	if err != nil {
		t.Fatal(err)
	}
	emb.Close()
	copyDir(t, live, lost) // the log as the crash leaves it: without either batch below
	if emb, err = startEmbedded(cfg(live), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(emb.Addr()), Timeout: 5 * time.Second}
	if _, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "wa.events", Partition: 0, RequiredAcks: kafka.RequireNone,
		Records: kafka.NewRecordReader(kafka.Record{Key: kafka.NewBytes([]byte("k")), Value: kafka.NewBytes([]byte("never acknowledged"))})}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the acks=0 batch", func() bool { end, _ := emb.partitionEnd("wa.events", 0); return end == 1 })
	res, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "wa.events", Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{Key: kafka.NewBytes([]byte("k")), Value: kafka.NewBytes([]byte("acknowledged"))})})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil || res.BaseOffset != 1 {
		t.Fatalf("the acknowledged batch: offset %v, %v", res, err)
	}
	emb.Close()
	if err := os.RemoveAll(filepath.Join(lost, "journal")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(live, "journal"), filepath.Join(lost, "journal"))

	back, err := startEmbedded(cfg(lost), nil)
	if err != nil {
		t.Fatalf("restart after the crash: %v", err)
	}
	defer back.Close()
	if _, replayed := back.JournalStats(); replayed != 1 || back.GapFillers() != 1 {
		t.Errorf("%d records replayed and %d gap fillers, want 1 and 1", replayed, back.GapFillers())
	}
	msgs := wagwtest.ReadPartition(t, back.Addr(), "wa.events", 0)
	if len(msgs) != 2 {
		t.Fatalf("%d records after the replay, want the filler and the acknowledged one", len(msgs))
	}
	if !IsGapFiller(msgs[0].Headers) || msgs[0].Offset != 0 || len(msgs[0].Value) != 0 {
		t.Errorf("offset 0: %+v, want a gap filler", msgs[0])
	}
	if IsGapFiller(msgs[1].Headers) || msgs[1].Offset != 1 || string(msgs[1].Value) != "acknowledged" {
		t.Errorf("offset 1: %q at %d, want the acknowledged record at 1", msgs[1].Value, msgs[1].Offset)
	}
}

// An idle broker's checkpoints write nothing: the mark a checkpoint leaves
// in the journal is not itself something to checkpoint.
func TestIdleJournalWritesNothing(t *testing.T) {
	emb, err := startEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Topics: []string{"wa.events"}, Partitions: 1,
		checkpointEvery: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	client := &kafka.Client{Addr: kafka.TCP(emb.Addr()), Timeout: 5 * time.Second}
	res, err := client.Produce(context.Background(), &kafka.ProduceRequest{Topic: "wa.events", Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes([]byte("one"))})})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the checkpoint of the produce", func() bool { n, _ := emb.JournalStats(); return n >= 1 })
	time.Sleep(50 * time.Millisecond)
	before, _ := emb.JournalStats()
	_, syncedBefore := emb.FlushStats()
	time.Sleep(200 * time.Millisecond) // twenty checkpoint intervals, idle
	after, _ := emb.JournalStats()
	_, syncedAfter := emb.FlushStats()
	if after != before || syncedAfter != syncedBefore {
		t.Errorf("idle for 200 ms: %d checkpoints and %d files synced, want none", after-before, syncedAfter-syncedBefore)
	}
}
