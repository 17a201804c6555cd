package broker

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncCounter is a sync hook that counts the fsyncs of each path.
type syncCounter struct {
	mu     sync.Mutex
	synced map[string]int
}

func (c *syncCounter) hook(f *os.File) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.synced == nil {
		c.synced = map[string]int{}
	}
	c.synced[f.Name()]++
	return nil
}

// newCountedSync is a group sync of dataDir's log whose fsyncs only
// count, closed when the test ends.
func newCountedSync(t *testing.T, dataDir string) (*groupSync, *syncCounter) {
	c := &syncCounter{}
	gs := newGroupSync(dataDir, c.hook)
	t.Cleanup(gs.close)
	return gs, c
}

func (c *syncCounter) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.synced[path]
}

// A flush that could not open a new log file (no file descriptor left)
// fails; the next flush opens and fsyncs it, even though its directory's
// mtime has not changed since the failed flush listed it.
func TestFlushTracksAFileAFailedFlushCouldNotOpen(t *testing.T) {
	data := t.TempDir()
	part := filepath.Join(data, "partitions", "wa.events-0")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0.dat", "0.idx"} {
		if err := os.WriteFile(filepath.Join(part, name), []byte("batch"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(recentWindow + 100*time.Millisecond) // the directory's mtime is no longer recent
	gs, c := newCountedSync(t, data)
	ctx := t.Context()

	err := withOneFreeDescriptor(t, func() error { return gs.Sync(ctx) })
	if err == nil {
		t.Fatal("a flush with one file descriptor free for two new files succeeded")
	}
	t.Logf("the flush short of descriptors: %v", err)
	idx := filepath.Join(part, "0.idx")
	for i := range 2 { // descriptors are back; the index file grows
		f, err := os.OpenFile(idx, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("more" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := gs.Sync(ctx); err != nil {
			t.Fatalf("flush %d after the descriptors came back: %v", i+2, err)
		}
	}
	if c.count(idx) == 0 {
		t.Fatal("0.idx grew and two flushes succeeded, but it was never fsynced")
	}
}

// withOneFreeDescriptor runs f with the process's open-files limit set so
// that exactly one more file can be opened.
func withOneFreeDescriptor(t *testing.T, f func() error) error {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	top := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			top = max(top, n)
		}
	}
	lim := old
	lim.Cur = uint64(top + 2)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var fill []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fill = append(fill, f)
	}
	if len(fill) == 0 {
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
		t.Fatal("could not take the free descriptors")
	}
	fill[len(fill)-1].Close()
	ferr := f()
	for _, f := range fill[:len(fill)-1] {
		f.Close()
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	return ferr
}

// A flush that fails after finding new directory entries (here a second
// partition's segment cannot be opened: it is a socket) fails; the next
// flush fsyncs the directories that changed, not only the log files.
func TestFlushAfterAFailureFsyncsTheChangedDirectories(t *testing.T) {
	data := t.TempDir()
	a := filepath.Join(data, "partitions", "a-0")
	b := filepath.Join(data, "partitions", "b-0")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(a, "0.dat"), []byte("batch"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(b, "0.dat")
	l, err := net.Listen("unix", sock) // opening it fails with ENXIO
	if err != nil {
		t.Fatal(err)
	}
	gs, c := newCountedSync(t, data)
	ctx := t.Context()
	if err := gs.Sync(ctx); err == nil {
		t.Fatal("a flush that could not open a segment succeeded")
	}
	l.Close()
	os.Remove(sock)
	if err := gs.Sync(ctx); err != nil {
		t.Fatalf("the flush after the cause was gone: %v", err)
	}
	if c.count(filepath.Join(a, "0.dat")) == 0 {
		t.Error("the segment was not fsynced")
	}
	for _, d := range []string{a, filepath.Join(data, "partitions"), data} {
		if c.count(d) == 0 {
			t.Errorf("directory %s holds a new entry but was never fsynced, and the flush succeeded", d)
		}
	}
}

// On a file system that stamps times to the second (ext4 with 128-byte
// inodes, ext3), a segment added in the same second as the directory's
// last change leaves its mtime as it was: the flush still finds and
// fsyncs it when that second is recent.
func TestFlushFindsASegmentAddedInTheSameSecond(t *testing.T) {
	data := t.TempDir()
	part := filepath.Join(data, "partitions", "wa.events-0")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(part, "0.dat"), []byte("batch"), 0o644); err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Add(-900 * time.Millisecond) // the second's stamp, 900 ms ago
	if err := os.Chtimes(part, stamp, stamp); err != nil {
		t.Fatal(err)
	}
	gs, c := newCountedSync(t, data)
	ctx := t.Context()
	if err := gs.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(part, "1.dat")
	if err := os.WriteFile(seg, []byte("rolled"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(part, stamp, stamp); err != nil { // the same coarse stamp
		t.Fatal(err)
	}
	if err := gs.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if c.count(seg) == 0 {
		t.Fatal("a segment added within the second of the directory's stamp was not fsynced")
	}
}
