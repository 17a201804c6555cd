package whatsapp

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/wagw/wagw/wagwtest"
)

// TestWithoutSparse: the arrays a message's typed fields would decode from
// tiny elements become [], wherever the message has them; everything else
// is left as it is.
func TestWithoutSparse(t *testing.T) {
	empties := func(n int) string { return strings.TrimSuffix(strings.Repeat("{},", n), ",") }
	deep := strings.Repeat(`{"a":`, 10) + `{"contacts":[` + empties(50) + `]}` + strings.Repeat(`}`, 10)
	for _, c := range []struct{ in, want string }{
		{`{"contacts":[` + empties(50) + `]}`, `{"contacts":[]}`},
		{`{"contacts":[1,2,3,4,5,6,7,8]}`, `{"contacts":[]}`},
		{`{"CONTACTS":[` + empties(50) + `]}`, `{"CONTACTS":[]}`},
		{`{"c\u006fntacts":[` + empties(50) + `]}`, `{"c\u006fntacts":[]}`},
		{`{"contacts":[{"phones":[` + empties(50) + `],"name":{"formatted_name":"Ana Souza","first_name":"Ana"}}]}`,
			`{"contacts":[{"phones":[],"name":{"formatted_name":"Ana Souza","first_name":"Ana"}}]}`},
		{`{"order":{"product_items":[` + empties(50) + `]},"errors":[ {} , {} ]}`, `{"order":{"product_items":[]},"errors":[]}`},
		{`[{"contacts":[` + empties(50) + `]},{"errors":[{"code":131051,"title":"Message type unknown"}]}]`,
			`[{"contacts":[]},{"errors":[{"code":131051,"title":"Message type unknown"}]}]`},
		// Left: arrays no typed field decodes, strings, empty arrays, items of Meta's size.
		{`{"other":[` + empties(50) + `],"text":{"body":"[{},{},{}]"},"contacts":[]}`, ""},
		{`{"errors":[{"code":131051}],"contacts":[{"name":{"formatted_name":"Ana"}},{"name":{"formatted_name":"Bo"}}]}`, ""},
		{`{"contacts":"[{},{},{}]","errors":null}`, ""},
		// At any depth: an edit holds a message, which may hold an edit...
		{`{"contacts":"[{},{},{}]","x":[[[[[[[[[[{"errors":[` + empties(50) + `]}]]]]]]]]]]}`, `{"contacts":"[{},{},{}]","x":[[[[[[[[[[{"errors":[]}]]]]]]]]]]}`},
		{deep, strings.Repeat(`{"a":`, 10) + `{"contacts":[]}` + strings.Repeat(`}`, 10)},
		{`{"contacts":[` + empties(50), ""}, // not JSON: lenient says so
	} {
		want := c.want
		if want == "" {
			want = c.in
		}
		if got := string(withoutSparse([]byte(c.in))); got != want {
			t.Errorf("%.80s:\ngot  %.200s\nwant %.200s", c.in, got, want)
		}
	}
}

// TestRealItemsAreNotSparse: no message, status or echo of the conformance
// payloads (real webhooks) loses an array to withoutSparse.
func TestRealItemsAreNotSparse(t *testing.T) {
	items, withArrays := 0, 0
	for _, b := range wagwtest.ConformanceJSON(t) {
		n, err := Parse(b)
		if err != nil {
			continue // not a notification (Cloud API bodies, vectors)
		}
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				var raws []json.RawMessage
				for _, m := range c.Value.Messages {
					raws = append(raws, m.Raw)
					if len(m.Contacts) > 0 || len(m.Errors) > 0 || m.Order != nil && len(m.Order.ProductItems) > 0 {
						withArrays++
					}
				}
				for _, s := range c.Value.Statuses {
					raws = append(raws, s.Raw)
					if len(s.Errors) > 0 {
						withArrays++
					}
				}
				for _, m := range c.Value.MessageEchoes {
					raws = append(raws, m.Raw)
				}
				for _, raw := range raws {
					items++
					if spans := sparseSpans(raw); len(spans) > 0 {
						t.Errorf("%s item: sparse arrays at %v: %.300s", c.Field, spans, raw)
					}
				}
			}
		}
	}
	if items < 40 || withArrays < 5 {
		t.Fatalf("only %d items in the conformance bodies, %d with typed arrays", items, withArrays)
	}
	t.Logf("%d items, %d with typed arrays", items, withArrays)
}

