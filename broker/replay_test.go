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

// crash is a broker's data dir as it ran (live) and as a crash of the
// machine leaves it (lost): the log files copied before the test's
// writes; restart copies live's journal in and starts a broker on it.
type crash struct {
	t          *testing.T
	cfg        EmbeddedConfig
	live, lost string
}

// newCrash starts a broker on a fresh data dir, stops it, copies the
// files and starts it again: the test's writes go to the broker returned.
func newCrash(t *testing.T, tune func(*EmbeddedConfig)) (*crash, *Embedded) {
	t.Helper()
	c := &crash{t: t, live: t.TempDir(), lost: t.TempDir(), cfg: EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"wa.events"},
		Partitions: 1, journalBytes: 16 << 20, checkpointEvery: time.Hour}}
	if tune != nil {
		tune(&c.cfg)
	}
	c.start(c.live).Close()
	copyDir(t, c.live, c.lost)
	return c, c.start(c.live)
}

func (c *crash) start(dir string) *Embedded {
	c.t.Helper()
	cfg := c.cfg
	cfg.DataDir = dir
	emb, err := startEmbedded(cfg, nil)
	if err != nil {
		c.t.Fatalf("start on %s: %v", dir, err)
	}
	return emb
}

// restart starts a broker on the lost log files and the live journal.
func (c *crash) restart() *Embedded {
	c.t.Helper()
	if err := os.RemoveAll(filepath.Join(c.lost, "journal")); err != nil {
		c.t.Fatal(err)
	}
	copyDir(c.t, filepath.Join(c.live, "journal"), filepath.Join(c.lost, "journal"))
	return c.start(c.lost)
}

// produce writes records with acks and returns the base offset
// acknowledged (-1 with kafka.RequireNone: no answer).
func produce(t *testing.T, emb *Embedded, acks kafka.RequiredAcks, codec compress.Compression, values ...string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs := make([]kafka.Record, len(values))
	for i, v := range values {
		recs[i] = kafka.Record{Key: kafka.NewBytes([]byte("k")), Value: kafka.NewBytes([]byte(v))}
	}
	client := &kafka.Client{Addr: kafka.TCP(emb.Addr()), Timeout: 5 * time.Second}
	res, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "wa.events", Partition: 0, RequiredAcks: acks,
		Compression: codec, Records: kafka.NewRecordReader(recs...)})
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if res == nil { // acks=0: no answer
		return -1
	}
	if res.Error != nil {
		t.Fatalf("produce: %v", res.Error)
	}
	return res.BaseOffset
}

// A batch the broker took compressed, within its size limit, is replayed
// compressed: uncompressed it would be over the limit and refused, and
// the broker would not start.
func TestReplayKeepsTheBatchCompressed(t *testing.T) {
	c, emb := newCrash(t, func(cfg *EmbeddedConfig) { cfg.MaxMessageBytes = 1 << 20 })
	produce(t, emb, kafka.RequireAll, compress.Snappy, string(make([]byte, 2<<20))) // 2 MiB of zeros: a few KiB with snappy
	emb.Close()
	back := c.restart()
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
	c, emb := newCrash(t, nil)
	produce(t, emb, kafka.RequireNone, 0, "never acknowledged")
	waitFor(t, "the acks=0 batch", func() bool { end, _ := emb.partitionEnd("wa.events", 0); return end == 1 })
	if at := produce(t, emb, kafka.RequireAll, 0, "acknowledged"); at != 1 {
		t.Fatalf("the acknowledged batch at %d, want 1", at)
	}
	emb.Close()
	back := c.restart()
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

// After a crash of the machine, a consumer group's committed offset can
// be past the log's end: it consumed records never acknowledged that the
// log then lost (kfake serves a record before any flush, and its group
// state reaches the disk on its own schedule). New records must not land
// under the committed offset, where the group would never read them.
func TestRestartKeepsNewRecordsAboveTheCommittedOffset(t *testing.T) {
	c, emb := newCrash(t, func(cfg *EmbeddedConfig) { cfg.Protect = map[string][]string{"wa.events": {"wagw"}} })
	produce(t, emb, kafka.RequireNone, 0, "never acknowledged", "nor this", "nor this")
	waitFor(t, "the acks=0 records", func() bool { end, _ := emb.partitionEnd("wa.events", 0); return end == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(emb.Addr()), Timeout: 5 * time.Second}
	res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "wagw", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"wa.events": {{Partition: 0, Offset: 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Topics["wa.events"][0].Error; e != nil {
		t.Fatal(e)
	}
	emb.Close()
	// The group's state reached the disk; the log files did not.
	copyDir(t, filepath.Join(c.live, "groups.log"), filepath.Join(c.lost, "groups.log"))
	back := c.restart()
	defer back.Close()
	if at := produce(t, back, kafka.RequireAll, 0, "acknowledged after the restart"); at < 3 {
		t.Fatalf("a record acknowledged after the restart went to offset %d, under the group's committed offset 3: the group skips it", at)
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
