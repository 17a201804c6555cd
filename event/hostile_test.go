package event

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// hostileRow is one hostile webhook body and what the parser must make of
// it: an error the gateway dead-letters (err), or exactly these events.
type hostileRow struct {
	name string
	body func() []byte
	err  error         // whatsapp.ErrMalformed or whatsapp.ErrNotNotification; nil when the body parses
	envs []hostileWant // the events, in order, when err is nil
	n    int           // when envs is nil: the number of events, each checked by each
	each func(int) hostileWant
}

// hostileWant is what one envelope must be. at is OccurredAt as Unix
// seconds, 0 for the received time. check, when set, looks at the rest.
type hostileWant struct {
	kind  Kind
	id    string
	key   string
	at    int64
	check func(e *Envelope) error
}

// Builders of hostile bodies.

func hwBody(entries ...string) []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[` + strings.Join(entries, ",") + `]}`)
}

func hwEntry(value string) string {
	return `{"id":"W","time":1749416400,"changes":[{"field":"messages","value":` + value + `}]}`
}

func hwValue(items string) []byte {
	return hwBody(hwEntry(`{"metadata":{"phone_number_id":"P"},` + items + `}`))
}

func hwText(id, from, ts, body string) string {
	return `{"from":"` + from + `","id":"` + id + `","timestamp":` + ts + `,"type":"text","text":{"body":"` + body + `"}}`
}

func hwRepeat(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, ",")
}

func hwNest(depth int, open, close string) string {
	return strings.Repeat(open, depth) + `1` + strings.Repeat(close, depth)
}

func hwMsg(id, key string, at int64) hostileWant {
	return hostileWant{kind: KindMessage, id: id, key: key, at: at}
}

func hwBodyIs(want string) func(*Envelope) error {
	return func(e *Envelope) error {
		if got := e.Message.Body(); got != want {
			return fmt.Errorf("body %q, want %q", got, want)
		}
		return nil
	}
}

func hwRawHas(want string) func(*Envelope) error {
	return func(e *Envelope) error {
		raw := e.Raw
		if e.Message != nil {
			raw = e.Message.Raw
		} else if e.Status != nil {
			raw = e.Status.Raw
		}
		if !strings.Contains(string(raw), want) {
			return fmt.Errorf("raw %.200s lacks %s", raw, want)
		}
		return nil
	}
}

func hwAll(checks ...func(*Envelope) error) func(*Envelope) error {
	return func(e *Envelope) error {
		for _, c := range checks {
			if err := c(e); err != nil {
				return err
			}
		}
		return nil
	}
}

const hwDeep = 100_000 // nesting levels; encoding/json refuses more than 10,000

const hwMany = 10_000 // entries, messages, statuses, contacts

func hostileRows() []hostileRow {
	return slicesConcat(hostileNestingRows(), hostileSizeRows(hwMany), hostileTextRows(), hostileTypeRows(), hostileNumberRows(), hostileIDRows())
}

func slicesConcat(rows ...[]hostileRow) []hostileRow {
	var out []hostileRow
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// hostileNestingRows: deep nesting.
func hostileNestingRows() []hostileRow {
	return []hostileRow{
		{name: "nested arrays 10^5 levels as the body", err: whatsapp.ErrMalformed,
			body: func() []byte { return []byte(hwNest(hwDeep, "[", "]")) }},
		{name: "nested objects 10^5 levels in an unknown message field", err: whatsapp.ErrMalformed,
			body: func() []byte {
				return hwValue(`"messages":[{"from":"1","id":"m","type":"text","future":` + hwNest(hwDeep, `{"a":`, `}`) + `}]`)
			}},
		{name: "nested arrays 10^5 levels as the value", err: whatsapp.ErrMalformed,
			body: func() []byte { return hwBody(hwEntry(hwNest(hwDeep, "[", "]"))) }},
		{name: "nesting of 9,000 levels in an unknown field is kept",
			body: func() []byte {
				return hwValue(`"messages":[{"from":"1","id":"m","type":"text","future":` + hwNest(9000, "[", "]") + `}]`)
			},
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", check: hwRawHas(`"future":[[[[`)}}},
	}
}

// hostileSizeRows: n entries, messages, contacts or statuses.
func hostileSizeRows(n int) []hostileRow {
	return []hostileRow{
		{name: fmt.Sprintf("%d entries of one message each", n),
			body: func() []byte {
				return hwBody(hwRepeat(n, func(i int) string {
					return hwEntry(`{"messages":[` + hwText(fmt.Sprint("m", i), fmt.Sprint(i), `"1749416383"`, "x") + `]}`)
				}))
			},
			n: n, each: func(i int) hostileWant { return hwMsg(fmt.Sprint("m", i), fmt.Sprint(i), 1749416383) }},
		{name: fmt.Sprintf("%d messages from %d contacts in one change", n, n),
			body: func() []byte {
				return hwValue(`"contacts":[` + hwRepeat(n, func(i int) string {
					return fmt.Sprintf(`{"profile":{"name":"N%d"},"wa_id":"%d","user_id":"U.%d"}`, i, i, i)
				}) + `],"messages":[` + hwRepeat(n, func(i int) string {
					return `{"from_user_id":"U.` + fmt.Sprint(n-1-i) + `","id":"m` + fmt.Sprint(i) + `","timestamp":"1749416383","type":"text"}`
				}) + `]`)
			},
			n: n, each: func(i int) hostileWant {
				c := n - 1 - i
				// The key is the user id whenever the contact has one.
				w := hwMsg(fmt.Sprint("m", i), fmt.Sprint("U.", c), 1749416383)
				w.check = func(e *Envelope) error {
					if e.Contact != (Contact{WaID: fmt.Sprint(c), UserID: fmt.Sprint("U.", c), Name: fmt.Sprint("N", c)}) {
						return fmt.Errorf("contact %+v", e.Contact)
					}
					return nil
				}
				return w
			}},
		{name: fmt.Sprintf("%d statuses in one change", n),
			body: func() []byte {
				return hwValue(`"statuses":[` + hwRepeat(n, func(i int) string {
					return fmt.Sprintf(`{"id":"s%d","status":"read","timestamp":"1749416390","recipient_id":"%d"}`, i, i%7)
				}) + `]`)
			},
			n: n, each: func(i int) hostileWant {
				return hostileWant{kind: KindStatus, id: fmt.Sprintf("s%d:read", i), key: fmt.Sprint(i % 7), at: 1749416390}
			}},
		hwSparseRow(n, "contacts"), hwSparseRow(n, "errors"), hwSparseRow(n, "user_preferences"), hwSparseRow(n, "message_echoes"),
		{name: fmt.Sprintf("a message, then %d empty errors", n),
			body: func() []byte {
				return hwValue(`"messages":[` + hwText("m", "1", `"1749416383"`, "x") + `],"errors":[` + hwRepeat(n, func(int) string { return `{}` }) + `]`)
			},
			n: 2, each: func(i int) hostileWant {
				if i == 0 {
					return hwMsg("m", "1", 1749416383)
				}
				// The errors are not decoded; the notice keeps them.
				value := `{"metadata":{"phone_number_id":"P"},"messages":[` + hwText("m", "1", `"1749416383"`, "x") + `],"errors":[` + hwRepeat(n, func(int) string { return `{}` }) + `]}`
				return hostileWant{kind: KindNotice, id: hashID("notice:", "W", "messages", []byte(value)), key: "pn:P", at: 1749416400, check: hwRawHas(`{},{}]}`)}
			}},
		{name: fmt.Sprintf("%d empty entries", n), body: func() []byte { return hwBody(hwRepeat(n, func(int) string { return `{}` })) }},
		{name: fmt.Sprintf("%d empty changes", n),
			body: func() []byte {
				return hwBody(`{"id":"W","changes":[` + hwRepeat(n, func(int) string { return `{}` }) + `]}`)
			},
			n: n, each: func(int) hostileWant {
				return hostileWant{kind: KindNotice, id: hashID("notice:", "W", "", []byte(`null`)), key: "waba:W"}
			}},
		hwListRow(n, "empty shared contacts", `"type":"contacts","contacts":[%s]`, `{}`),
		hwListRow(n, "shared contacts that are numbers", `"type":"contacts","contacts":[%s]`, `1`),
		hwListRow(n, "empty phones of a shared contact", `"type":"contacts","contacts":[{"phones":[%s]}]`, `{}`),
		hwListRow(n, "empty errors", `"type":"unsupported","errors":[%s]`, `{}`),
		hwListRow(n, "empty order items", `"type":"order","order":{"product_items":[%s]}`, `{}`),
		hwListRow(n, "empty shared contacts under an escaped name", `"type":"contacts","c\u006fntacts":[%s]`, `{}`),
		hwListRow(n, "empty shared contacts under a name of another case", `"type":"contacts","CONTACTS":[%s]`, `{}`),
		{name: fmt.Sprintf("a status with %d empty errors", n),
			body: func() []byte {
				return hwValue(`"statuses":[{"id":"s","status":"failed","timestamp":"1749416390","recipient_id":"1","errors":[` +
					hwRepeat(n, func(int) string { return `{}` }) + `]}]`)
			},
			envs: []hostileWant{{kind: KindStatus, id: "s:failed", key: "1", at: 1749416390, check: hwRawHas(`{},{}]`)}}},
		{name: fmt.Sprintf("%d messages of 16 empty shared contacts", n/10),
			body: func() []byte {
				return hwValue(`"messages":[` + hwRepeat(n/10, func(i int) string {
					return `{"from":"1","id":"m` + fmt.Sprint(i) + `","timestamp":"1749416383","type":"contacts","contacts":[` + hwRepeat(16, func(int) string { return `{}` }) + `]}`
				}) + `]`)
			},
			n: n / 10, each: func(i int) hostileWant { return hwMsg(fmt.Sprint("m", i), "1", 1749416383) }},
		{name: fmt.Sprintf("%d empty messages without ids", n),
			body: func() []byte {
				return hwValue(`"messages":[` + hwRepeat(n, func(int) string { return `{}` }) + `]`)
			},
			n: n, each: func(int) hostileWant {
				// Same bytes, same derived id: the consumer keeps one.
				return hostileWant{kind: KindMessage, id: hashID("message:", "W", "messages", []byte(`{}`)), key: "pn:P"}
			}},
	}
}

// hwSparseRow: n empty items of a change value's array that does not give
// an event per item. Decoded, "{}" would cost up to a hundred times its
// three bytes (a message echo is 360 bytes); the array is left in the
// value, which one notice keeps whole.
func hwSparseRow(n int, member string) hostileRow {
	items := `"` + member + `":[` + hwRepeat(n, func(int) string { return `{}` }) + `]`
	value := `{"metadata":{"phone_number_id":"P"},` + items + `}`
	return hostileRow{name: fmt.Sprintf("%d empty %s in one change", n, member),
		body: func() []byte { return hwValue(items) },
		envs: []hostileWant{{kind: KindNotice, id: hashID("notice:", "W", "messages", []byte(value)), key: "pn:P", at: 1749416400, check: hwRawHas(`{},{}]}`)}}}
}

// hwListRow: one message whose members (a format with %s for the items)
// hold n items of an array inside it. Typed, "{}" would cost up to 70
// times its three bytes (a shared contact is 216 bytes); the message is
// decoded without the array, which its raw keeps.
func hwListRow(n int, what, members, item string) hostileRow {
	items := hwRepeat(n, func(int) string { return item })
	return hostileRow{name: fmt.Sprintf("a message of %d %s", n, what),
		body: func() []byte {
			return hwValue(`"messages":[{"from":"1","id":"m","timestamp":"1749416383",` + fmt.Sprintf(members, items) + `}]`)
		},
		envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", at: 1749416383, check: hwRawHas(item + "," + item + "]")}}}
}

// hostileTextRows: text JSON readers or Postgres refuse.
func hostileTextRows() []hostileRow {
	return []hostileRow{
		{name: "invalid UTF-8 inside a string becomes U+FFFD",
			body: func() []byte { return hwValue(`"messages":[` + hwText("m", "1", `"1749416383"`, "a\xff\xfeb") + `]`) },
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", at: 1749416383,
				check: hwAll(hwBodyIs("a\uFFFD\uFFFDb"), hwRawHas("a\uFFFD\uFFFDb"))}}},
		{name: "invalid UTF-8 outside strings", err: whatsapp.ErrMalformed,
			body: func() []byte { return []byte("{\"object\":\"whatsapp_business_account\",\xff\"entry\":[]}") }},
		{name: "escaped NUL becomes U+FFFD",
			body: func() []byte { return hwValue(`"messages":[` + hwText("m", "1", `"1749416383"`, `a\u0000b`) + `]`) },
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", at: 1749416383,
				check: hwAll(hwBodyIs("a\uFFFDb"), hwRawHas(`a\ufffdb`))}}},
		{name: "lone surrogates become U+FFFD, pairs are kept",
			body: func() []byte {
				return hwValue(`"messages":[` + hwText("m", "1", `"1749416383"`, `\ud800|\udc00|\ud83d\ude00|\\ud800`) + `]`)
			},
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", at: 1749416383,
				check: hwAll(hwBodyIs("\uFFFD|\uFFFD|😀|\\ud800"), hwRawHas(`\ufffd|\ufffd|\ud83d\ude00|\\ud800`))}}},
		{name: "raw control character in a string", err: whatsapp.ErrMalformed,
			body: func() []byte { return hwValue(`"messages":[` + hwText("m", "1", `"1"`, "a\x00b") + `]`) }},
		{name: "duplicate keys: the last one wins, as in Postgres jsonb",
			body: func() []byte {
				return []byte(`{"object":"page","object":"whatsapp_business_account","entry":[` + hwEntry(`{"messages":[{"from":"1","from":"2","id":"a","id":"b","type":"text","text":{"body":"x"},"text":{"body":"y"}}],"messages":[{"from":"3","id":"c","type":"text"}]}`) + `]}`)
			},
			envs: []hostileWant{{kind: KindMessage, id: "c", key: "3"}}},
		{name: "keys differing in case match known fields (encoding/json), the last one wins",
			body: func() []byte {
				return hwValue(`"messages":[{"FROM":"1","id":"a","ID":"b","Type":"text","TEXT":{"Body":"x"}}]`)
			},
			envs: []hostileWant{{kind: KindMessage, id: "b", key: "1", check: hwAll(hwBodyIs("x"), hwRawHas(`"id":"a","ID":"b"`))}}},
		{name: "duplicate keys inside a message",
			body: func() []byte {
				return hwValue(`"messages":[{"from":"1","from":"2","id":"a","id":"b","type":"text","text":{"body":"x"},"text":{"body":"y"}}]`)
			},
			envs: []hostileWant{{kind: KindMessage, id: "b", key: "2", check: hwAll(hwBodyIs("y"), hwRawHas(`"id":"a","id":"b"`))}}},
	}
}

// hostileTypeRows: wrong types for known fields, unknown types and fields.
func hostileTypeRows() []hostileRow {
	return []hostileRow{
		{name: "timestamp as an object",
			body: func() []byte { return hwValue(`"messages":[` + hwText("m", "1", `{"s":1}`, "x") + `]`) },
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", check: hwAll(hwBodyIs("x"), hwRawHas(`"timestamp":{"s":1}`))}}},
		{name: "message id and sender as numbers: derived id, sender from the only contact",
			body: func() []byte {
				return hwValue(`"contacts":[{"wa_id":"7"}],"messages":[{"from":7,"id":12345,"type":"text","text":{"body":"x"}}]`)
			},
			envs: []hostileWant{{kind: KindMessage, id: hashID("message:", "W", "messages", []byte(`{"from":7,"id":12345,"type":"text","text":{"body":"x"}}`)), key: "7",
				check: hwAll(hwBodyIs("x"), hwRawHas(`"id":12345`))}}},
		{name: "status id as a number, status as an array",
			body: func() []byte { return hwValue(`"statuses":[{"id":9,"status":["read"],"recipient_id":"1"}]`) },
			envs: []hostileWant{{kind: KindStatus, id: hashID("status:", "W", "messages", []byte(`{"id":9,"status":["read"],"recipient_id":"1"}`)), key: "1",
				check: func(e *Envelope) error {
					if e.Status.Rank() != 0 {
						return fmt.Errorf("rank %d", e.Status.Rank())
					}
					return nil
				}}}},
		{name: "text as a string, metadata as an array",
			body: func() []byte {
				return hwBody(hwEntry(`{"metadata":["P"],"messages":[{"from":"1","id":"m","type":"text","text":"hi"}]}`))
			},
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", check: hwAll(hwBodyIs(""), hwRawHas(`"text":"hi"`))}}},
		{name: "entry id as a number", err: whatsapp.ErrMalformed,
			body: func() []byte { return []byte(`{"object":"whatsapp_business_account","entry":[{"id":1,"changes":[]}]}`) }},
		{name: "change field as an object", err: whatsapp.ErrMalformed,
			body: func() []byte {
				return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":{},"value":{}}]}]}`)
			}},
		{name: "messages as an object", err: whatsapp.ErrMalformed,
			body: func() []byte { return hwValue(`"messages":{"id":"m"}`) }},
		{name: "contacts item as a string", err: whatsapp.ErrMalformed,
			body: func() []byte { return hwValue(`"contacts":["1"],"messages":[{"id":"m","from":"1"}]`) }},
		{name: "object as a number", err: whatsapp.ErrMalformed,
			body: func() []byte { return []byte(`{"object":7,"entry":[]}`) }},
		{name: "another object", err: whatsapp.ErrNotNotification,
			body: func() []byte { return []byte(`{"object":"instagram","entry":[` + hwEntry(`{}`) + `]}`) }},
		{name: "unknown message type and fields are kept",
			body: func() []byte {
				return hwValue(`"future_list":[{"x":1}],"messages":[{"from":"1","id":"m","timestamp":"1749416383","type":"hologram","hologram":{"frames":[1,2]},"new_flag":true}]`)
			},
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "1", at: 1749416383,
				check: hwAll(hwRawHas(`"hologram":{"frames":[1,2]}`), func(e *Envelope) error {
					if e.Message.Type != "hologram" || e.Message.Opens() {
						return fmt.Errorf("type %q opens %v", e.Message.Type, e.Message.Opens())
					}
					return nil
				})}}},
		{name: "unknown field is a notice",
			body: func() []byte {
				return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"teleport","value":{"where":"mars"}}]}]}`)
			},
			envs: []hostileWant{{kind: KindNotice, id: hashID("notice:", "W", "teleport", []byte(`{"where":"mars"}`)), key: "waba:W",
				check: hwRawHas(`"where":"mars"`)}}},
		{name: "null everywhere",
			body: func() []byte {
				return []byte(`{"object":"whatsapp_business_account","entry":[null,{"id":null,"changes":null},{"id":"W","changes":[null,{"field":"messages","value":null}]}]}`)
			},
			envs: []hostileWant{
				{kind: KindNotice, id: hashID("notice:", "W", "", []byte(`null`)), key: "waba:W"},
				{kind: KindNotice, id: hashID("notice:", "W", "messages", []byte(`null`)), key: "waba:W"},
			}},
	}
}

// hostileNumberRows: huge, negative and out-of-range numbers.
func hostileNumberRows() []hostileRow {
	status := func(ts string) []byte {
		return hwValue(`"messages":[` + hwText("m", "1", `"1749416383"`, "ok") + `],"statuses":[{"id":"s","status":"sent","timestamp":` + ts + `,"recipient_id":"1"}]`)
	}
	okMsg := hwMsg("m", "1", 1749416383)
	sent := func(at int64, raw string) hostileWant {
		return hostileWant{kind: KindStatus, id: "s:sent", key: "1", at: at, check: hwRawHas(`"timestamp":` + raw)}
	}
	return []hostileRow{
		{name: "status timestamp in year 24152 (0700000000000)", body: func() []byte { return status(`"0700000000000"`) },
			envs: []hostileWant{okMsg, sent(0, `"0700000000000"`)}},
		{name: "timestamp at the last second of year 9999", body: func() []byte { return status(`"253402300799"`) },
			envs: []hostileWant{okMsg, sent(whatsapp.MaxUnixTime, `"253402300799"`)}},
		{name: "timestamp one second after year 9999", body: func() []byte { return status(`"253402300800"`) },
			envs: []hostileWant{okMsg, sent(0, `"253402300800"`)}},
		{name: "timestamp beyond int64", body: func() []byte { return status(`"99999999999999999999999"`) },
			envs: []hostileWant{okMsg, sent(0, `"99999999999999999999999"`)}},
		{name: "timestamp as a huge JSON number", body: func() []byte { return status(`1e400`) },
			envs: []hostileWant{okMsg, sent(0, `1e400`)}},
		{name: "negative timestamp", body: func() []byte { return status(`"-1749416383"`) },
			envs: []hostileWant{okMsg, sent(0, `"-1749416383"`)}},
		{name: "entry time and preference timestamp out of range",
			body: func() []byte {
				return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","time":1e14,"changes":[` +
					`{"field":"user_preferences","value":{"user_preferences":[{"wa_id":"1","timestamp":"9223372036854775807"}]}},` +
					`{"field":"account_update","value":{"event":"X"}}]}]}`)
			},
			envs: []hostileWant{
				{kind: KindNotice, id: hashID("notice:", "W", "user_preferences", []byte(`{"user_preferences":[{"wa_id":"1","timestamp":"9223372036854775807"}]}`)), key: "1"},
				{kind: KindNotice, id: hashID("notice:", "W", "account_update", []byte(`{"event":"X"}`)), key: "waba:W"},
			}},
		{name: "huge and negative numbers in known numeric fields",
			body: func() []byte {
				return hwValue(`"messages":[{"from":"1","id":"m","type":"location","location":{"latitude":1e400,"longitude":-1e400}},` +
					`{"from":"1","id":"o","type":"order","order":{"product_items":[{"quantity":-99999999999999999999,"item_price":1e308}]}}],` +
					`"statuses":[{"id":"s","status":"failed","recipient_id":"1","errors":[{"code":1e30}]},{"id":"t","status":"failed","recipient_id":"1","errors":[{"code":-131047}]}]`)
			},
			envs: []hostileWant{hwMsg("m", "1", 0), hwMsg("o", "1", 0),
				{kind: KindStatus, id: "s:failed", key: "1", check: hwStatusCode(0)},
				{kind: KindStatus, id: "t:failed", key: "1", check: hwStatusCode(-131047)}}},
	}
}

