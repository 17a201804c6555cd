package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// groupSync makes the embedded broker's log files durable in groups, the
// way Postgres commits: every caller of Sync waits for one flush that
// started after it asked, and one flush serves every caller waiting at
// that moment. kfake writes each batch to its segment file (the page
// cache) before it answers; the broker's connections hold a Produce
// answer until Sync returns (durableConn), so an acknowledgement never
// precedes the flush that covers its write.
//
// A flush fdatasyncs every segment and index file under dir/partitions
// whose size changed since its last flush (kfake only appends to them, so
// their data and size are all a restart needs: fdatasync skips the
// timestamps an fsync would also write), and fsyncs every directory whose
// entries changed (a new partition, a rolled segment). An fsync error is sticky:
// after one, every Sync fails (the kernel may have dropped the pages it
// could not write, so a later fsync that succeeds proves nothing).
//
// Given a flush function instead (newFuncSync), it groups the callers of
// that function alike: the journal's appends (journal.go).
type groupSync struct {
	flushFn  func() error           // what a flush does: flush below, or the journal's sync
	root     string                 // dir/partitions
	syncFile func(f *os.File) error // a log file: fdatasync; a test's hook
	syncDir  func(f *os.File) error // a directory: (*os.File).Sync; the same hook
	kick     chan struct{}          // a caller is waiting
	stop     chan struct{}          // closed by close
	done     chan struct{}          // closed when run returns
	mu       sync.Mutex             // guards next and failed
	next     *flushGen              // the generation callers join now
	failed   error                  // the first fsync error, sticky
	files    map[string]*syncedFile // by path; touched by run only
	dirs     map[string]dirState    // by path, as of the last flush that succeeded; run only
	listed   map[string]dirState    // the listings of the flush in progress; run only
	dirty    map[string]bool        // directories to fsync, kept until one succeeds; run only
	flushes  atomic.Int64           // flushes run
	fsyncs   atomic.Int64           // files and directories fsynced
}

// flushGen is one flush: its callers wait on done, then read err.
type flushGen struct {
	done chan struct{}
	err  error
}

// syncedFile is one log file kept open to be fsynced, with the size it had
// when it was last fsynced.
type syncedFile struct {
	f      *os.File
	synced int64
}

// dirState is what a directory looked like when it was last listed.
type dirState struct {
	mtime  time.Time
	listed time.Time
	ents   []os.DirEntry // kept for the root only
}

// newGroupSync starts the flusher of dataDir's log. hook, when set,
// replaces both fdatasync and fsync (a test's).
func newGroupSync(dataDir string, hook func(*os.File) error) *groupSync {
	syncFile, syncDir := fdatasync, (*os.File).Sync
	if hook != nil {
		syncFile, syncDir = hook, hook
	}
	g := &groupSync{root: filepath.Join(dataDir, "partitions"), syncFile: syncFile, syncDir: syncDir,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		next: &flushGen{done: make(chan struct{})}, files: map[string]*syncedFile{}, dirs: map[string]dirState{},
		listed: map[string]dirState{}, dirty: map[string]bool{}}
	g.flushFn = g.flush
	go g.run()
	return g
}

// newFuncSync groups the callers of flush: each Sync waits for one call
// of flush that started after it.
func newFuncSync(flush func() error) *groupSync {
	g := &groupSync{flushFn: flush, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		next: &flushGen{done: make(chan struct{})}}
	go g.run()
	return g
}

// errSyncClosed is what Sync returns once the broker is closing.
var errSyncClosed = errors.New("embedded kafka: closed")

// Sync returns once a flush that started after the call has made every
// write that completed before the call durable.
func (g *groupSync) Sync(ctx context.Context) error {
	g.mu.Lock()
	if g.failed != nil {
		g.mu.Unlock()
		return g.failed
	}
	gen := g.next
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a kick is pending: the loop will take this generation
	}
	select {
	case <-gen.done:
		return gen.err
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return errSyncClosed
	}
}

// run flushes one generation per kick.
func (g *groupSync) run() {
	defer close(g.done)
	defer g.closeFiles()
	for {
		select {
		case <-g.stop:
			return
		case <-g.kick:
		}
		g.mu.Lock()
		gen := g.next
		g.next = &flushGen{done: make(chan struct{})}
		failed := g.failed
		g.mu.Unlock()
		if failed != nil {
			gen.err = failed
			close(gen.done)
			continue
		}
		gen.err = g.flushFn()
		g.flushes.Add(1)
		if gen.err != nil {
			gen.err = fmt.Errorf("embedded kafka: flush: %w", gen.err)
			// Only a failed fsync is final (the kernel may have dropped
			// the pages it could not write); anything else (a directory
			// gone between two listings, no file descriptor left) fails
			// this flush's waiters, and the next flush tries again.
			var ff fsyncFailed
			if errors.As(gen.err, &ff) {
				g.mu.Lock()
				g.failed = gen.err
				g.mu.Unlock()
			}
		}
		close(gen.done)
	}
}

func (g *groupSync) close() {
	close(g.stop)
	<-g.done
}

