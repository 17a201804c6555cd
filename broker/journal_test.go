package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// TestScanJournalStopsAtTheEnd: reading stops at a torn record, at a
// wiped header, and at a record of another generation left from the
// file's earlier use.
func TestScanJournalStopsAtTheEnd(t *testing.T) {
	logs := newGroupSync(t.TempDir(), nil)
	defer logs.close()
	dir := t.TempDir()
	j, err := openJournal(dir, 1<<16, time.Hour, 7, fdatasync, logs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := j.append(context.Background(), []byte(fmt.Sprintf("request %d", i)), []byte(fmt.Sprintf("answer %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.sync(); err != nil {
		t.Fatal(err)
	}
	j.close()
	path := journalPaths(dir)[0]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs := scanJournal(b)
	if len(recs) != 3 || string(recs[2].req) != "request 2" || string(recs[2].resp) != "answer 2" || recs[0].gen != 7 {
		t.Fatalf("read back %+v", recs)
	}
	torn := bytes.Clone(b)
	end := 3 * (journalHeader + len("request 0answer 0"))
	torn[end-1] ^= 0xff // the last record's last byte
	if n := len(scanJournal(torn)); n != 2 {
		t.Errorf("a torn third record: %d records read, want 2", n)
	}
	// A record whose generation changed without its checksum.
	bad := bytes.Clone(b)
	bad[15] = 9 // generation (big-endian, low byte)
	if recs := scanJournal(bad); len(recs) != 0 {
		t.Errorf("a record whose generation changed without its checksum: %d read", len(recs))
	}
	// The file used again at generation 9: one record of the same size
	// over the first; the two after it, whole and valid, are left from
	// generation 7.
	again := bytes.Clone(b)
	copy(again, encodeRecord(9, []byte("request 9"), []byte("answer 9")))
	if recs := scanJournal(again); len(recs) != 1 || recs[0].gen != 9 {
		t.Errorf("a file used again: %d records read, want generation 9's one", len(recs))
	}
	wiped := bytes.Clone(b)
	copy(wiped, make([]byte, journalHeader))
	if n := len(scanJournal(wiped)); n != 0 {
		t.Errorf("a wiped file: %d records read", n)
	}
}

// testJournal opens a journal of two size-byte files in data that
// checkpoints only when asked, its files and the log files' flush synced
// by hook (nil: fdatasync); both close when the test ends.
func testJournal(tb testing.TB, data string, size int64, hook func(*os.File) error) *journal {
	tb.Helper()
	logs := newGroupSync(data, hook)
	tb.Cleanup(logs.close)
	syncFile := hook
	if syncFile == nil {
		syncFile = fdatasync
	}
	j, err := openJournal(data, size, time.Hour, 1, syncFile, logs, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(j.close)
	return j
}

// journalBroker starts a durable broker on dir whose journal never
// checkpoints on its own.
func journalBroker(t *testing.T, dir string) *Embedded {
	t.Helper()
	emb, err := startEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: dir, Topics: []string{"wa.events"}, Partitions: 3,
		journalBytes: 4 << 20, checkpointEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return emb
}

// publishN publishes n events one per request from each of writers
// producers at once (their own connections), ids prefix-w-i.
func publishN(t *testing.T, emb *Embedded, prefix string, n, writers int) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prod := NewProducer(ProducerConfig{Brokers: []string{emb.Addr()}, Security: emb.Security(), Topic: "wa.events", WriteTimeout: 10 * time.Second})
			defer prod.Close()
			for i := range n {
				err := prod.Publish(context.Background(), []event.Envelope{{Version: event.Version, ID: fmt.Sprintf("%s-%d-%03d", prefix, w, i),
					Kind: event.KindMessage, Contact: event.Contact{WaID: fmt.Sprintf("4917%04d", (w*n+i)%7)}, OccurredAt: time.Now()}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// logOf reads every partition: offset and event id of each record.
func logOf(t *testing.T, emb *Embedded) string {
	t.Helper()
	var sb strings.Builder
	for p := range 3 {
		for _, m := range wagwtest.ReadPartition(t, emb.Addr(), "wa.events", p) {
			var e event.Envelope
			if err := event.Decode(m.Value, &e); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&sb, "%d/%d %s %s\n", p, m.Offset, m.Key, e.ID)
		}
	}
	return sb.String()
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestJournalGivesBackWhatTheLogLost: a broker whose log files hold only
// the first part of what was acknowledged (a copy taken then) and whose
// journal is the live one's starts with every record, at the offsets it
// was acknowledged with: the second part replayed, the first skipped.
// Four producers write the second part at once, so the journal's order
// (answers as they were written) is not each partition's order.
func TestJournalGivesBackWhatTheLogLost(t *testing.T) {
	live, lost := t.TempDir(), t.TempDir()
	emb := journalBroker(t, live)
	publishN(t, emb, "first", 20, 1)
	emb.Close()
	copyDir(t, live, lost) // the log as it was after the first part
	emb = journalBroker(t, live)
	publishN(t, emb, "second", 60, 4)
	want := logOf(t, emb)
	emb.Close()
	if err := os.RemoveAll(filepath.Join(lost, "journal")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(live, "journal"), filepath.Join(lost, "journal"))

	back := journalBroker(t, lost)
	defer back.Close()
	if _, replayed := back.JournalStats(); replayed != 240 {
		t.Errorf("%d records replayed, want the second part's 240", replayed)
	}
	if got := logOf(t, back); got != want {
		t.Fatalf("after the replay:\n%s\nacknowledged:\n%s", got, want)
	}
	if strings.Count(want, "\n") != 260 {
		t.Fatalf("%d records acknowledged, want 260", strings.Count(want, "\n"))
	}
}

// TestJournalRefusesAGap: a journal whose records start past the end of
// the log (a checkpoint wiped the records before them, and the log lost
// them too) fails the start with a reason, rather than storing records at
// offsets other than those acknowledged.
func TestJournalRefusesAGap(t *testing.T) {
	live, empty := t.TempDir(), t.TempDir()
	emb := journalBroker(t, empty) // topics, no records
	emb.Close()
	emb = journalBroker(t, live)
	publishN(t, emb, "first", 10, 1)
	j := emb.wal.Load()
	checkpointAsked(j) // the first half: in the log, wiped from the journal
	waitFor(t, "a checkpoint", func() bool { return j.checkpoints.Load() == 1 })
	publishN(t, emb, "second", 10, 1)
	emb.Close()
	if err := os.RemoveAll(filepath.Join(empty, "journal")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(live, "journal"), filepath.Join(empty, "journal"))
	back, err := startEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: empty, Topics: []string{"wa.events"}, Partitions: 3}, nil)
	if err == nil {
		back.Close()
		t.Fatal("a journal that starts past the end of the log was replayed")
	}
	if !strings.Contains(err.Error(), "are lost") {
		t.Fatalf("error %q does not say records are lost", err)
	}
}

// TestCheckpointsTakeTurns: with small journal files the appends fill
// them and the checkpoints switch between the two; every acknowledged
// record survives a restart.
func TestCheckpointsTakeTurns(t *testing.T) {
	dir := t.TempDir()
	emb, err := startEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: dir, Topics: []string{"wa.events"}, Partitions: 3,
		journalBytes: 8 << 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, emb, "e", 100, 1)
	want := logOf(t, emb)
	checkpoints, _ := emb.JournalStats()
	emb.Close()
	if checkpoints < 3 {
		t.Errorf("%d checkpoints for 100 records in journal files of 8 KiB", checkpoints)
	}
	back := journalBroker(t, dir)
	defer back.Close()
	if got := logOf(t, back); got != want {
		t.Fatalf("after a restart:\n%s\nbefore:\n%s", got, want)
	}
}

// checkpointAsked asks j's checkpointer for a checkpoint.
func checkpointAsked(j *journal) {
	j.mu.Lock()
	j.askCheckpoint()
	j.mu.Unlock()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// TestACheckpointWaitsOutAFailedLogFlush: a checkpoint whose flush of the
// log files fails for another reason than an fsync (the partitions path
// is not a directory) tries again until it works, and only then frees
// the journal file; meanwhile appends go on, and once the active file is
// full they wait at most as long as their context. A failed fsync ends
// the journal.
func TestACheckpointWaitsOutAFailedLogFlush(t *testing.T) {
	data := t.TempDir()
	root := filepath.Join(data, "partitions")
	if err := os.WriteFile(root, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	var failFsync atomic.Bool
	hook := func(f *os.File) error {
		if failFsync.Load() {
			return errors.New("EIO")
		}
		return fdatasync(f)
	}
	j := testJournal(t, data, 1<<16, hook)
	ctx := context.Background()
	if err := j.append(ctx, []byte("request"), []byte("answer")); err != nil {
		t.Fatal(err)
	}
	checkpointAsked(j)
	time.Sleep(300 * time.Millisecond)
	if n := j.checkpoints.Load(); n != 0 {
		t.Fatalf("%d checkpoints ended while the log files could not be flushed", n)
	}
	if err := j.append(ctx, []byte("request 2"), []byte("answer 2")); err != nil {
		t.Fatalf("an append while the checkpoint waits: %v", err)
	}
	half := make([]byte, 1<<15-journalHeader)
	if err := j.append(ctx, half, nil); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := j.append(short, half, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an append to a full journal whose checkpoint waits: %v, want the context's deadline", err)
	}
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the checkpoint once the log files could be flushed", func() bool { return j.checkpoints.Load() >= 1 })
	if err := j.append(ctx, half, nil); err != nil {
		t.Fatalf("an append after the checkpoint freed a file: %v", err)
	}
	failFsync.Store(true)
	checkpointAsked(j)
	waitFor(t, "the journal failing after a failed fsync", func() bool {
		return j.append(ctx, []byte("request 3"), nil) != nil
	})
}

// BenchmarkJournalSync is BenchmarkGroupSync's produce with the journal:
// parallel writers each append a record of the same size (a batch and its
// index entry) and wait for a journal flush that covers it.
func BenchmarkJournalSync(b *testing.B) {
	j := testJournal(b, b.TempDir(), journalBytes, nil)
	req := make([]byte, 700+15)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := j.durable(context.Background(), req, nil); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(j.group.flushes.Load())/float64(b.N), "flushes/op")
	b.ReportMetric(float64(j.syncs.Load())/float64(b.N), "files/op")
}

// TestProduceAcks reads the acks of Produce requests as kafka-go writes
// them: an acks=0 request has no answer, and is not kept for the journal.
func TestProduceAcks(t *testing.T) {
	for _, tc := range []struct {
		version int16
		txn     string
		acks    int16
	}{{3, "", 0}, {7, "", -1}, {8, "a-transaction", 1}, {5, "", 0}} {
		var buf bytes.Buffer
		req := &produceAPI.Request{TransactionalID: tc.txn, Acks: tc.acks, Timeout: 1000}
		if err := protocol.WriteRequest(&buf, tc.version, 42, "client-id", req); err != nil {
			t.Fatal(err)
		}
		acks, ok := produceAcks(buf.Bytes())
		if !ok || acks != tc.acks {
			t.Errorf("v%d %q: acks %d, %v; want %d", tc.version, tc.txn, acks, ok, tc.acks)
		}
		if _, ok := produceAcks(buf.Bytes()[:16]); ok {
			t.Errorf("v%d: a truncated request read", tc.version)
		}
	}
}

// FuzzScanJournal: whatever a journal file holds (a disk's garbage, a
// torn write), reading it neither panics nor returns a record that is not
// there: every record read encodes back to the bytes it was read from.
func FuzzScanJournal(f *testing.F) {
	f.Add(append(encodeRecord(3, []byte("request"), []byte("answer")), encodeRecord(3, []byte("r2"), nil)...))
	f.Add(append(encodeRecord(3, []byte("request"), []byte("answer")), encodeRecord(4, []byte("r2"), nil)...))
	f.Add(make([]byte, journalHeader))
	f.Fuzz(func(t *testing.T, b []byte) {
		pos := 0
		for _, r := range scanJournal(b) {
			enc := encodeRecord(r.gen, r.req, r.resp)
			if !bytes.Equal(enc, b[pos:pos+len(enc)]) {
				t.Fatalf("record at %d does not encode back to its bytes", pos)
			}
			pos += len(enc)
		}
	})
}

// TestAFullFileEndingInAMarkIsSwitched: a checkpoint's mark can land at
// the end of a file the appends filled while the log files were flushed;
// an append that does not fit after it waits for the next checkpoint,
// which must switch files although nothing but the mark was appended
// since the last switch (it did not: the append waited until its
// context ended, and TestCheckpointsTakeTurns hung on a loaded machine).
func TestAFullFileEndingInAMarkIsSwitched(t *testing.T) {
	j := testJournal(t, t.TempDir(), 1<<12, nil)
	req := make([]byte, 300)
	j.mu.Lock()
	j.pending = true // no checkpoint while the file fills
	j.mu.Unlock()
	for j.pos[j.active]+int64(journalHeader+len(req)) <= j.size { // fill the active file
		if err := j.append(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
	}
	j.mu.Lock()
	j.marked[j.active] = j.pos[j.active] // as if the last record were a checkpoint's mark
	j.pending = false
	j.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := j.append(ctx, req, nil); err != nil {
		t.Fatalf("an append after a full file ending in a mark: %v", err)
	}
}
