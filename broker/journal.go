package broker

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagw/wagw/outage"
)

// journal is the embedded broker's write-ahead log, the way Postgres has
// its WAL: each Produce answer waits for the durable append of the request
// and its answer to one preallocated file, instead of for an fdatasync of
// every partition file the Produce wrote (a group over the events
// topic's twelve partitions wrote up to two dozen files, a segment and an
// index each, and their syncs took about ten times as long as one:
// BenchmarkGroupSync, BenchmarkJournalSync). kfake's own files are made durable in the background
// by checkpoints (the log files' group flush, flush.go), and a restart
// replays from the journal what they lost (replay.go).
//
// Two files take turns. A checkpoint switches the appends to the other
// file, then flushes kfake's files: every record of the first file was
// appended after kfake wrote the batches it describes, so once that flush
// returns the first file holds nothing the log lacks, and its first
// header is wiped so that no later replay reads it. The next checkpoint
// reuses it. A checkpoint runs every second, and early when
// the active file is half full; an append that finds the active file full
// waits for the switch.
//
// A record is a header, [crc32c][length][generation][request length],
// then the request and the answer as they crossed the wire. A record
// without a request is a checkpoint's mark: where every partition ended
// when the flush that completed it began (replay.go). A file's
// records carry its generation (one more at each switch), so reading
// stops at the first record that is torn, of another generation (left
// from the file's earlier use), or wiped.
type journal struct {
	size     int64                   // bytes of each file
	every    time.Duration           // the longest time between two checkpoints
	syncFile func(f *os.File) error  // fdatasync; a test's hook
	logs     *groupSync              // the log files' flush, run by checkpoints
	ends     func() []partitionFloor // every partition's end, for the checkpoints' marks; nil: no marks
	group    *groupSync              // groups the syncs that appends wait for

	mu      sync.Mutex
	cond    *sync.Cond // a switch happened, or the journal failed
	files   [2]*os.File
	gen     [2]uint64
	pos     [2]int64
	dirty   [2]bool  // appended since the file was last synced
	marked  [2]int64 // where the file's last mark ends (0: none)
	active  int
	failed  error // a failed checkpoint or sync: final
	pending bool  // a checkpoint was asked for

	kick chan struct{} // ask for a checkpoint now
	stop chan struct{}
	done chan struct{}

	syncs       atomic.Int64 // files fdatasynced
	checkpoints atomic.Int64
}

const (
	// journalBytes is the size of each of the two journal files.
	journalBytes = 32 << 20
	// checkpointEvery is the default longest time between two checkpoints.
	checkpointEvery = time.Second
	// journalHeader is the size of a record's header.
	journalHeader = 20
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// errRecordTooLarge: the record would take more than half a file;
	// its answer waits for the log files' flush instead.
	errRecordTooLarge = errors.New("embedded kafka: journal record too large")
)

// journalRecord is one Produce request and its answer, as read back.
type journalRecord struct {
	gen       uint64
	req, resp []byte
}

// journalPaths are the two files of the journal in dataDir.
func journalPaths(dataDir string) [2]string {
	dir := filepath.Join(dataDir, "journal")
	return [2]string{filepath.Join(dir, "0.wal"), filepath.Join(dir, "1.wal")}
}

// readJournal returns the valid records of both files, the older
// generation's first, and the highest generation seen.
func readJournal(dataDir string) ([]journalRecord, uint64, error) {
	var files [2][]journalRecord
	var top uint64
	for i, path := range journalPaths(dataDir) {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		files[i] = scanJournal(b)
		if len(files[i]) > 0 {
			top = max(top, files[i][0].gen)
		}
	}
	if len(files[0]) > 0 && len(files[1]) > 0 && files[1][0].gen < files[0][0].gen {
		files[0], files[1] = files[1], files[0]
	}
	return append(files[0], files[1]...), top, nil
}

// scanJournal reads b's records up to the first that is torn, wiped, or
// of another generation than the first.
func scanJournal(b []byte) []journalRecord {
	var out []journalRecord
	for pos := 0; pos+journalHeader <= len(b); {
		h := b[pos : pos+journalHeader]
		n64 := int64(binary.BigEndian.Uint32(h[4:8])) // int64: an int of 32 bits would go negative
		gen := binary.BigEndian.Uint64(h[8:16])
		reqLen64 := int64(binary.BigEndian.Uint32(h[16:20]))
		if n64 == 0 || n64 > int64(len(b)-pos-journalHeader) || reqLen64 > n64 || (len(out) > 0 && gen != out[0].gen) {
			break
		}
		n, reqLen := int(n64), int(reqLen64)
		end := pos + journalHeader + n
		if crc32.Checksum(b[pos+4:end], castagnoli) != binary.BigEndian.Uint32(h[0:4]) {
			break
		}
		body := b[pos+journalHeader : end]
		out = append(out, journalRecord{gen: gen, req: body[:reqLen], resp: body[reqLen:]})
		pos = end
	}
	return out
}

