package event

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// stdEncode is e encoded by encoding/json.
func stdEncode(e *Envelope) ([]byte, error) { return json.Marshal(e) }

// checkCodec: Encode writes the bytes encoding/json writes, and Decode
// reads them back to what encoding/json reads (compared by their
// encoding/json encodings). FuzzSplit runs it on every envelope it makes.
func checkCodec(t *testing.T, i int, e *Envelope) {
	t.Helper()
	want, err := stdEncode(e)
	if err != nil {
		t.Fatalf("envelope %d: encoding/json: %v", i, err)
	}
	got, err := Encode(e)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("envelope %d: Encode (%v):\n%s\nencoding/json:\n%s", i, err, got, want)
	}
	sameDecode(t, want)
}

// sameDecode: Decode and encoding/json agree on whether data is an
// envelope, and on the envelope.
func sameDecode(t *testing.T, data []byte) {
	t.Helper()
	var a, b Envelope
	errA, errB := Decode(data, &a), json.Unmarshal(data, &b)
	if (errA == nil) != (errB == nil) {
		t.Fatalf("Decode: %v; encoding/json: %v\n%q", errA, errB, data)
	}
	if errA != nil {
		return
	}
	ja, errA := json.Marshal(&a)
	jb, errB := json.Marshal(&b)
	if errA != nil || errB != nil || !bytes.Equal(ja, jb) {
		t.Fatalf("decoded differently (%v, %v):\n%s\n%s\nfrom %q", errA, errB, ja, jb, data)
	}
}

// TestCodecMatchesEncodingJSON: every conformance webhook's envelopes, and
// commands, encode to encoding/json's bytes and decode to its values.
func TestCodecMatchesEncodingJSON(t *testing.T) {
	now := time.Unix(1749416400, 0).UTC()
	n := 0
	for _, body := range wagwtest.ConformanceJSON(t) {
		envs, err := ParseAndSplit(body, now)
		if err != nil {
			continue // not a webhook body (a Cloud API answer)
		}
		for i := range envs {
			checkCodec(t, i, &envs[i])
			n++
		}
	}
	cmd, err := NewCommand("c1", "15551234567", ClaimCommand{ConversationID: 7, AgentID: 3}, now)
	if err != nil {
		t.Fatal(err)
	}
	checkCodec(t, n, &cmd)
	if n < 30 {
		t.Fatalf("only %d envelopes from the conformance corpus", n)
	}
}

// FuzzDecodeMatchesEncodingJSON: on any record, Decode and encoding/json
// agree (a record on the topic need not come from wagw's gateway).
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	now := time.Unix(1749416400, 0).UTC()
	for _, body := range wagwtest.ConformanceJSON(f) {
		envs, err := ParseAndSplit(body, now)
		if err != nil {
			f.Add(body)
			continue
		}
		for i := range envs {
			if b, err := stdEncode(&envs[i]); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"v":1,"id":"x","kind":"message","occurred_at":"2026-01-02T03:04:05Z","message":{"id":"w","type":"text","text":{"body":"\ud800"}}}`))
	f.Add([]byte(`{"v":1,"kind":"command","command":{"type":"claim","data":{"conversation_id":1e400}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, data)
	})
}

// BenchmarkCodec: the envelope of a text message, encoded and decoded by
// Encode and Decode and by encoding/json.
func BenchmarkCodec(b *testing.B) {
	envs, err := ParseAndSplit(wagwtest.ReadConformance(b, "meta_text_message.json"), time.Unix(1749416400, 0).UTC())
	if err != nil || len(envs) != 1 {
		b.Fatalf("%d envelopes, %v", len(envs), err)
	}
	e := &envs[0]
	data, err := Encode(e)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"Encode", func() error { _, err := Encode(e); return err }},
		{"encoding-json-Marshal", func() error { _, err := json.Marshal(e); return err }},
		{"Decode", func() error { var x Envelope; return Decode(data, &x) }},
		{"encoding-json-Unmarshal", func() error { var x Envelope; return json.Unmarshal(data, &x) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
