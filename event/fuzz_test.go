package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// FuzzSplit: no input panics; an error wraps one of whatsapp's sentinels;
// an accepted body splits into envelopes that each have an id, a kind and
// a key, and that encode with encoding/json and decode back to an envelope
// of the same meaning (checkEnvelopes). Its seeds are the conformance
// corpus and whatsapp's FuzzParse corpus.
func FuzzSplit(f *testing.F) {
	for _, s := range wagwtest.ConformanceJSON(f) {
		f.Add(s)
	}
	for _, s := range parseCorpus(f) {
		f.Add(s)
	}
	routing, err := filepath.Glob(filepath.Join("..", "whatsapp", "testdata", "routing", "*.json"))
	if err != nil || len(routing) == 0 {
		f.Fatalf("whatsapp's routing testdata: %d files, %v", len(routing), err)
	}
	for _, p := range routing {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		envs, err := ParseAndSplit(body, whReceivedAt)
		if err != nil {
			if !errors.Is(err, whatsapp.ErrMalformed) && !errors.Is(err, whatsapp.ErrNotNotification) {
				t.Fatalf("error wraps neither sentinel: %v", err)
			}
			if envs != nil {
				t.Fatal("envelopes returned with an error")
			}
			return
		}
		checkEnvelopes(t, envs)
	})
}

// parseCorpus reads the bodies of whatsapp's FuzzParse corpus (files of
// "go test fuzz v1" and one []byte("…") line).
func parseCorpus(f *testing.F) [][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "whatsapp", "testdata", "fuzz", "FuzzParse", "*"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("whatsapp's FuzzParse corpus: %d files, %v", len(paths), err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		lit, ok := strings.CutPrefix(lines[len(lines)-1], "[]byte(")
		body, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if len(lines) != 2 || !ok || err != nil {
			f.Fatalf("%s: not a []byte corpus entry (%v)", p, err)
		}
		out = append(out, []byte(body))
	}
	return out
}

// checkEnvelopes checks what every envelope of ParseAndSplit must satisfy
// for any input: an id, a key, a known kind with its part, an occurred_at
// that is Meta's in-range time or the received time, and a JSON encoding
// that is valid UTF-8 Postgres can store and decodes to the same envelope.
func checkEnvelopes(t *testing.T, envs []Envelope) {
	t.Helper()
	for i := range envs {
		e := &envs[i]
		if e.Key() == "" || e.ID == "" || e.Version != Version {
			t.Fatalf("envelope %d: key %q id %q version %d", i, e.Key(), e.ID, e.Version)
		}
		var at time.Time
		switch e.Kind {
		case KindMessage, KindEcho:
			if e.Message == nil || len(e.Message.Raw) == 0 {
				t.Fatalf("%s envelope %d without message or raw", e.Kind, i)
			}
			at = e.Message.Time()
		case KindHandover:
			if e.Handover == nil || (e.Handover.Type != whatsapp.ControlPassed && e.Handover.Type != whatsapp.ControlTaken) {
				t.Fatalf("handover envelope %d: %+v", i, e.Handover)
			}
			at = e.Handover.Time()
		case KindStatus:
			if e.Status == nil || len(e.Status.Raw) == 0 {
				t.Fatalf("status envelope %d without status or raw", i)
			}
			at = e.Status.Time()
		case KindNotice:
			if len(e.Raw) == 0 {
				t.Fatalf("notice envelope %d without raw", i)
			}
			at = e.OccurredAt
		default:
			t.Fatalf("envelope %d: kind %q", i, e.Kind)
		}
		if !at.IsZero() && (at.Year() < 1970 || at.Year() > 9999) {
			t.Fatalf("envelope %d: item time %v out of range", i, at)
		}
		if at.IsZero() && !e.OccurredAt.Equal(e.ReceivedAt) || !at.IsZero() && !e.OccurredAt.Equal(at) {
			t.Fatalf("envelope %d: occurred_at %v, item time %v, received %v", i, e.OccurredAt, at, e.ReceivedAt)
		}
		checkRoundTrip(t, i, e)
	}
}

// checkRoundTrip: e encodes, the encoding is storable text, decodes back to
// the same meaning and encodes again to the same bytes.
func checkRoundTrip(t *testing.T, i int, e *Envelope) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("envelope %d does not encode: %v", i, err)
	}
	if err := wagwtest.StorableJSON(b); err != nil {
		t.Fatalf("envelope %d: %v\n%s", i, err, b)
	}
	checkCodec(t, i, e)
	var back Envelope
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("envelope %d does not decode: %v", i, err)
	}
	if b2, err := json.Marshal(&back); err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("envelope %d: encoding changed by a round trip (%v):\n%s\n%s", i, err, b, b2)
	}
	same := back.ID == e.ID && back.Kind == e.Kind && back.Key() == e.Key() && back.Contact == e.Contact &&
		back.Field == e.Field && back.WABAID == e.WABAID && back.PhoneNumberID == e.PhoneNumberID &&
		back.OccurredAt.Equal(e.OccurredAt) && back.ReceivedAt.Equal(e.ReceivedAt) && wagwtest.SameJSON(back.Raw, e.Raw)
	switch e.Kind {
	case KindHandover:
		h, g := *back.Handover, *e.Handover
		hr, gr := h.Raw, g.Raw
		h.Raw, g.Raw = nil, nil
		same = same && reflect.DeepEqual(h, g) && wagwtest.SameJSON(hr, gr)
	case KindMessage, KindEcho:
		m, n := back.Message, e.Message
		same = same && m.ID == n.ID && m.Type == n.Type && m.Body() == n.Body() && m.ReplyID() == n.ReplyID() &&
			m.Opens() == n.Opens() && m.Time().Equal(n.Time()) && m.ContextID() == n.ContextID() && wagwtest.SameJSON(m.Raw, n.Raw)
	case KindStatus:
		s, r := back.Status, e.Status
		same = same && s.ID == r.ID && s.Status == r.Status && s.Rank() == r.Rank() && s.ErrorCode() == r.ErrorCode() &&
			s.Time().Equal(r.Time()) && wagwtest.SameJSON(s.Raw, r.Raw)
	}
	if !same {
		t.Fatalf("envelope %d changed meaning in a round trip:\n%+v\n%+v", i, e, &back)
	}
}
