package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/event"
)

// powerCut models a machine that loses its page cache: only what an
// fsync covered reaches the disk. Its sync hook copies a file, up to the
// size it has when the fsync starts, into a shadow directory (what the
// disk holds); cut freezes the shadow, the moment the power goes.
type powerCut struct {
	data, shadow string
	mu           sync.Mutex
	frozen       atomic.Bool // the power is off: acknowledgements from now on are not counted
	stalled      atomic.Bool // fsyncs reach nothing (the control's stalled flusher)
}

func (pc *powerCut) sync(f *os.File) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.frozen.Load() || pc.stalled.Load() {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(pc.data, f.Name())
	if err != nil {
		return err
	}
	dst := filepath.Join(pc.shadow, rel)
	if fi.IsDir() {
		return os.MkdirAll(dst, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	_, err = io.Copy(out, io.NewSectionReader(f, 0, fi.Size()))
	return err
}

// cut freezes the disk: later fsyncs reach nothing.
func (pc *powerCut) cut() {
	pc.mu.Lock()
	pc.frozen.Store(true)
	pc.mu.Unlock()
}

// keepMetadata copies the broker's state files (written and synced when
// the topics were created) into the shadow.
func (pc *powerCut) keepMetadata(t *testing.T) {
	ents, err := os.ReadDir(pc.data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(pc.data, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(pc.shadow, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// produceUntilCut runs writers that publish one event per call until the
// power is cut, and returns the ids acknowledged before the cut. before,
// when set, runs between the load and the cut.
func produceUntilCut(t *testing.T, addr string, sec Security, pc *powerCut, before func()) []string {
	t.Helper()
	prod := NewProducer(ProducerConfig{Brokers: []string{addr}, Security: sec, Topic: "wa.events", WriteTimeout: 5 * time.Second})
	defer prod.Close()
	var (
		mu    sync.Mutex
		acked []string
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("w%02d-%06d", w, i)
				err := prod.Publish(context.Background(), []event.Envelope{{Version: 1, ID: id, Kind: event.KindMessage,
					Contact: event.Contact{WaID: fmt.Sprintf("4917%08d", w*100000+i%50)}, OccurredAt: time.Now()}})
				if err != nil {
					continue // not acknowledged: not promised
				}
				if !pc.frozen.Load() { // acknowledged before the cut
					mu.Lock()
					acked = append(acked, id)
					mu.Unlock()
				}
			}
		}()
	}
	// At least a second of load and 200 acknowledgements (a loaded
	// machine may need longer), at most 30 s.
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 && time.Since(start) >= time.Second {
			break
		}
	}
	if before != nil {
		before()
	}
	pc.cut()
	stop.Store(true)
	wg.Wait()
	return acked
}

// survivors reads every record from a broker started on the shadow
// directory: what the machine finds after the power comes back.
func survivors(t *testing.T, shadow string, partitions int) map[string]bool {
	t.Helper()
	emb, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: shadow, Topics: []string{"wa.events"}, Partitions: partitions})
	if err != nil {
		t.Fatalf("restart on what reached the disk: %v", err)
	}
	defer emb.Close()
	got := map[string]bool{}
	for p := range partitions {
		conn, err := kafka.DialLeader(context.Background(), "tcp", emb.Addr(), "wa.events", p)
		if err != nil {
			t.Fatal(err)
		}
		first, last, err := conn.ReadOffsets()
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if last == first {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events", Partition: p, MaxWait: 50 * time.Millisecond})
		r.SetOffset(first)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m, err := r.FetchMessage(ctx)
			cancel()
			if err != nil {
				t.Fatalf("partition %d: read at %d of %d: %v", p, r.Offset(), last, err)
			}
			var e event.Envelope
			if err := json.Unmarshal(m.Value, &e); err != nil {
				t.Fatal(err)
			}
			got[e.ID] = true
			if m.Offset+1 >= last {
				break
			}
		}
		r.Close()
	}
	return got
}

func missing(acked []string, got map[string]bool) []string {
	var out []string
	for _, id := range acked {
		if !got[id] {
			out = append(out, id)
		}
	}
	return out
}

// TestGroupCommitSurvivesPowerCut: 16 writers publish one event per call
// until at least 200 were acknowledged; then the power goes (only what an fsync covered is kept).
// A broker started on what reached the disk (replaying its journal) holds
// every event that was acknowledged before the cut: no acknowledgement
// preceded the journal flush that covers it, and no checkpoint wiped
// journal records the log files did not hold. And the flushes were
// grouped: fewer flushes than writes.
// Both kinds of connection: over TCP (other processes) and in-process
// (serve's own clients, Embedded.Security).
func TestGroupCommitSurvivesPowerCut(t *testing.T) {
	for _, inproc := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "in-process"}[inproc], func(t *testing.T) {
			testGroupCommitSurvivesPowerCut(t, inproc)
		})
	}
}

