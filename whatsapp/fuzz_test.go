package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// corpusSeeds returns every JSON file of the conformance corpus (webhook
// bodies, send_api bodies and the signing vectors' bodies).
func corpusSeeds(f *testing.F) [][]byte {
	f.Helper()
	dir := whCorpus(f)
	var seeds [][]byte
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		seeds = append(seeds, b)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range signingVectors(f) {
		seeds = append(seeds, []byte(v.RawBody))
	}
	if len(seeds) == 0 {
		f.Fatalf("no seeds in %s", dir)
	}
	return seeds
}

// FuzzParse: no input panics; an error wraps one of the sentinels; an
// accepted body splits into envelopes that each have an id, a kind and a
// key, and that encode with encoding/json and decode back to an envelope of
// the same meaning (checkEnvelopes).
func FuzzParse(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{}],"statuses":[{}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"type":"interactive","interactive":[]}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"time":1e14,"changes":[{"value":{"statuses":[{"id":"s","timestamp":"0700000000000"}],"errors":[{"code":1}]}}]}]}`))
	f.Add([]byte("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":{\"messages\":[{\"id\":\"\\u0000\\ud800\xff\"}]}}]}]}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		envs, err := ParseAndSplit(body, whReceivedAt)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotNotification) {
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

// FuzzParseSplitEncode fuzzes the scalar fields of a realistic
// notification (ids, timestamps, numbers, text) rather than its bytes: a
// body that is valid JSON must parse into its three events whatever the
// values, each event keeps Meta's timestamp only when it is in range, and
// every envelope survives encoding/json (checkEnvelopes).
func FuzzParseSplitEncode(f *testing.F) {
	f.Add("102290129340398", "wamid.HBgL", "16505551234", "text", "hello", `"1749416383"`, `1749416400`, `131047`)
	f.Add("W", "wamid.X", "1", "sent", "x", `"0700000000000"`, `"0700000000000"`, `1e400`)
	f.Add("", "", "", "", "", `{}`, `-5`, `-1`)
	f.Add("W", "\x00", "US.1", "hologram", "\xff\xfe", `253402300800`, `1e14`, `99999999999999999999`)
	f.Add("W", "id", "1", "read", "\\u0000 \\ud83d\\ude00", `"253402300799"`, `"1.5"`, `{"a":[1]}`)
	f.Fuzz(func(t *testing.T, waba, id, from, typ, text, ts, entryTime, num string) {
		body := splitTemplate(waba, id, from, typ, text, ts, entryTime, num)
		envs, err := ParseAndSplit(body, whReceivedAt)
		if !json.Valid(body) {
			if err == nil {
				t.Fatal("invalid JSON accepted")
			}
			return
		}
		if err != nil || len(envs) != 3 {
			t.Fatalf("valid body: %d envelopes, %v\n%s", len(envs), err, body)
		}
		checkEnvelopes(t, envs)
		for i, want := range []time.Time{envs[0].Message.Time(), envs[1].Status.Time()} {
			if e := &envs[i]; (want.IsZero() && !e.OccurredAt.Equal(whReceivedAt)) || (!want.IsZero() && !e.OccurredAt.Equal(want)) {
				t.Fatalf("envelope %d: occurred_at %v, item time %v", i, e.OccurredAt, want)
			}
		}
	})
}

// splitTemplate builds a notification of one message, one status (with an
// error code) and one user preference. The string arguments are quoted
// without touching their bytes (invalid UTF-8 and escapes pass through);
// ts, entryTime and num are inserted as raw JSON.
func splitTemplate(waba, id, from, typ, text, ts, entryTime, num string) []byte {
	q := quoteRaw
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":` + q(waba) + `,"time":` + entryTime + `,"changes":[` +
		`{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"P"},` +
		`"contacts":[{"profile":{"name":` + q(text) + `},"wa_id":` + q(from) + `}],` +
		`"messages":[{"from":` + q(from) + `,"id":` + q(id) + `,"timestamp":` + ts + `,"type":` + q(typ) + `,"text":{"body":` + q(text) + `}}],` +
		`"statuses":[{"id":` + q(id) + `,"status":` + q(typ) + `,"timestamp":` + ts + `,"recipient_id":` + q(from) + `,"errors":[{"code":` + num + `}]}]}},` +
		`{"field":"user_preferences","value":{"user_preferences":[{"wa_id":` + q(from) + `,"value":` + q(text) + `,"timestamp":` + ts + `}]}}]}]}`)
}

// quoteRaw makes s a JSON string, escaping only quotes and control
// characters: other bytes, invalid UTF-8 and backslash escapes included,
// are kept as they are.
func quoteRaw(s string) string {
	b := []byte{'"'}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\' && i == len(s)-1:
			b = append(b, '\\', '\\')
		case c < 0x20:
			b = fmt.Appendf(b, "\\u%04x", c)
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}

