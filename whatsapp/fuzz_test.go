package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wagw/wagw/wagwtest"
)

// corpusSeeds returns every JSON file of the conformance corpus (webhook
// bodies, send_api bodies) and the signing vectors' bodies.
func corpusSeeds(f *testing.F) [][]byte {
	f.Helper()
	seeds := wagwtest.ConformanceJSON(f)
	routing, err := filepath.Glob(filepath.Join("testdata", "routing", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range routing {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, v := range signingVectors(f) {
		seeds = append(seeds, []byte(v.RawBody))
	}
	return seeds
}

// FuzzParse: no input panics; an error wraps one of the sentinels; an
// accepted body splits into items that each carry one part, a time in
// range, and parts that encode with encoding/json as text Postgres can
// store and decode back to the same meaning (checkItems). Package event
// fuzzes the envelopes made of the items (FuzzSplit).
func FuzzParse(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{}],"statuses":[{}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"type":"interactive","interactive":[]}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"time":1e14,"changes":[{"value":{"statuses":[{"id":"s","timestamp":"0700000000000"}],"errors":[{"code":1}]}}]}]}`))
	f.Add([]byte("{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":{\"messages\":[{\"id\":\"\\u0000\\ud800\xff\"}]}}]}]}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotNotification) {
				t.Fatalf("error wraps neither sentinel: %v", err)
			}
			if n != nil {
				t.Fatal("notification returned with an error")
			}
			return
		}
		checkItems(t, Split(n))
	})
}

// FuzzParseSplitEncode fuzzes the scalar fields of a realistic
// notification (ids, timestamps, numbers, text) rather than its bytes: a
// body that is valid JSON must parse into its three items whatever the
// values, each item keeps Meta's timestamp only when it is in range, and
// every item survives encoding/json (checkItems).
func FuzzParseSplitEncode(f *testing.F) {
	f.Add("102290129340398", "wamid.HBgL", "16505551234", "text", "hello", `"1749416383"`, `1749416400`, `131047`)
	f.Add("W", "wamid.X", "1", "sent", "x", `"0700000000000"`, `"0700000000000"`, `1e400`)
	f.Add("", "", "", "", "", `{}`, `-5`, `-1`)
	f.Add("W", "\x00", "US.1", "hologram", "\xff\xfe", `253402300800`, `1e14`, `99999999999999999999`)
	f.Add("W", "id", "1", "read", "\\u0000 \\ud83d\\ude00", `"253402300799"`, `"1.5"`, `{"a":[1]}`)
	f.Fuzz(func(t *testing.T, waba, id, from, typ, text, ts, entryTime, num string) {
		body := splitTemplate(waba, id, from, typ, text, ts, entryTime, num)
		n, err := Parse(body)
		if !json.Valid(body) {
			if err == nil {
				t.Fatal("invalid JSON accepted")
			}
			return
		}
		if err != nil {
			t.Fatalf("valid body: %v\n%s", err, body)
		}
		items := Split(n)
		if len(items) != 3 {
			t.Fatalf("valid body: %d items\n%s", len(items), body)
		}
		checkItems(t, items)
		if !items[0].Time.Equal(items[0].Message.Time()) || !items[1].Time.Equal(items[1].Status.Time()) {
			t.Fatalf("item times %v, %v; Meta's %v, %v", items[0].Time, items[1].Time, items[0].Message.Time(), items[1].Status.Time())
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

// checkItem checks what every item of Split must satisfy for any input:
// exactly one part, with its raw bytes, and a time that is zero or in
// range.
func checkItem(it *Item) error {
	parts := 0
	for _, set := range []bool{it.Message != nil, it.Status != nil, it.Handover != nil, it.Echo != nil, it.Notice != nil} {
		if set {
			parts++
		}
	}
	switch {
	case parts != 1:
		return fmt.Errorf("%d parts", parts)
	case it.Message != nil && len(it.Message.Raw) == 0:
		return errors.New("message without raw")
	case it.Status != nil && len(it.Status.Raw) == 0:
		return errors.New("status without raw")
	case it.Echo != nil && len(it.Echo.Raw) == 0:
		return errors.New("echo without raw")
	case it.Notice != nil && len(it.Notice) == 0:
		return errors.New("empty notice")
	case !it.Time.IsZero() && (it.Time.Year() < 1970 || it.Time.Year() > 9999):
		return fmt.Errorf("time %v out of range", it.Time)
	}
	return nil
}

// checkItems: checkItem, and every item encodes as storable text whose
// message or status decodes back to the same meaning and encodes again to
// the same bytes.
func checkItems(t *testing.T, items []Item) {
	t.Helper()
	for i := range items {
		it := &items[i]
		if err := checkItem(it); err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatalf("item %d does not encode: %v", i, err)
		}
		if err := wagwtest.StorableJSON(b); err != nil {
			t.Fatalf("item %d: %v\n%s", i, err, b)
		}
		switch {
		case it.Message != nil:
			var back Message
			roundTrip(t, i, it.Message, &back)
			m, n := &back, it.Message
			if m.ID != n.ID || m.Type != n.Type || m.Body() != n.Body() || m.ReplyID() != n.ReplyID() || m.Opens() != n.Opens() ||
				!m.Time().Equal(n.Time()) || m.ContextID() != n.ContextID() || !wagwtest.SameJSON(m.Raw, n.Raw) {
				t.Fatalf("message %d changed meaning in a round trip:\n%+v\n%+v", i, n, m)
			}
		case it.Status != nil:
			var back Status
			roundTrip(t, i, it.Status, &back)
			s, r := &back, it.Status
			if s.ID != r.ID || s.Status != r.Status || s.Rank() != r.Rank() || s.ErrorCode() != r.ErrorCode() ||
				!s.Time().Equal(r.Time()) || !wagwtest.SameJSON(s.Raw, r.Raw) {
				t.Fatalf("status %d changed meaning in a round trip:\n%+v\n%+v", i, r, s)
			}
		}
	}
}

// roundTrip decodes v's encoding into back, and checks that back encodes
// to the same bytes.
func roundTrip(t *testing.T, i int, v, back any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("item %d does not encode: %v", i, err)
	}
	if err := json.Unmarshal(b, back); err != nil {
		t.Fatalf("item %d does not decode: %v", i, err)
	}
	if b2, err := json.Marshal(back); err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("item %d: encoding changed by a round trip (%v):\n%s\n%s", i, err, b, b2)
	}
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

// FuzzValidJSON: validJSON accepts exactly what encoding/json.Valid
// accepts.
func FuzzValidJSON(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{``, ` `, `[1,2`, `{"a":"\u12"}`, `{"a":1,}`, `[1 2]`, `"\ud800"`, "\"\x01\"", "\"\xff\"",
		`-0.5e+7`, `01`, `1.`, `tru`, `{"a":[{"b":"]}"}]}`, `"a\\"`, `"a\\\"b"`, `{}{}`, " [ ] \t\r\n"} {
		f.Add([]byte(s))
	}
	f.Add(nested(maxNesting))
	f.Add(nested(maxNesting + 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json.Valid: %v", b, got, want)
		}
	})
}

// nested is n arrays, each inside the last.
func nested(n int) []byte {
	return append(bytes.Repeat([]byte("["), n), bytes.Repeat([]byte("]"), n)...)
}

// TestValidJSONNesting: encoding/json's nesting limit holds, also where
// nothing else is wrong; a body nested a million levels deep is refused
// at the limit; objects and arrays nested past 64 levels (a word of
// validJSON's bits) close in order, and a closer of the wrong kind is
// refused.
func TestValidJSONNesting(t *testing.T) {
	for _, c := range []struct {
		body []byte
		want bool
	}{
		{nested(maxNesting), true},
		{nested(maxNesting + 1), false},
		{[]byte(`{"a":` + string(nested(maxNesting-1)) + `}`), true},
		{[]byte(`{"a":` + string(nested(maxNesting)) + `}`), false},
		{[]byte(`["` + string(bytes.Repeat([]byte("["), 2*maxNesting)) + `"]`), true},
		{nested(1_000_000), false},
		{mixed(200, -1), true},
		{mixed(200, 70), false},
		{mixed(200, 3), false},
	} {
		if got := validJSON(c.body); got != c.want || json.Valid(c.body) != c.want {
			t.Errorf("%d bytes: validJSON %v, encoding/json.Valid %v, want %v", len(c.body), got, json.Valid(c.body), c.want)
		}
	}
}

// mixed is n objects and arrays, each inside the last, alternating, with
// a number inside; the closer at depth wrong (counted from the outside,
// -1: none) is of the other kind.
func mixed(n, wrong int) []byte {
	var open, closers []byte
	for d := range n {
		if d%2 == 0 {
			open = append(open, `{"a":`...)
			closers = append(closers, '}')
		} else {
			open = append(open, '[')
			closers = append(closers, ']')
		}
	}
	if wrong >= 0 {
		closers[wrong] = map[byte]byte{'}': ']', ']': '}'}[closers[wrong]]
	}
	out := append(open, '1')
	for d := n - 1; d >= 0; d-- {
		out = append(out, closers[d])
	}
	return out
}

// BenchmarkValidJSON compares validJSON with encoding/json.Valid on a
// typical text message notification.
func BenchmarkValidJSON(b *testing.B) {
	body := wagwtest.ReadConformance(b, "meta_text_message.json")
	for _, v := range []struct {
		name  string
		valid func([]byte) bool
	}{{"validJSON", validJSON}, {"encoding-json", json.Valid}} {
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !v.valid(body) {
					b.Fatal("the corpus's text message is not valid")
				}
			}
		})
	}
}
