package broker

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// After a crash of the machine, a consumer group's committed offset can
// be past the log's end: it consumed records never acknowledged that the
// log then lost (kfake serves a record before any flush, and its group
// state reaches the disk on its own schedule). New records must not land
// under the committed offset, where the group would never read them.
func TestRestartKeepsNewRecordsAboveTheCommittedOffset(t *testing.T) {
	live, lost := t.TempDir(), t.TempDir()
	cfg := func(dir string) EmbeddedConfig {
		return EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: dir, Topics: []string{"wa.events"}, Partitions: 1,
			Protect: map[string][]string{"wa.events": {"wagw"}}, checkpointEvery: time.Hour}
	}
	emb, err := startEmbedded(cfg(live), nil)
	if err != nil {
		t.Fatal(err)
	}
	emb.Close()
	copyDir(t, live, lost) // the log files as the crash leaves them: none of the records below
	if emb, err = startEmbedded(cfg(live), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(emb.Addr()), Timeout: 5 * time.Second}
	for range 3 {
		if _, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "wa.events", Partition: 0, RequiredAcks: kafka.RequireNone,
			Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes([]byte("never acknowledged"))})}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the acks=0 records", func() bool { end, _ := emb.partitionEnd("wa.events", 0); return end == 3 })
	res, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "wagw", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"wa.events": {{Partition: 0, Offset: 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Topics["wa.events"][0].Error; e != nil {
		t.Fatal(e)
	}
	emb.Close()
	// The group state reached the disk; the log files did not.
	b, err := os.ReadFile(filepath.Join(live, "groups.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lost, "groups.log"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	back, err := startEmbedded(cfg(lost), nil)
	if err != nil {
		t.Fatalf("restart after the crash: %v", err)
	}
	defer back.Close()
	client = &kafka.Client{Addr: kafka.TCP(back.Addr()), Timeout: 5 * time.Second}
	pr, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "wa.events", Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{Value: kafka.NewBytes([]byte("acknowledged after the restart"))})})
	if err == nil && pr.Error != nil {
		err = pr.Error
	}
	if err != nil {
		t.Fatal(err)
	}
	if pr.BaseOffset < 3 {
		t.Fatalf("a record acknowledged after the restart went to offset %d, under the group's committed offset 3: the group skips it", pr.BaseOffset)
	}
}
