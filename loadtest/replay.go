package loadtest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// replayDropHeaders are not sent again: the transport sets them, or (the
// signature) the replayer computes them with the target's secret.
var replayDropHeaders = map[string]bool{
	"host": true, "content-length": true, "connection": true, "transfer-encoding": true,
	"accept-encoding": true, "expect": true, "keep-alive": true, "te": true, "trailer": true,
	"upgrade": true, "proxy-connection": true, strings.ToLower(whatsapp.SignatureHeader): true,
}

// Replay reads capture files and yields their webhooks as Requests, paced
// like the original: At is the time since the first record divided by the
// speed. A speed of 0 or less sets every At to 0 (for as fast as possible,
// closed-loop sending). It parses each body to learn which messages and
// statuses it carries; an exact repeat of earlier items is marked as a
// redelivery.
type Replay struct {
	paths []string
	speed float64

	f     *os.File
	r     *bufio.Reader
	line  int
	first time.Time
	err   error

	seq  map[string]int // per-contact sequence
	refs map[string]MessageRef
	seen map[string]bool // status ids
}

// OpenReplay opens the capture files, read in the order given.
func OpenReplay(paths []string, speed float64) (*Replay, error) {
	if len(paths) == 0 {
		return nil, errors.New("loadtest: no capture file to replay")
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("loadtest: %w", err)
		}
	}
	return &Replay{paths: paths, speed: speed, seq: map[string]int{}, refs: map[string]MessageRef{}, seen: map[string]bool{}}, nil
}

// Err returns the first read or decode error, which also ended Next.
func (rp *Replay) Err() error { return rp.err }

// Close closes the file being read.
func (rp *Replay) Close() error {
	if rp.f != nil {
		err := rp.f.Close()
		rp.f = nil
		return err
	}
	return nil
}

// Next returns the next webhook, or false at the end of the last file or
// at the first error (see Err).
func (rp *Replay) Next() (Request, bool) {
	for rp.err == nil {
		if rp.r == nil {
			if len(rp.paths) == 0 {
				return Request{}, false
			}
			f, err := os.Open(rp.paths[0])
			if err != nil {
				rp.err = fmt.Errorf("loadtest: %w", err)
				return Request{}, false
			}
			rp.f, rp.r, rp.line = f, bufio.NewReaderSize(f, 1<<20), 0
		}
		b, err := rp.r.ReadBytes('\n')
		if len(b) == 0 && err != nil {
			if !errors.Is(err, io.EOF) {
				rp.err = fmt.Errorf("loadtest: read %s: %w", rp.paths[0], err)
				return Request{}, false
			}
			rp.Close()
			rp.r = nil
			rp.paths = rp.paths[1:]
			continue
		}
		rp.line++
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var rec CaptureRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			rp.err = fmt.Errorf("loadtest: %s line %d: %w", rp.paths[0], rp.line, err)
			return Request{}, false
		}
		body, err := rec.Bytes()
		if err != nil {
			rp.err = fmt.Errorf("loadtest: %s line %d: body_base64: %w", rp.paths[0], rp.line, err)
			return Request{}, false
		}
		return rp.request(rec, body), true
	}
	return Request{}, false
}

func (rp *Replay) request(rec CaptureRecord, body []byte) Request {
	if rp.first.IsZero() {
		rp.first = rec.At
	}
	req := Request{Body: body, Headers: map[string]string{}}
	if rp.speed > 0 && !rec.At.IsZero() {
		req.At = max(0, time.Duration(float64(rec.At.Sub(rp.first))/rp.speed))
	}
	for k, v := range rec.Headers {
		if !replayDropHeaders[strings.ToLower(k)] {
			req.Headers[http.CanonicalHeaderKey(k)] = v
		}
	}
	events, err := event.ParseAndSplit(body, rec.At)
	if err != nil {
		return req // the gateway keeps it on the dead-letter topic; nothing to verify
	}
	fresh := false
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case event.KindMessage:
			ref, ok := rp.refs[e.ID]
			if !ok {
				fresh = true
				key := e.Contact.Key()
				rp.seq[key]++
				ref = MessageRef{WAMID: e.ID, Contact: key, Inbox: e.PhoneNumberID, Type: e.Message.Type,
					Opens: e.Message.Opens() && e.Field != whatsapp.FieldStandby, Seq: rp.seq[key]}
				rp.refs[e.ID] = ref
			}
			req.Messages = append(req.Messages, ref)
		case event.KindStatus:
			if !rp.seen[e.ID] {
				fresh = true
				rp.seen[e.ID] = true
			}
			req.Statuses = append(req.Statuses, e.ID)
		}
	}
	req.Redelivery = !fresh && len(events) > 0 && (len(req.Messages) > 0 || len(req.Statuses) > 0)
	return req
}
