package event

import (
	"fmt"
	"time"

	json "github.com/segmentio/encoding/json"
)

// The one encoding of an envelope on the events topic (codec.go): JSON
// as encoding/json's Marshal writes it (compact, <, > and & escaped), by
// segmentio/encoding's json, which follows encoding/json's rules (the same
// bytes out, the same values in: TestCodecMatchesEncodingJSON,
// FuzzDecodeMatchesEncodingJSON; the two times excepted, see wireEnvelope)
// at a fraction of its cost (BenchmarkCodec: an envelope of a text message
// encodes in about half encoding/json's time and decodes in about a
// quarter). The gateway encodes every event, the consumer decodes every
// record.

// Encode encodes e as it goes on the events topic.
func Encode(e *Envelope) ([]byte, error) {
	// encoding/json refuses a time outside the years 0 to 9999 (RFC 3339
	// cannot carry it); segmentio's would write it.
	for _, t := range [...]time.Time{e.OccurredAt, e.ReceivedAt} {
		if y := t.Year(); y < 0 || y > 9999 {
			return nil, fmt.Errorf("event %s: time %s is outside the years 0 to 9999", e.ID, t)
		}
	}
	// EscapeHTML also compacts raw JSON (Meta's items as sent), as
	// encoding/json does; without it, segmentio's copies them as they are.
	return json.Append(make([]byte, 0, sizeHint(e)), e, json.EscapeHTML|json.SortMapKeys)
}

// Decode decodes a record of the events topic into e.
func Decode(data []byte, e *Envelope) error {
	w := wireEnvelope{Envelope: e}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	if w.OccurredAt.set {
		e.OccurredAt = w.OccurredAt.t
	}
	if w.ReceivedAt.set {
		e.ReceivedAt = w.ReceivedAt.t
	}
	return nil
}

// wireEnvelope decodes an envelope with its times parsed by the time
// package: segmentio's own ISO 8601 parser takes some malformed times
// ("00:00>00Z" as 00:00:00), which encoding/json refuses
// (FuzzDecodeMatchesEncodingJSON found it). Its fields shadow the
// envelope's, as in encoding/json.
type wireEnvelope struct {
	*Envelope
	OccurredAt strictTime `json:"occurred_at"`
	ReceivedAt strictTime `json:"received_at"`
}

// strictTime is a time.Time decoded as encoding/json decodes one.
type strictTime struct {
	t   time.Time
	set bool
}

func (s *strictTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s.set = true
	return s.t.UnmarshalJSON(b)
}

// sizeHint is about the size of e's encoding, so that the buffer is
// allocated once: a message or status is about its raw item twice (its
// fields and the raw copy) plus the envelope's fields.
func sizeHint(e *Envelope) int {
	n := 512 + len(e.Raw)
	switch {
	case e.Message != nil:
		n += 2 * len(e.Message.Raw)
	case e.Status != nil:
		n += 2 * len(e.Status.Raw)
	case e.Command != nil:
		n += len(e.Command.Data)
	}
	return n
}