// flush finds the log files (listing a directory again only when it may
// have changed) and fsyncs those that grew, then the directories whose
// entries changed. What a flush that fails saw is not kept: the next one
// lists the same directories again (a file it could not open is tracked
// then) and fsyncs the directories it did not reach.
func (g *groupSync) flush() error {
	clear(g.listed)
	if err := g.flushLog(); err != nil {
		return err
	}
	maps.Copy(g.dirs, g.listed)
	return nil
}

func (g *groupSync) flushLog() error {
	parts, changed, err := g.list(g.root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // nothing written yet
		}
		return err
	}
	if changed { // a new partition; on the first flush, the new root too
		g.dirty[g.root], g.dirty[filepath.Dir(g.root)] = true, true
	}
	for _, p := range parts {
		if !p.IsDir() {
			continue
		}
		dir := filepath.Join(g.root, p.Name())
		ents, changed, err := g.list(dir)
		if err != nil {
			return err
		}
		if ents == nil && !changed {
			continue // unchanged: its files are tracked already
		}
		added, err := g.track(dir, ents)
		if err != nil {
			return err
		}
		if changed || added {
			g.dirty[dir] = true
		}
	}
	var grown []*syncedFile
	var sizes []int64
	for path, sf := range g.files {
		fi, err := sf.f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", path, err)
		}
		if fi.Size() != sf.synced {
			grown, sizes = append(grown, sf), append(sizes, fi.Size())
		}
	}
	if err := g.syncAll(grown); err != nil {
		return err
	}
	for i, sf := range grown {
		sf.synced = sizes[i]
	}
	for d := range g.dirty {
		if err := g.syncDirectory(d); err != nil {
			return err
		}
		delete(g.dirty, d)
	}
	return nil
}

// recentWindow is how close to the last listing a directory's mtime must
// be for the directory to be listed again even though its mtime did not
// change: the file system stamps times from a coarse clock (the kernel's
// tick; a whole second on ext4 with 128-byte inodes, or ext3), so an
// entry added after the last listing may leave the mtime as it was. A
// partition's directory changes only when a segment rolls, so listing it
// again for two seconds after costs little.
const recentWindow = 2 * time.Second

// list returns dir's entries when it must be (re)listed, nil when its
// mtime says nothing changed since the last listing (the root: its
// entries as last listed); changed reports a change of its entries since
// then (or a first listing).
func (g *groupSync) list(dir string) (ents []os.DirEntry, changed bool, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, false, err
	}
	st, seen := g.dirs[dir]
	now := time.Now()
	if seen && fi.ModTime().Equal(st.mtime) && st.listed.Sub(st.mtime) > recentWindow {
		return st.ents, false, nil
	}
	ents, err = os.ReadDir(dir)
	if err != nil {
		return nil, false, err
	}
	st2 := dirState{mtime: fi.ModTime(), listed: now}
	if dir == g.root {
		st2.ents = ents // the partitions, walked on every flush
	}
	g.listed[dir] = st2
	return ents, !seen || !fi.ModTime().Equal(st.mtime), nil
}

// track opens the log files of dir not yet tracked and forgets the ones
// that were removed (retention); added reports a file it had not seen.
func (g *groupSync) track(dir string, ents []os.DirEntry) (added bool, err error) {
	present := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".dat") || strings.HasSuffix(name, ".idx")) {
			continue
		}
		path := filepath.Join(dir, name)
		present[path] = true
		if g.files[path] != nil {
			continue
		}
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return added, err
		}
		g.files[path] = &syncedFile{f: f, synced: -1}
		added = true
	}
	for path, sf := range g.files {
		if filepath.Dir(path) == dir && !present[path] {
			sf.f.Close()
			delete(g.files, path)
		}
	}
	return added, nil
}

// syncAll fsyncs the files at once: the file system commits its journal
// once for fsyncs that wait together, so a flush of many partitions costs
// about one fsync, not one per file.
func (g *groupSync) syncAll(files []*syncedFile) error {
	if len(files) == 1 {
		return g.syncOne(files[0].f)
	}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, sf := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.syncOne(sf.f)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fsyncFailed is a failed fsync: final for the broker (see run).
type fsyncFailed struct{ err error }

func (e fsyncFailed) Error() string { return e.err.Error() }
func (e fsyncFailed) Unwrap() error { return e.err }

func (g *groupSync) syncOne(f *os.File) error {
	if err := fsyncWith(g.syncFile, f); err != nil {
		return err
	}
	g.fsyncs.Add(1)
	return nil
}

func (g *groupSync) syncDirectory(dir string) error {
	if err := syncPath(g.syncDir, dir); err != nil {
		return err
	}
	g.fsyncs.Add(1)
	return nil
}

// fsyncWith syncs f with sync (fdatasync, fsync or a test's hook); a
// failure is an fsyncFailed.
func fsyncWith(sync func(*os.File) error, f *os.File) error {
	if err := sync(f); err != nil {
		return fsyncFailed{fmt.Errorf("fsync %s: %w", f.Name(), err)}
	}
	return nil
}

// syncPath opens path (a directory) and syncs it with sync.
func syncPath(sync func(*os.File) error, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fsyncWith(sync, f)
}

func (g *groupSync) closeFiles() {
	for path, sf := range g.files {
		sf.f.Close()
		delete(g.files, path)
	}
}