func testGroupCommitSurvivesPowerCut(t *testing.T, inproc bool) {
	data := t.TempDir()
	pc := &powerCut{data: data, shadow: t.TempDir()}
	emb, err := startEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: data, Topics: []string{"wa.events"}, Partitions: 4,
		journalBytes: 256 << 10, checkpointEvery: 5 * time.Millisecond}, pc.sync) // the journal switches files and checkpoints all through the load
	if err != nil {
		t.Fatal(err)
	}
	pc.keepMetadata(t)
	sec := Security{}
	if inproc {
		sec = emb.Security()
	}
	acked := produceUntilCut(t, emb.Addr(), sec, pc, nil)
	if dials := emb.inproc.dials.Load(); inproc != (dials > 0) {
		t.Fatalf("%d in-process connections", dials)
	}
	flushes := emb.wal.Load().group.flushes.Load()
	checkpoints, _ := emb.JournalStats()
	emb.Close()
	if len(acked) < 200 {
		t.Fatalf("only %d events acknowledged in 30 s", len(acked))
	}
	got := survivors(t, pc.shadow, 4)
	if lost := missing(acked, got); len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged events lost in the power cut, e.g. %v", len(lost), len(acked), lost[:min(5, len(lost))])
	}
	t.Logf("%d events acknowledged before the cut, all on disk; %d journal flushes, %d checkpoints", len(acked), flushes, checkpoints)
	if checkpoints < 2 {
		t.Errorf("%d checkpoints: the journal did not take turns between its files under the load", checkpoints)
	}
	if flushes >= int64(len(acked)) {
		t.Errorf("%d flushes for %d acknowledged writes: the flushes were not grouped", flushes, len(acked))
	}
}

// TestPowerCutLosesUnflushedAcknowledgements is the check's control:
// with acknowledgements that do not wait for the flush (NoSync) and a
// flush every 20 ms that stops 300 ms before the cut, the events
// acknowledged in those 300 ms are not on disk, and the check above sees
// it.
func TestPowerCutLosesUnflushedAcknowledgements(t *testing.T) {
	data := t.TempDir()
	pc := &powerCut{data: data, shadow: t.TempDir()}
	emb, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: data, Topics: []string{"wa.events"}, Partitions: 4, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	pc.keepMetadata(t)
	gs := newGroupSync(data, pc.sync)
	flushing := make(chan struct{})
	go func() {
		defer close(flushing)
		for !pc.frozen.Load() {
			gs.Sync(context.Background())
			time.Sleep(20 * time.Millisecond)
		}
	}()
	acked := produceUntilCut(t, emb.Addr(), Security{}, pc, func() {
		pc.mu.Lock() // no flush reaches the disk from here on
		pc.stalled.Store(true)
		pc.mu.Unlock()
		time.Sleep(300 * time.Millisecond)
	})
	<-flushing
	gs.close()
	emb.Close()
	got := survivors(t, pc.shadow, 4)
	lost := missing(acked, got)
	if len(lost) == 0 {
		t.Fatalf("all %d acknowledged events survived a cut 300 ms after the last flush: the check cannot see a loss", len(acked))
	}
	t.Logf("without waiting for the flush, %d of %d acknowledged events were lost", len(lost), len(acked))
}

