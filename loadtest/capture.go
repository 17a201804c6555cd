package loadtest

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wagw/wagw/whatsapp"
)

// CaptureRecord is one line of a capture file (JSONL): a webhook with its
// arrival (or, for generated traffic, intended send) time, its request
// headers and its body. Body holds the raw bytes exactly (a JSON string
// decodes back to the same bytes); a body that is not valid UTF-8, which a
// JSON string cannot carry unchanged, is in BodyBase64 instead. The
// gateway's capture setting writes it through CaptureFile, `wagw loadtest
// generate` through CaptureWriter, and Replay reads it.
type CaptureRecord struct {
	At         time.Time         `json:"at"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body,omitempty"`
	BodyBase64 string            `json:"body_base64,omitempty"`
}

// newCaptureRecord keeps body exactly, at at in UTC; headers may be nil.
func newCaptureRecord(body []byte, headers map[string]string, at time.Time) CaptureRecord {
	rec := CaptureRecord{At: at.UTC(), Headers: headers}
	if rec.Headers == nil {
		rec.Headers = map[string]string{}
	}
	if utf8.Valid(body) {
		rec.Body = string(body)
	} else {
		rec.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	return rec
}

// encode appends the record's line to w: JSON without escaping <, > and &,
// and a newline.
func (r *CaptureRecord) encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// Bytes returns the body's raw bytes.
func (r *CaptureRecord) Bytes() ([]byte, error) {
	if r.BodyBase64 != "" {
		return base64.StdEncoding.DecodeString(r.BodyBase64)
	}
	return []byte(r.Body), nil
}

// CaptureWriter writes requests in the capture format.
type CaptureWriter struct {
	w      *bufio.Writer
	start  time.Time
	secret []byte
	n      int
}

// NewCaptureWriter writes to w; start anchors the requests' offsets. With a
// secret, each line carries the X-Hub-Signature-256 that secret gives
// (replay signs again with the target's secret anyway).
func NewCaptureWriter(w io.Writer, start time.Time, secret []byte) *CaptureWriter {
	return &CaptureWriter{w: bufio.NewWriterSize(w, 256<<10), start: start, secret: secret}
}

// Write appends one request.
func (c *CaptureWriter) Write(req Request) error {
	headers := make(map[string]string, len(req.Headers)+1)
	for k, v := range req.Headers {
		headers[k] = v
	}
	if len(c.secret) > 0 {
		headers[whatsapp.SignatureHeader] = whatsapp.Sign(c.secret, req.Body)
	}
	rec := newCaptureRecord(req.Body, headers, c.start.Add(req.At))
	c.n++
	return rec.encode(c.w)
}

// Count returns how many requests were written.
func (c *CaptureWriter) Count() int { return c.n }

// Flush writes what is buffered.
func (c *CaptureWriter) Flush() error { return c.w.Flush() }

// CaptureFile appends every accepted webhook to a JSONL file, one
// CaptureRecord per line, and rotates the file by size. Its Write method
// has the signature of the gateway's Config.Capture. It is safe for
// concurrent use.
//
// Rotation: when a line would take the file past maxBytes, the file is
// closed and renamed to "<name>-<UTC time>.<ext>" (for example
// capture-20260102T150405.123456789Z.jsonl, which sorts in time order) and
// a new file is started at path. A single line larger than maxBytes is
// still written, alone in its file.
type CaptureFile struct {
	path     string
	maxBytes int64

	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
	err    error // first write error
	lines  int64
}

// NewCaptureFile opens (appending to) path, creating its directory.
// maxBytes <= 0 disables rotation.
func NewCaptureFile(path string, maxBytes int64) (*CaptureFile, error) {
	if path == "" {
		return nil, errors.New("loadtest: capture path is empty")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("loadtest: capture dir: %w", err)
		}
	}
	w := &CaptureFile{path: path, maxBytes: maxBytes}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *CaptureFile) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("loadtest: capture file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("loadtest: capture file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write appends one webhook. body is written exactly as given; headers are
// the request headers as received. Errors are kept (see Err) rather than
// returned, since the webhook was already accepted; after Close, Write
// does nothing.
func (w *CaptureFile) Write(body []byte, headers map[string]string, at time.Time) {
	rec := newCaptureRecord(body, headers, at)
	var sb strings.Builder
	if err := rec.encode(&sb); err != nil { // cannot fail for these types
		w.fail(err)
		return
	}
	line := sb.String()

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	if w.maxBytes > 0 && w.size > 0 && w.size+int64(len(line)) > w.maxBytes {
		if err := w.rotate(); err != nil {
			w.setErr(err)
			return
		}
	}
	n, err := w.f.WriteString(line)
	w.size += int64(n)
	if err != nil {
		w.setErr(fmt.Errorf("loadtest: capture write: %w", err))
		return
	}
	w.lines++
}

// rotate renames the full file and opens a new one. Called with mu held.
func (w *CaptureFile) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("loadtest: capture close: %w", err)
	}
	ext := filepath.Ext(w.path)
	base := strings.TrimSuffix(w.path, ext)
	now := time.Now().UTC()
	var dst string
	for { // two rotations within one clock tick: the next nanosecond keeps the order
		dst = base + "-" + now.Format("20060102T150405.000000000Z") + ext
		if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		now = now.Add(time.Nanosecond)
	}
	if err := os.Rename(w.path, dst); err != nil {
		return fmt.Errorf("loadtest: capture rotate: %w", err)
	}
	return w.open()
}

func (w *CaptureFile) fail(err error) {
	w.mu.Lock()
	w.setErr(err)
	w.mu.Unlock()
}

func (w *CaptureFile) setErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Err returns the first error a Write met, or nil.
func (w *CaptureFile) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Lines returns how many webhooks were written.
func (w *CaptureFile) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Close flushes and closes the file. Later writes are dropped. It is safe
// to call more than once.
func (w *CaptureFile) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return err
	}
	return w.f.Close()
}