// openJournal opens (or creates and fills with zeros) the two files of
// dataDir's journal; appends start in file 0 at generation gen. The
// caller has replayed what the files held and flushed the log: their
// records are wiped first. ends, when set, gives the checkpoints' marks.
func openJournal(dataDir string, size int64, every time.Duration, gen uint64, syncFile func(*os.File) error, logs *groupSync,
	ends func() []partitionFloor) (*journal, error) {
	j := &journal{size: size, every: every, syncFile: syncFile, logs: logs, ends: ends,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	j.cond = sync.NewCond(&j.mu)
	paths := journalPaths(dataDir)
	if err := os.MkdirAll(filepath.Dir(paths[0]), 0o755); err != nil {
		return nil, err
	}
	created := false
	for i, path := range paths {
		f, made, err := preallocate(path, size, syncFile)
		if err != nil {
			j.closeFiles()
			return nil, err
		}
		j.files[i], created = f, created || made
		if err := j.wipe(i); err != nil {
			j.closeFiles()
			return nil, err
		}
	}
	if created {
		if err := syncPath(syncFile, filepath.Dir(paths[0])); err != nil {
			j.closeFiles()
			return nil, err
		}
	}
	j.gen = [2]uint64{gen, gen - 1}
	j.group = newFuncSync(j.sync)
	go j.runCheckpoints()
	return j, nil
}

// preallocate opens path, first writing it full of zeros (synced) when it
// is shorter than size: appends then overwrite blocks the file already
// has, so their fdatasync writes no metadata.
func preallocate(path string, size int64, syncFile func(*os.File) error) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() >= size {
		return f, false, err
	}
	zeros := make([]byte, 1<<20)
	for off := fi.Size(); off < size; off += int64(len(zeros)) {
		if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), size-off)], off); err != nil {
			f.Close()
			return nil, false, err
		}
	}
	if err := fsyncWith(syncFile, f); err != nil {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}

// wipe zeroes file i's first header and syncs it: the file holds no
// record from now on.
func (j *journal) wipe(i int) error {
	if _, err := j.files[i].WriteAt(make([]byte, journalHeader), 0); err != nil {
		return err
	}
	if err := fsyncWith(j.syncFile, j.files[i]); err != nil {
		return err
	}
	j.syncs.Add(1)
	return nil
}

// append writes a Produce request and its answer to the active file (not
// yet durable: sync is). When the file is full it waits for the switch,
// at most until ctx ends.
func (j *journal) append(ctx context.Context, req, resp []byte) error {
	n := journalHeader + len(req) + len(resp)
	if int64(n) > j.size/2 {
		return errRecordTooLarge
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed == nil && j.pos[j.active]+int64(n) > j.size { // full: wait for the switch
		stop := context.AfterFunc(ctx, func() {
			j.mu.Lock()
			j.cond.Broadcast()
			j.mu.Unlock()
		})
		defer stop()
		for j.failed == nil && ctx.Err() == nil && j.pos[j.active]+int64(n) > j.size {
			j.askCheckpoint()
			j.cond.Wait()
		}
	}
	if j.failed != nil {
		return j.failed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("embedded kafka: the journal is full and its checkpoint has not freed a file: %w", err)
	}
	a := j.active
	if _, err := j.files[a].WriteAt(encodeRecord(j.gen[a], req, resp), j.pos[a]); err != nil {
		return err
	}
	j.pos[a] += int64(n)
	j.dirty[a] = true
	if j.pos[a] > j.size/2 {
		j.askCheckpoint()
	}
	return nil
}

// durable returns once a Produce request and its answer are in the
// journal and a sync that started after their append made them durable.
func (j *journal) durable(ctx context.Context, req, resp []byte) error {
	if err := j.append(ctx, req, resp); err != nil {
		return err
	}
	return j.group.Sync(ctx)
}

// encodeRecord is a journal record: header, request, answer.
func encodeRecord(gen uint64, req, resp []byte) []byte {
	rec := make([]byte, journalHeader+len(req)+len(resp))
	copy(rec[journalHeader:], req)
	copy(rec[journalHeader+len(req):], resp)
	binary.BigEndian.PutUint32(rec[4:8], uint32(len(req)+len(resp)))
	binary.BigEndian.PutUint64(rec[8:16], gen)
	binary.BigEndian.PutUint32(rec[16:20], uint32(len(req)))
	binary.BigEndian.PutUint32(rec[0:4], crc32.Checksum(rec[4:], castagnoli))
	return rec
}

// askCheckpoint wakes the checkpointer once; j.mu is held.
func (j *journal) askCheckpoint() {
	if j.pending {
		return
	}
	j.pending = true
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// sync makes every record appended so far durable: the flush of the
// group sync that Produce answers wait for.
func (j *journal) sync() error {
	j.mu.Lock()
	if j.failed != nil {
		j.mu.Unlock()
		return j.failed
	}
	var todo []*os.File
	for i, d := range j.dirty {
		if d {
			todo = append(todo, j.files[i])
			j.dirty[i] = false
		}
	}
	j.mu.Unlock()
	for _, f := range todo {
		if err := fsyncWith(j.syncFile, f); err != nil {
			j.fail(err)
			return err
		}
		j.syncs.Add(1)
	}
	return nil
}

func (j *journal) fail(err error) {
	j.mu.Lock()
	if j.failed == nil {
		j.failed = err
	}
	j.cond.Broadcast()
	j.mu.Unlock()
}

// runCheckpoints runs a checkpoint every j.every, or when asked.
func (j *journal) runCheckpoints() {
	defer close(j.done)
	t := time.NewTicker(j.every)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
		case <-j.kick:
		}
		if err := j.checkpoint(); err != nil {
			j.fail(fmt.Errorf("embedded kafka: checkpoint: %w", err))
			return
		}
	}
}

