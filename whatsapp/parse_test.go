package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// split parses body and splits it into items; it fails the test when the
// body does not parse.
func split(tb testing.TB, body []byte) []Item {
	tb.Helper()
	n, err := Parse(body)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return Split(n)
}

// TestCorpusSplits: every webhook body of the conformance corpus parses
// and splits into items that each carry exactly one part (the golden
// expectations of each item are package event's).
func TestCorpusSplits(t *testing.T) {
	for _, name := range wagwtest.WebhookFixtures(t) {
		items := split(t, wagwtest.ReadConformance(t, name))
		if len(items) == 0 {
			t.Errorf("%s: no items", name)
		}
		for i := range items {
			if err := checkItem(&items[i]); err != nil {
				t.Errorf("%s: item %d: %v", name, i, err)
			}
		}
	}
	if Split(nil) != nil {
		t.Error("Split(nil) is not nil")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want error
	}{
		{"empty", ``, ErrMalformed},
		{"not json", `hello`, ErrMalformed},
		{"truncated", `{"object":"whatsapp_business_account","entry":[`, ErrMalformed},
		{"trailing garbage", `{"object":"whatsapp_business_account"} x`, ErrMalformed},
		{"array", `[]`, ErrMalformed},
		{"string", `"whatsapp_business_account"`, ErrMalformed},
		{"null", `null`, ErrNotNotification},
		{"empty object", `{}`, ErrNotNotification},
		{"other object", `{"object":"page","entry":[]}`, ErrNotNotification},
		{"object not a string", `{"object":1,"entry":[]}`, ErrMalformed},
		{"entry not an array", `{"object":"whatsapp_business_account","entry":{}}`, ErrMalformed},
		{"changes not an array", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":"x"}]}`, ErrMalformed},
		{"value not an object", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":[]}]}]}`, ErrMalformed},
		{"messages not an array", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":{}}}]}]}`, ErrMalformed},
		{"message not an object", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[1]}}]}]}`, ErrMalformed},
		{"status not an object", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":["x"]}}]}]}`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Parse([]byte(tc.body))
			if !errors.Is(err, tc.want) || n != nil {
				t.Fatalf("Parse = %v, %v; want %v", n, err, tc.want)
			}
		})
	}
}

func TestMessageMethods(t *testing.T) {
	for _, tc := range []struct {
		json         string
		opens        bool
		body, reply  string
		ctx, referer string
	}{
		{json: `{"type":"text","text":{"body":"hi"},"context":{"id":"q"},"referral":{"source_id":"ad"}}`, opens: true, body: "hi", ctx: "q", referer: "ad"},
		{json: `{"type":"text"}`, opens: true},
		{json: `{"type":"image","image":{"caption":"c"}}`, opens: true, body: "c"},
		{json: `{"type":"image","video":{"caption":"wrong part"}}`, opens: true},
		{json: `{"type":"audio","audio":{}}`, opens: true},
		{json: `{"type":"video","video":{"caption":"v"}}`, opens: true, body: "v"},
		{json: `{"type":"document","document":{"caption":"d"}}`, opens: true, body: "d"},
		{json: `{"type":"sticker","sticker":{}}`, opens: true},
		{json: `{"type":"location","location":{"latitude":1}}`, opens: true},
		{json: `{"type":"contacts","contacts":[]}`, opens: true},
		{json: `{"type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b1","title":"Yes"}}}`, opens: true, body: "Yes", reply: "b1"},
		{json: `{"type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"r1","title":"Row"}}}`, opens: true, body: "Row", reply: "r1"},
		{json: `{"type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{}"}}}`, opens: true},
		{json: `{"type":"button","button":{"payload":"P","text":"T"}}`, opens: true, body: "T", reply: "P"},
		{json: `{"type":"order","order":{"text":"note"}}`, opens: true},
		{json: `{"type":"reaction","reaction":{"message_id":"x","emoji":"❤"}}`},
		{json: `{"type":"system","system":{"body":"changed"}}`},
		{json: `{"type":"unsupported","unsupported":{"type":"poll"}}`},
		{json: `{"type":"edit","edit":{"message":{"type":"text","text":{"body":"new"}}}}`},
		{json: `{"type":"revoke","revoke":{}}`},
		{json: `{"type":"request_welcome"}`},
		{json: `{"type":"errors","errors":[{"code":1}]}`},
		{json: `{"type":"hologram"}`},
		{json: `{}`},
	} {
		var m Message
		if err := json.Unmarshal([]byte(tc.json), &m); err != nil {
			t.Fatal(err)
		}
		if m.Opens() != tc.opens || m.Body() != tc.body || m.ReplyID() != tc.reply || m.ContextID() != tc.ctx || m.ReferralSourceID() != tc.referer {
			t.Errorf("%s: Opens %v Body %q ReplyID %q ContextID %q ReferralSourceID %q", tc.json, m.Opens(), m.Body(), m.ReplyID(), m.ContextID(), m.ReferralSourceID())
		}
	}
	var nfm Message
	_ = json.Unmarshal([]byte(`{"type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{\"a\":1}"}}}`), &nfm)
	if r := nfm.Interactive.NFMReply; r == nil || r.ResponseJSON != `{"a":1}` || r.Name != "flow" {
		t.Errorf("nfm_reply = %+v", r)
	}
}