// checkEnvelopes checks what every envelope of ParseAndSplit must satisfy
// for any input: an id, a key, a known kind with its part, an occurred_at
// that is Meta's in-range time or the received time, and a JSON encoding
// that is valid UTF-8 Postgres can store and decodes to the same envelope.
func checkEnvelopes(t *testing.T, envs []Envelope) {
	t.Helper()
	for i := range envs {
		e := &envs[i]
		if e.Key() == "" || e.ID == "" || e.Version != EnvelopeVersion {
			t.Fatalf("envelope %d: key %q id %q version %d", i, e.Key(), e.ID, e.Version)
		}
		var at time.Time
		switch e.Kind {
		case KindMessage:
			if e.Message == nil || len(e.Message.Raw) == 0 {
				t.Fatalf("message envelope %d without message or raw", i)
			}
			at = e.Message.Time()
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
	if err := storableJSON(b); err != nil {
		t.Fatalf("envelope %d: %v\n%s", i, err, b)
	}
	var back Envelope
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("envelope %d does not decode: %v", i, err)
	}
	if b2, err := json.Marshal(&back); err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("envelope %d: encoding changed by a round trip (%v):\n%s\n%s", i, err, b, b2)
	}
	same := back.ID == e.ID && back.Kind == e.Kind && back.Key() == e.Key() && back.Contact == e.Contact &&
		back.Field == e.Field && back.WABAID == e.WABAID && back.PhoneNumberID == e.PhoneNumberID &&
		back.OccurredAt.Equal(e.OccurredAt) && back.ReceivedAt.Equal(e.ReceivedAt) && sameJSON(back.Raw, e.Raw)
	switch e.Kind {
	case KindMessage:
		m, n := back.Message, e.Message
		same = same && m.ID == n.ID && m.Type == n.Type && m.Body() == n.Body() && m.ReplyID() == n.ReplyID() &&
			m.Opens() == n.Opens() && m.Time().Equal(n.Time()) && m.ContextID() == n.ContextID() && sameJSON(m.Raw, n.Raw)
	case KindStatus:
		s, r := back.Status, e.Status
		same = same && s.ID == r.ID && s.Status == r.Status && s.Rank() == r.Rank() && s.ErrorCode() == r.ErrorCode() &&
			s.Time().Equal(r.Time()) && sameJSON(s.Raw, r.Raw)
	}
	if !same {
		t.Fatalf("envelope %d changed meaning in a round trip:\n%+v\n%+v", i, e, &back)
	}
}

// sameJSON compares two JSON texts by value, numbers by their text.
func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	x, errA := decodeNumbers(a)
	y, errB := decodeNumbers(b)
	return errA == nil && errB == nil && reflect.DeepEqual(x, y)
}

func decodeNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// escapeRE matches a run of backslashes followed by u and four hex digits;
// the run's length says whether the last backslash starts an escape.
var escapeRE = regexp.MustCompile(`(\\+)u([0-9a-fA-F]{4})`)

// storableJSON reports text in b that Postgres refuses in text and jsonb:
// invalid UTF-8, and the escapes \u0000 and unpaired surrogate halves.
func storableJSON(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("encoding is not UTF-8")
	}
	ms := escapeRE.FindAllSubmatchIndex(b, -1)
	for k, m := range ms {
		if (m[3]-m[2])%2 == 0 {
			continue // an escaped backslash followed by the letter u
		}
		r, _ := strconv.ParseUint(string(b[m[4]:m[5]]), 16, 32)
		switch {
		case r == 0:
			return errors.New("encoding has \\u0000")
		case 0xD800 <= r && r < 0xDC00:
			if k+1 < len(ms) && ms[k+1][0] == m[1] && ms[k+1][3]-ms[k+1][2] == 1 {
				if lo, _ := strconv.ParseUint(string(b[ms[k+1][4]:ms[k+1][5]]), 16, 32); 0xDC00 <= lo && lo < 0xE000 {
					continue
				}
			}
			return fmt.Errorf("encoding has a lone high surrogate at %d", m[0])
		case 0xDC00 <= r && r < 0xE000:
			if k > 0 && ms[k-1][1] == m[0] {
				if hi, _ := strconv.ParseUint(string(b[ms[k-1][4]:ms[k-1][5]]), 16, 32); 0xD800 <= hi && hi < 0xDC00 {
					continue
				}
			}
			return fmt.Errorf("encoding has a lone low surrogate at %d", m[0])
		}
	}
	return nil
}

// FuzzVerify: no input panics; a signature made with a secret verifies,
// and Verify never accepts a header that Sign would not produce.
func FuzzVerify(f *testing.F) {
	for _, v := range signingVectors(f) {
		h := v.Header
		if h == "" {
			h = v.ExpectedHeaderFromMeta
		}
		f.Add(h, []byte(v.RawBody), []byte(v.AppSecret))
	}
	for _, s := range corpusSeeds(f) {
		f.Add(Sign([]byte("test_app_secret"), s), s, []byte("test_app_secret"))
	}
	f.Add("", []byte{}, []byte{})
	f.Add("sha256=", []byte("x"), []byte("k"))
	f.Fuzz(func(t *testing.T, header string, body, secret []byte) {
		ok := Verify(header, body, secret)
		want := Sign(secret, body)
		if ok && len(secret) == 0 {
			t.Fatal("verified with an empty secret")
		}
		if ok && !equalFoldHex(header, want) {
			t.Fatalf("Verify accepted %q, Sign gives %q", header, want)
		}
		if len(secret) > 0 && !Verify(want, body, secret) {
			t.Fatal("own signature does not verify")
		}
		if len(secret) > 0 && !Verify(want, body, []byte("other"), secret) {
			t.Fatal("own signature does not verify as the second secret")
		}
	})
}

// equalFoldHex compares headers allowing upper-case hex digits.
func equalFoldHex(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'F' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
