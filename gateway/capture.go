package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// CaptureRecord is one line of a capture file: an accepted webhook as it
// arrived. Body holds the raw bytes exactly (a JSON string decodes back to
// the same bytes); a body that is not valid UTF-8, which a JSON string
// cannot carry unchanged, is written to BodyBase64 instead. `wagw loadtest
// replay` reads this format, and `wagw loadtest generate` writes it.
type CaptureRecord struct {
	At         time.Time         `json:"at"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body,omitempty"`
	BodyBase64 string            `json:"body_base64,omitempty"`
}

// CaptureWriter appends every accepted webhook to a JSONL file, one
// CaptureRecord per line, and rotates the file by size. Its Write method
// has the signature of Config.Capture. It is safe for concurrent use.
//
// Rotation: when a line would take the file past maxBytes, the file is
// closed and renamed to "<name>-<UTC time>.<ext>" (for example
// capture-20260102T150405.123456789Z.jsonl, which sorts in time order) and
// a new file is started at path. A single line larger than maxBytes is
// still written, alone in its file.
type CaptureWriter struct {
	path     string
	maxBytes int64

	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
	err    error // first write error
	lines  int64
}

// NewCaptureWriter opens (appending to) path, creating its directory.
// maxBytes <= 0 disables rotation.
func NewCaptureWriter(path string, maxBytes int64) (*CaptureWriter, error) {
	if path == "" {
		return nil, errors.New("gateway: capture path is empty")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("gateway: capture dir: %w", err)
		}
	}
	w := &CaptureWriter{path: path, maxBytes: maxBytes}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *CaptureWriter) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("gateway: capture file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("gateway: capture file: %w", err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write appends one webhook. body is written exactly as given; headers are
// the request headers as received. Errors are kept (see Err) rather than
// returned, since the webhook was already accepted; after Close, Write
// does nothing.
func (w *CaptureWriter) Write(body []byte, headers map[string]string, at time.Time) {
	rec := CaptureRecord{At: at.UTC(), Headers: headers}
	if rec.Headers == nil {
		rec.Headers = map[string]string{}
	}
	if utf8.Valid(body) {
		rec.Body = string(body)
	} else {
		rec.BodyBase64 = base64.StdEncoding.EncodeToString(body)
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil { // cannot fail for these types
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
		w.setErr(fmt.Errorf("gateway: capture write: %w", err))
		return
	}
	w.lines++
}

// rotate renames the full file and opens a new one. Called with mu held.
func (w *CaptureWriter) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("gateway: capture close: %w", err)
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
		return fmt.Errorf("gateway: capture rotate: %w", err)
	}
	return w.open()
}

func (w *CaptureWriter) fail(err error) {
	w.mu.Lock()
	w.setErr(err)
	w.mu.Unlock()
}

func (w *CaptureWriter) setErr(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Err returns the first error a Write met, or nil.
func (w *CaptureWriter) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Lines returns how many webhooks were written.
func (w *CaptureWriter) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Close flushes and closes the file. Later writes are dropped. It is safe
// to call more than once.
func (w *CaptureWriter) Close() error {
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
