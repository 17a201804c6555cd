package whatsapp

import (
	"encoding/json"
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
		{`{"contacts":"[{},{},{}]","errors":null,"x":[[[[[[[[[[{"errors":[` + empties(50) + `]}]]]]]]]]]]}`, ""},
		{deep, ""},                          // deeper than sparseDepth: no typed field there
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