// A flush that fails for another reason than an fsync (here the log's
// partitions directory is not a directory) fails only its own waiters:
// once the cause is gone the next flush succeeds. A failed fsync is final.
func TestOnlyAFailedFsyncIsFinal(t *testing.T) {
	data := t.TempDir()
	root := filepath.Join(data, "partitions")
	if err := os.WriteFile(root, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	var failFsync atomic.Bool
	gs := newGroupSync(data, func(f *os.File) error {
		if failFsync.Load() {
			return errors.New("EIO")
		}
		return f.Sync()
	})
	defer gs.close()
	ctx := context.Background()
	if err := gs.Sync(ctx); err == nil {
		t.Fatal("a flush over a partitions path that is a file succeeded")
	}
	if err := os.Remove(root); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "wa.events-0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "wa.events-0", "0.dat"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gs.Sync(ctx); err != nil {
		t.Fatalf("the flush after the cause was gone: %v (a listing error was kept as final)", err)
	}
	failFsync.Store(true)
	if err := os.WriteFile(filepath.Join(root, "wa.events-0", "0.dat"), []byte("xy"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := gs.Sync(ctx); err == nil {
		t.Fatal("a flush whose fsync failed succeeded")
	}
	failFsync.Store(false)
	if err := gs.Sync(ctx); err == nil {
		t.Fatal("a flush after a failed fsync succeeded: a failed fsync must be final")
	}
}

// TestFdatasync: fdatasync syncs an open file and reports a closed one.
func TestFdatasync(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "0.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("batch")); err != nil {
		t.Fatal(err)
	}
	if err := fdatasync(f); err != nil {
		t.Fatalf("fdatasync: %v", err)
	}
	f.Close()
	if err := fdatasync(f); err == nil {
		t.Fatal("fdatasync of a closed file succeeded")
	}
}

// BenchmarkGroupSync is the flush a produce waits for: parallel writers
// each append a batch and its index entry to one of 12 partitions, then
// wait for a flush that covers it; with fdatasync (the default) and with
// fsync. flushes/op and files/op say how many writes one flush covered.
func BenchmarkGroupSync(b *testing.B) {
	for _, tc := range []struct {
		name string
		hook func(*os.File) error
	}{{"fdatasync", fdatasync}, {"fsync", (*os.File).Sync}} {
		b.Run(tc.name, func(b *testing.B) {
			data := b.TempDir()
			var files [12][2]*os.File
			for p := range files {
				dir := filepath.Join(data, "partitions", fmt.Sprintf("wa.events-%d", p))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				for i, name := range []string{"0.dat", "0.idx"} {
					f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					files[p][i] = f
				}
			}
			gs := newGroupSync(data, tc.hook)
			defer gs.close()
			batch, entry := make([]byte, 700), make([]byte, 15)
			var next atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p := files[next.Add(1)%int64(len(files))]
					if _, err := p[0].Write(batch); err != nil {
						b.Error(err)
					}
					if _, err := p[1].Write(entry); err != nil {
						b.Error(err)
					}
					if err := gs.Sync(context.Background()); err != nil {
						b.Error(err)
					}
				}
			})
			b.ReportMetric(float64(gs.flushes.Load())/float64(b.N), "flushes/op")
			b.ReportMetric(float64(gs.fsyncs.Load())/float64(b.N), "files/op")
		})
	}
}

// TestFlushStats: a durable broker counts the flush a produce waited for
// and the files it synced; one that does not wait counts nothing.
func TestFlushStats(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		emb, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Topics: []string{"wa.events"}, Partitions: 1, NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		prod := NewProducer(ProducerConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events"})
		err = prod.Publish(context.Background(), []event.Envelope{{Version: event.Version, ID: "e1", Kind: event.KindMessage,
			Contact: event.Contact{WaID: "4917"}, OccurredAt: time.Now()}})
		prod.Close()
		flushes, synced := emb.FlushStats()
		emb.Close()
		if err != nil {
			t.Fatal(err)
		}
		if noSync && (flushes != 0 || synced != 0) || !noSync && (flushes < 1 || synced < 2) {
			t.Errorf("NoSync %v: %d flushes, %d files synced", noSync, flushes, synced)
		}
	}
}
