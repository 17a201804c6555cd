package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
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