func hwStatusCode(want int) func(*Envelope) error {
	return func(e *Envelope) error {
		if got := e.Status.ErrorCode(); got != want {
			return fmt.Errorf("error code %d, want %d", got, want)
		}
		return nil
	}
}

// hostileIDRows: huge, empty and missing ids.
func hostileIDRows() []hostileRow {
	long := strings.Repeat("9", 100_000)
	return []hostileRow{
		{name: "100 KB ids are kept",
			body: func() []byte { return hwValue(`"messages":[` + hwText(long, long, `"1749416383"`, "x") + `]`) },
			envs: []hostileWant{hwMsg(long, long, 1749416383)}},
		{name: "empty ids: derived message and status ids, no contact",
			body: func() []byte {
				return hwValue(`"contacts":[{"wa_id":"","user_id":""},{"wa_id":""}],"messages":[{"from":"","id":"","type":"text"}],"statuses":[{"id":"","status":"read","recipient_id":""}]`)
			},
			envs: []hostileWant{
				{kind: KindMessage, id: hashID("message:", "W", "messages", []byte(`{"from":"","id":"","type":"text"}`)), key: "pn:P"},
				{kind: KindStatus, id: hashID("status:", "W", "messages", []byte(`{"id":"","status":"read","recipient_id":""}`)), key: "pn:P"},
			}},
		{name: "missing ids everywhere",
			body: func() []byte {
				return []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"type":"text"}],"statuses":[{"status":"read"}]}}]}]}`)
			},
			envs: []hostileWant{
				{kind: KindMessage, id: hashID("message:", "", "messages", []byte(`{"type":"text"}`)), key: "waba:"},
				{kind: KindStatus, id: hashID("status:", "", "messages", []byte(`{"status":"read"}`)), key: "waba:"},
			}},
		{name: "user id only, no wa_id",
			body: func() []byte {
				return hwValue(`"contacts":[{"user_id":"US.1"}],"messages":[{"from_user_id":"US.1","id":"m","type":"text"}]`)
			},
			envs: []hostileWant{{kind: KindMessage, id: "m", key: "US.1"}}},
	}
}

// TestHostileBodies: every hostile body gives its expected outcome, and
// every envelope it gives satisfies the fuzzers' property (checkEnvelopes).
func TestHostileBodies(t *testing.T) {
	for _, row := range hostileRows() {
		t.Run(row.name, func(t *testing.T) {
			envs, err := ParseAndSplit(row.body(), whReceivedAt)
			if row.err != nil {
				if !errors.Is(err, row.err) || envs != nil {
					t.Fatalf("ParseAndSplit = %d envelopes, %v; want %v", len(envs), err, row.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAndSplit: %v", err)
			}
			want := row.envs
			if want == nil {
				for i := range row.n {
					want = append(want, row.each(i))
				}
			}
			if len(envs) != len(want) {
				t.Fatalf("%d envelopes, want %d", len(envs), len(want))
			}
			for i, w := range want {
				if err := w.matches(&envs[i]); err != nil {
					t.Fatalf("envelope %d: %v", i, err)
				}
			}
			checkEnvelopes(t, envs)
		})
	}
}

func (w hostileWant) matches(e *Envelope) error {
	at := whReceivedAt
	if w.at != 0 {
		at = time.Unix(w.at, 0).UTC()
	}
	if e.Kind != w.kind || e.ID != w.id || e.Key() != w.key || !e.OccurredAt.Equal(at) {
		return fmt.Errorf("got %s %.40q key %.40q at %v; want %s %.40q key %.40q at %v",
			e.Kind, e.ID, e.Key(), e.OccurredAt, w.kind, w.id, w.key, at)
	}
	if w.check != nil {
		return w.check(e)
	}
	return nil
}

// TestHostileBodiesAllocate: parsing and splitting a hostile body allocates
// a bounded multiple of its size whatever its shape (no amplification by
// nesting, repetition or long strings). Measured in allocated bytes, not
// time.
func TestHostileBodiesAllocate(t *testing.T) {
	for _, row := range hostileRows() {
		t.Run(row.name, func(t *testing.T) {
			body := row.body()
			var envs []Envelope
			allocated := allocatedBytes(func() { envs, _ = ParseAndSplit(body, whReceivedAt) })
			if limit := hostileAllocLimit(len(body), len(envs)); allocated > limit {
				t.Fatalf("%d bytes allocated for a %d-byte body of %d events; limit %d", allocated, len(body), len(envs), limit)
			}
		})
	}
}

// TestDeclinedWalksAllocate: change values that the one-pass walk of the
// common shapes could read far into before finding something it does not
// take (a member it does not know after the arrays, a 17th item, an array
// of another kind after them) cost no more than the bound either: the
// walk looks at the whole value before it decodes anything.
func TestDeclinedWalksAllocate(t *testing.T) {
	media := `{"image":{},"audio":{},"video":{},"document":{},"sticker":{}}`
	items := func(item string, n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	for name, value := range map[string]string{
		"16 media messages":                     `{"messages":` + items(media, 16) + `}`,
		"16 media messages, then a member":      `{"messages":` + items(media, 16) + `,"x":1}`,
		"16 contacts, then 17 messages":         `{"contacts":` + items(`{"wa_id":"1"}`, 16) + `,"messages":` + items(media, 17) + `}`,
		"16 of each, then a member":             `{"contacts":` + items(`{}`, 16) + `,"messages":` + items(media, 16) + `,"statuses":` + items(`{"id":"s"}`, 16) + `,"x":1}`,
		"16 media messages, then 17 contacts":   `{"messages":` + items(media, 16) + `,"contacts":` + items(`{}`, 17) + `}`,
		"16 media messages, then user_prefs":    `{"messages":` + items(media, 16) + `,"user_preferences":[{}]}`,
		"16 media messages, the last one other": `{"messages":[` + strings.Repeat(media+",", 15) + `{"location":{}}]}`,
		"16 empty contacts":                     `{"contacts":` + items(`{}`, 16) + `}`,
		"16 contacts":                           `{"contacts":` + items(`{"wa_id":"1","profile":{"name":"n"}}`, 16) + `}`,
		"16 empty statuses":                     `{"statuses":` + items(`{}`, 16) + `}`,
		"metadata only":                         `{"metadata":{"phone_number_id":"P","display_phone_number":"1"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			body := hwBody(hwRepeat(2000, func(int) string { return hwEntry(value) }))
			var envs []Envelope
			allocated := allocatedBytes(func() { envs, _ = ParseAndSplit(body, whReceivedAt) })
			if limit := hostileAllocLimit(len(body), len(envs)); allocated > limit {
				t.Errorf("%d bytes allocated for a %d-byte body of %d events; limit %d", allocated, len(body), len(envs), limit)
			}
		})
	}
}

// hostileAllocLimit is what parsing a body may cost: 16 bytes per byte of
// body, plus 1.5 KiB per event (each event becomes typed structs and an
// envelope of about 1 KiB however short its JSON, "{}" included), plus 1 MiB
// (encoding/json's scanner stack for the deepest nesting it accepts).
func hostileAllocLimit(size, events int) uint64 {
	return uint64(16*size + 1536*events + 1<<20)
}

// allocatedBytes returns the bytes f allocates on the heap.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// BenchmarkHostile parses the big hostile shapes at two sizes and the
// deepest nesting: time and bytes per body byte must stay flat from 10^3
// to 10^4 items (linear, not quadratic).
func BenchmarkHostile(b *testing.B) {
	rows := slicesConcat(hostileSizeRows(hwMany/10), hostileSizeRows(hwMany), hostileNestingRows())
	for _, row := range rows {
		body := row.body()
		b.Run(row.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, _ = ParseAndSplit(body, whReceivedAt)
			}
		})
	}
}