// checkpoint switches the appends to the other file, flushes the log
// files, then wipes the file it switched from. It does nothing when
// nothing but the last checkpoint's mark was appended since the switch,
// unless that mark left the file more than half full: appends filled it
// while the log files were flushed, and the next may not fit.
func (j *journal) checkpoint() error {
	j.mu.Lock()
	old := j.active
	if j.pos[old] == 0 || (j.pos[old] == j.marked[old] && j.pos[old] <= j.size/2) {
		j.pending = false
		j.mu.Unlock()
		return nil // nothing appended since the last switch but its mark, and room for more
	}
	a := 1 - old
	j.active, j.gen[a], j.pos[a], j.marked[a], j.pending = a, j.gen[old]+1, 0, 0, false
	j.cond.Broadcast()
	j.mu.Unlock()
	var ends []partitionFloor
	if j.ends != nil {
		ends = j.ends() // after the switch: the flush below covers every record under them
	}
	if err := j.flushLogs(); err != nil {
		return err
	}
	if err := j.mark(ends); err != nil {
		return err
	}
	if err := j.wipe(old); err != nil {
		return err
	}
	j.mu.Lock()
	j.pos[old] = 0 // wiped: ready for the next switch
	j.mu.Unlock()
	j.checkpoints.Add(1)
	return nil
}

// mark appends the partitions' ends, made durable by the flush that just
// ended, to the active file and syncs it, before the checkpoint wipes the
// file that held the last mark. Without room (the file is full) or ends
// it writes nothing: a replay then knows no floor and refuses any gap, as
// it would without marks.
func (j *journal) mark(ends []partitionFloor) error {
	if len(ends) == 0 {
		return nil
	}
	payload, err := json.Marshal(ends)
	if err != nil {
		return err
	}
	j.mu.Lock()
	a := j.active
	if j.failed != nil || j.pos[a]+int64(journalHeader+len(payload)) > j.size {
		j.mu.Unlock()
		return nil
	}
	if _, err := j.files[a].WriteAt(encodeRecord(j.gen[a], nil, payload), j.pos[a]); err != nil {
		j.mu.Unlock()
		return err
	}
	j.pos[a] += int64(journalHeader + len(payload))
	j.dirty[a], j.marked[a] = true, j.pos[a]
	j.mu.Unlock()
	return j.group.Sync(context.Background())
}

// flushLogs runs the log files' flush until it succeeds. Only a failed
// fsync is final; another failure (a directory listing, no file
// descriptor left) is tried again, while the appends go on in the active
// file (and wait, once it is full).
func (j *journal) flushLogs() error {
	back := outage.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := j.logs.Sync(context.Background())
		var ff fsyncFailed
		if err == nil || errors.As(err, &ff) {
			return err
		}
		select {
		case <-j.stop:
			return errSyncClosed
		case <-time.After(back.Next()):
		}
	}
}

// close stops the checkpoints and closes the files; the log's own close
// makes kfake's files durable.
func (j *journal) close() {
	close(j.stop)
	<-j.done
	j.fail(errSyncClosed)
	j.group.close()
	j.closeFiles()
}

func (j *journal) closeFiles() {
	for _, f := range j.files {
		if f != nil {
			f.Close()
		}
	}
}