func TestTimes(t *testing.T) {
	for ts, want := range map[string]int64{"1749416383": 1749416383, "": 0, "abc": 0, "0": 0, "-1": 0, "1.5": 0, " 1": 0,
		"1": 1, "253402300799": MaxUnixTime, "253402300800": 0, "0700000000000": 0, "9223372036854775807": 0, "99999999999999999999": 0} {
		m := Message{Timestamp: ts}
		s := Status{Timestamp: ts}
		var w time.Time
		if want != 0 {
			w = time.Unix(want, 0).UTC()
		}
		if !m.Time().Equal(w) || !s.Time().Equal(w) || m.Time().IsZero() != (want == 0) {
			t.Errorf("%q: Time() = %v / %v, want %v", ts, m.Time(), s.Time(), w)
		}
		if want != 0 && m.Time().Location() != time.UTC {
			t.Errorf("%q: not UTC", ts)
		}
	}
	for raw, want := range map[string]UnixTime{`1731705721`: 1731705721, `"1731705721"`: 1731705721, `"x"`: 0, `null`: 0, `{}`: 0, `1.7e9`: 1700000000} {
		var u UnixTime
		if err := json.Unmarshal([]byte(raw), &u); err != nil || u != want {
			t.Errorf("UnixTime(%s) = %d, %v; want %d", raw, u, err, want)
		}
	}
	// Out of [1, MaxUnixTime]: kept as sent, but no time.
	for _, u := range []UnixTime{0, -1, MaxUnixTime + 1, 700000000000, 1e14, 1<<63 - 1} {
		if !u.Time().IsZero() {
			t.Errorf("UnixTime(%d).Time() = %v, want zero", u, u.Time())
		}
	}
	if got := UnixTime(MaxUnixTime).Time(); got.Year() != 9999 || got.Location() != time.UTC {
		t.Errorf("UnixTime(MaxUnixTime).Time() = %v", got)
	}
}

func TestStatusRank(t *testing.T) {
	order := []string{"sent", "delivered", "read", "played", "deleted", "failed"}
	prev := 0
	for _, st := range order {
		r := (&Status{Status: st}).Rank()
		if r <= prev {
			t.Errorf("rank(%s) = %d, not above %d", st, r, prev)
		}
		prev = r
	}
	if r := (&Status{Status: "failed"}).Rank(); r != RankFailed {
		t.Errorf("failed rank %d", r)
	}
	for _, st := range []string{"", "warning", "SENT", "accepted"} {
		if r := (&Status{Status: st}).Rank(); r != 0 {
			t.Errorf("rank(%q) = %d, want 0", st, r)
		}
	}
	if c := (&Status{}).ErrorCode(); c != 0 {
		t.Errorf("ErrorCode of no errors = %d", c)
	}
	if d := (ErrorDetail{}).Details(); d != "" {
		t.Errorf("Details of no data = %q", d)
	}
}

// TestRawIsACopy: nothing in the items aliases the body (Fiber reuses its
// buffers after the handler returns).
func TestRawIsACopy(t *testing.T) {
	body := wagwtest.ReadConformance(t, "constructed_multi_entry_batch.json")
	items := split(t, body)
	before, _ := json.Marshal(items)
	for i := range body {
		body[i] = 'x'
	}
	after, _ := json.Marshal(items)
	if !bytes.Equal(before, after) {
		t.Fatal("items changed when the body buffer was overwritten")
	}
}