// FuzzWithoutSparse: from valid JSON, withoutSparse gives valid JSON, no
// longer than it, the same bytes when it finds nothing sparse, and a
// message that lenient decodes whenever it decoded the original.
func FuzzWithoutSparse(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		for _, v := range changeValues(s) {
			f.Add(v)
		}
	}
	for _, s := range []string{`{"contacts":[{},{},{},{}]}`, `{"contacts":[{"phones":[{},{},{},{},{},{}]}]}`, `[{"errors":[1,2,3]},{"x":[{}]}]`,
		`{"c\u006fntacts":[{},{}],"Errors":[{} ,{}]}`, `{"order":{"product_items":[{},{},{},{},{},{},{},{}]}}`, `{"contacts":"[{},{}]"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		out := withoutSparse(b)
		if !json.Valid(out) || len(out) > len(b) {
			t.Fatalf("%s -> %s", b, out)
		}
		if len(sparseSpans(b)) == 0 && string(out) != string(b) {
			t.Fatalf("%s changed to %s without a sparse array", b, out)
		}
		var m, m2 Message
		if json.Unmarshal(b, &m) == nil && lenientItem(b, &m2) != nil {
			t.Fatalf("%s: decoded whole, not without its sparse arrays", b)
		}
	})
}

// refSparseSpans: sparseSpans written again, recursively, over
// encoding/json's tokens.
func refSparseSpans(raw []byte) ([][2]int, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var spans [][2]int
	// value returns what the typed arrays kept in the value cost: the
	// typed array around it is charged for them.
	var value func(depth int, key *string) (int, error)
	value = func(depth int, key *string) (int, error) {
		start := int(d.InputOffset())
		tok, err := d.Token()
		if err != nil {
			return 0, err
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			return 0, nil
		}
		// InputOffset before Token may point at spaces/colons: find the delimiter.
		for raw[start] != byte(delim) {
			start++
		}
		nested := 0
		if delim == '{' {
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return 0, err
				}
				s := k.(string)
				c, err := value(depth+1, &s)
				if err != nil {
					return 0, err
				}
				nested += c
			}
			_, err := d.Token()
			return nested, err
		}
		n := 0
		for d.More() {
			n++
			c, err := value(depth+1, nil)
			if err != nil {
				return 0, err
			}
			nested += c
		}
		if _, err := d.Token(); err != nil {
			return 0, err
		}
		end := int(d.InputOffset())
		cost := 0
		if key != nil {
			cost = sparseCost([]byte(*key))
		}
		if cost == 0 {
			return nested, nil // not typed: the typed array around it pays
		}
		charge := sparseCharge(n, cost) + nested
		if charge > sparseBytes*(end-start) {
			for len(spans) > 0 && spans[len(spans)-1][0] > start {
				spans = spans[:len(spans)-1]
			}
			spans = append(spans, [2]int{start, end})
			return 0, nil
		}
		return charge, nil
	}
	if _, err := value(0, nil); err != nil && err != io.EOF {
		return nil, err
	}
	return spans, nil
}

// FuzzSparseSpansMatchesReference: sparseSpans finds what refSparseSpans
// finds, on valid JSON without escapes (an escaped name is charged the
// most by one and unescaped by the other).
func FuzzSparseSpansMatchesReference(f *testing.F) {
	for _, s := range []string{`{"contacts":[{},{},{},{}]}`, `{"contacts":[{"phones":[{},{},{},{},{},{}]}]}`, `[{"errors":[1,2,3]},{"x":[{}]}]`,
		`{"Errors":[{} ,{}], "a":"[\"]","b":[["x"]]}`, `{"order":{"product_items":[{},{},{},{},{},{},{},{}]}}`, `{"contacts":"[{},{}]"}`,
		` { "contacts" : [ 1 , true , null , "]" , -1.5e3 , [ ] , { } ] } `, `{"x":[[[[[[[{"errors":[{},{},{}]}]]]]]]]}`,
		`{"edit":{"message":{"edit":{"message":{"edit":{"message":{"edit":{"message":{"contacts":[{},{},{},{},{},{}]}}}}}}}}}`,
		`{"contacts":[{"phones":[{"x":""},{"x":""},{"x":""}]},{"phones":[{"x":""},{"x":""},{"x":""}]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || bytes.IndexByte(b, '\\') >= 0 {
			return
		}
		want, err := refSparseSpans(b)
		if err != nil {
			return
		}
		got := sparseSpans(b)
		if len(got) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: sparseSpans %v, reference %v", b, got, want)
		}
	})
}
