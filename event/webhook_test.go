package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

func TestGoldenCorpus(t *testing.T) {
	for _, name := range wagwtest.WebhookFixtures(t) {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			g, ok := whGoldens[name]
			if !ok {
				t.Fatalf("%s has no entry in the golden table", name)
			}
			body := wagwtest.ReadConformance(t, name)
			n, err := whatsapp.Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			envs := Split(n, whReceivedAt)
			if len(envs) != len(g.envs) {
				for i, e := range envs {
					t.Logf("got %d: %s %s key=%s", i, e.Kind, e.ID, e.Key())
				}
				t.Fatalf("%d envelopes, want %d", len(envs), len(g.envs))
			}
			for i, w := range g.envs {
				whCheckEnvelope(t, i, &envs[i], w)
			}
			if g.check != nil {
				g.check(t, n, envs)
			}
			// ParseAndSplit agrees with whatsapp.Parse+Split.
			again, err := ParseAndSplit(body, whReceivedAt)
			if err != nil || !reflect.DeepEqual(again, envs) {
				t.Errorf("ParseAndSplit differs from whatsapp.Parse+Split (err %v)", err)
			}
		})
	}
}

// TestGoldenTableMatchesCorpus: every fixture has an entry and every entry a
// fixture, so a new file forces a new expectation.
func TestGoldenTableMatchesCorpus(t *testing.T) {
	files := wagwtest.WebhookFixtures(t)
	for _, f := range files {
		if _, ok := whGoldens[f]; !ok {
			t.Errorf("fixture %s is not in the golden table", f)
		}
	}
	for name := range whGoldens {
		if !slices.Contains(files, name) {
			t.Errorf("golden entry %s has no fixture in the conformance corpus", name)
		}
	}
}

func whCheckEnvelope(t *testing.T, i int, e *Envelope, w whWant) {
	t.Helper()
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf("envelope %d (%s): "+format, append([]any{i, e.ID}, args...)...)
	}
	if e.Version != Version {
		errorf("version %d", e.Version)
	}
	if e.Kind != w.kind {
		errorf("kind %q, want %q", e.Kind, w.kind)
	}
	if e.ID != w.id {
		errorf("id %q, want %q", e.ID, w.id)
	}
	if e.Key() != w.key {
		errorf("key %q, want %q", e.Key(), w.key)
	}
	if e.Contact.Name != w.name {
		errorf("contact name %q, want %q", e.Contact.Name, w.name)
	}
	if e.PhoneNumberID != w.pn {
		errorf("phone_number_id %q, want %q", e.PhoneNumberID, w.pn)
	}
	if e.Field != w.field {
		errorf("field %q, want %q", e.Field, w.field)
	}
	wantAt := whReceivedAt
	if w.at != 0 {
		wantAt = time.Unix(w.at, 0).UTC()
	}
	if !e.OccurredAt.Equal(wantAt) {
		errorf("occurred_at %v, want %v", e.OccurredAt, wantAt)
	}
	if !e.ReceivedAt.Equal(whReceivedAt) {
		errorf("received_at %v", e.ReceivedAt)
	}
	switch w.kind {
	case KindMessage:
		m := e.Message
		if m == nil || e.Status != nil || e.Raw != nil {
			errorf("message envelope carries message=%v status=%v raw=%d", m != nil, e.Status != nil, len(e.Raw))
			return
		}
		if m.Type != w.typ {
			errorf("type %q, want %q", m.Type, w.typ)
		}
		if m.Opens() != w.opens {
			errorf("Opens() = %v, want %v", m.Opens(), w.opens)
		}
		if m.Body() != w.body {
			errorf("Body() = %q, want %q", m.Body(), w.body)
		}
		if m.ReplyID() != w.reply {
			errorf("ReplyID() = %q, want %q", m.ReplyID(), w.reply)
		}
		if m.IsReaction() != (w.typ == "reaction") {
			errorf("IsReaction() = %v", m.IsReaction())
		}
		if !m.Time().Equal(wantAt) {
			errorf("Time() = %v", m.Time())
		}
		whCheckRaw(t, m.Raw, "id", m.ID)
	case KindStatus:
		s := e.Status
		if s == nil || e.Message != nil || e.Raw != nil {
			errorf("status envelope carries status=%v message=%v raw=%d", s != nil, e.Message != nil, len(e.Raw))
			return
		}
		if e.ID != s.ID+":"+s.Status {
			errorf("id is not wamid:status")
		}
		if s.Rank() != w.rank {
			errorf("Rank() = %d, want %d", s.Rank(), w.rank)
		}
		if s.ErrorCode() != w.code {
			errorf("ErrorCode() = %d, want %d", s.ErrorCode(), w.code)
		}
		if (s.Status == whatsapp.StatusFailed) != (w.code != 0) {
			errorf("failed status without error code, or the reverse")
		}
		whCheckRaw(t, s.Raw, "id", s.ID)
	case KindNotice:
		if e.Message != nil || e.Status != nil || len(e.Raw) == 0 || !json.Valid(e.Raw) {
			errorf("notice must carry only a valid raw value (raw %d bytes)", len(e.Raw))
		}
	}
}

// whCheckRaw: raw is a JSON object whose key has the wanted string value.
func whCheckRaw(t *testing.T, raw json.RawMessage, key, want string) {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Errorf("raw is not a JSON object: %v (%q)", err, raw)
		return
	}
	if obj[key] != want {
		t.Errorf("raw[%q] = %v, want %q", key, obj[key], want)
	}
}

func whJSONEqual(t *testing.T, what string, a, b []byte) {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(x, y) {
		t.Errorf("%s: JSON differs:\n%s\n%s", what, a, b)
	}
}

// TestEnvelopeRoundTrip: every envelope of the corpus survives JSON, with
// its Message.Raw / Status.Raw / notice Raw.
func TestEnvelopeRoundTrip(t *testing.T) {
	for _, name := range wagwtest.WebhookFixtures(t) {
		envs, err := ParseAndSplit(wagwtest.ReadConformance(t, name), whReceivedAt)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range envs {
			orig := &envs[i]
			b, err := json.Marshal(orig)
			if err != nil {
				t.Fatalf("%s/%d: marshal: %v", name, i, err)
			}
			var back Envelope
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s/%d: unmarshal: %v", name, i, err)
			}
			b2, err := json.Marshal(&back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Errorf("%s/%d: round trip changed the envelope:\n%s\n%s", name, i, b, b2)
			}
			if back.ID != orig.ID || back.Kind != orig.Kind || back.Key() != orig.Key() || back.Contact != orig.Contact ||
				!back.OccurredAt.Equal(orig.OccurredAt) || !back.ReceivedAt.Equal(orig.ReceivedAt) || back.Version != Version {
				t.Errorf("%s/%d: header fields changed: %+v", name, i, back)
			}
			switch orig.Kind {
			case KindMessage:
				if len(back.Message.Raw) == 0 {
					t.Fatalf("%s/%d: Message.Raw lost", name, i)
				}
				whJSONEqual(t, name+" message raw", back.Message.Raw, orig.Message.Raw)
				if back.Message.Body() != orig.Message.Body() || back.Message.ReplyID() != orig.Message.ReplyID() || back.Message.Opens() != orig.Message.Opens() {
					t.Errorf("%s/%d: message methods changed", name, i)
				}
			case KindStatus:
				whJSONEqual(t, name+" status raw", back.Status.Raw, orig.Status.Raw)
				if back.Status.Rank() != orig.Status.Rank() {
					t.Errorf("%s/%d: rank changed", name, i)
				}
			case KindNotice:
				whJSONEqual(t, name+" notice raw", back.Raw, orig.Raw)
			}
		}
	}
}

func TestSplitIsDeterministic(t *testing.T) {
	// Redelivery of the same body gives the same envelope ids, notices
	// included, whatever the whitespace.
	for _, name := range []string{"pywa_template_status_update.json", "meta_errors_value_130429.json", "constructed_multi_entry_batch.json"} {
		body := wagwtest.ReadConformance(t, name)
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err != nil {
			t.Fatal(err)
		}
		a, err1 := ParseAndSplit(body, whReceivedAt)
		b, err2 := ParseAndSplit(compact.Bytes(), whReceivedAt.Add(time.Hour))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		for i := range a {
			if a[i].ID != b[i].ID || a[i].Key() != b[i].Key() {
				t.Errorf("%s: envelope %d: %s/%s vs %s/%s", name, i, a[i].ID, a[i].Key(), b[i].ID, b[i].Key())
			}
		}
	}
}

// whWrap builds a one-change notification around a value.
func whWrap(field, value string) []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"` + field + `","value":` + value + `}]}]}`)
}

func whSplit(t *testing.T, body []byte) []Envelope {
	t.Helper()
	envs, err := ParseAndSplit(body, whReceivedAt)
	if err != nil {
		t.Fatalf("ParseAndSplit: %v", err)
	}
	return envs
}

func TestTolerance(t *testing.T) {
	t.Run("empty entry list", func(t *testing.T) {
		if envs := whSplit(t, []byte(`{"object":"whatsapp_business_account","entry":[]}`)); len(envs) != 0 {
			t.Fatalf("envs = %v", envs)
		}
	})
	t.Run("unknown fields and unknown type", func(t *testing.T) {
		envs := whSplit(t, whWrap("messages", `{"metadata":{"phone_number_id":"P","new_field":{"a":1}},"future":[1,2],
			"messages":[{"from":"1","id":"wamid.U","timestamp":"1700000000","type":"request_welcome","request_welcome":{"x":true},"extra":1}]}`))
		m := envs[0].Message
		if len(envs) != 1 || m.Type != "request_welcome" || m.Opens() || m.Body() != "" || !bytes.Contains(m.Raw, []byte(`"request_welcome":{"x":true}`)) {
			t.Fatalf("envs = %+v", envs)
		}
	})
	t.Run("wrong type inside a message keeps the message", func(t *testing.T) {
		envs := whSplit(t, whWrap("messages", `{"contacts":[{"wa_id":"1","profile":{"name":5}}],
			"messages":[{"from":"1","id":"wamid.O","timestamp":"1700000000","type":"order",
			"order":{"catalog_id":"C","product_items":[{"product_retailer_id":"A","quantity":"3","item_price":1.5}]}}]}`))
		m := envs[0].Message
		if m.ID != "wamid.O" || m.Order.CatalogID != "C" || m.Order.ProductItems[0].ItemPrice != 1.5 || m.Order.ProductItems[0].Quantity != 0 {
			t.Fatalf("message = %+v", m)
		}
		if !bytes.Contains(m.Raw, []byte(`"quantity":"3"`)) || envs[0].Key() != "1" {
			t.Fatalf("raw or key lost: %s %q", m.Raw, envs[0].Key())
		}
	})
	t.Run("interactive without object", func(t *testing.T) {
		envs := whSplit(t, whWrap("messages", `{"messages":[{"from":"1","id":"a","type":"interactive","interactive":null},{"from":"1","id":"b","type":"interactive","interactive":{}},{"from":"1","id":"c","type":"interactive","interactive":{"type":"button_reply"}}]}`))
		for _, e := range envs {
			if e.Message.Body() != "" || e.Message.ReplyID() != "" {
				t.Errorf("%s: body %q reply %q", e.ID, e.Message.Body(), e.Message.ReplyID())
			}
		}
	})
	t.Run("timestamp as number or junk", func(t *testing.T) {
		envs := whSplit(t, whWrap("messages", `{"messages":[{"from":"1","id":"a","timestamp":1700000000,"type":"text","text":{"body":"x"}},{"from":"1","id":"b","timestamp":"soon","type":"text"}],
			"statuses":[{"id":"s","status":"sent","timestamp":"-5","recipient_id":"1"}]}`))
		for _, e := range envs {
			if !e.OccurredAt.Equal(whReceivedAt) {
				t.Errorf("%s: occurred_at %v, want receivedAt", e.ID, e.OccurredAt)
			}
		}
		if envs[0].Message.Body() != "x" {
			t.Errorf("body lost next to a numeric timestamp")
		}
	})
	t.Run("missing ids get stable hashes", func(t *testing.T) {
		body := whWrap("messages", `{"messages":[{"from":"1","type":"text"}],"statuses":[{"status":"sent","recipient_id":"1"}]}`)
		a, b := whSplit(t, body), whSplit(t, body)
		if !strings.HasPrefix(a[0].ID, "message:") || !strings.HasPrefix(a[1].ID, "status:") || a[0].ID != b[0].ID || a[1].ID != b[1].ID {
			t.Fatalf("ids %q %q / %q %q", a[0].ID, a[1].ID, b[0].ID, b[1].ID)
		}
	})
	t.Run("empty change is a notice", func(t *testing.T) {
		envs := whSplit(t, whWrap("messages", `{}`))
		if len(envs) != 1 || envs[0].Kind != KindNotice || envs[0].Key() != "waba:W" {
			t.Fatalf("envs = %+v", envs)
		}
	})
	t.Run("notices of different content differ", func(t *testing.T) {
		a := whSplit(t, whWrap("account_update", `{"event":"A"}`))
		b := whSplit(t, whWrap("account_update", `{"event":"B"}`))
		c := whSplit(t, whWrap("other_field", `{"event":"A"}`))
		if a[0].ID == b[0].ID || a[0].ID == c[0].ID {
			t.Fatalf("notice ids collide: %s %s %s", a[0].ID, b[0].ID, c[0].ID)
		}
	})
	t.Run("split of nil", func(t *testing.T) {
		if envs := Split(nil, whReceivedAt); envs != nil {
			t.Fatal(envs)
		}
	})
}

// TestContactKeys covers payloads without a phone number (BSUID only).
func TestContactKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		want  []Contact
	}{
		{
			name:  "message with user id only",
			value: `{"contacts":[{"profile":{"name":"Ana"},"user_id":"BR.1"}],"messages":[{"from_user_id":"BR.1","id":"m","type":"text"}]}`,
			want:  []Contact{{UserID: "BR.1", Name: "Ana"}},
		},
		{
			name:  "message with user id, contacts know the phone",
			value: `{"contacts":[{"profile":{"name":"Ana"},"wa_id":"55119","user_id":"BR.1"}],"messages":[{"from_user_id":"BR.1","id":"m","type":"text"}]}`,
			want:  []Contact{{WaID: "55119", UserID: "BR.1", Name: "Ana"}},
		},
		{
			name:  "message with no sender at all, one contact",
			value: `{"contacts":[{"profile":{"name":"Ana"},"user_id":"BR.1"}],"messages":[{"id":"m","type":"text"}]}`,
			want:  []Contact{{UserID: "BR.1", Name: "Ana"}},
		},
		{
			name:  "message with no sender, two contacts: unknown",
			value: `{"contacts":[{"user_id":"BR.1"},{"user_id":"BR.2"}],"messages":[{"id":"m","type":"text"}]}`,
			want:  []Contact{{}},
		},
		{
			name: "two senders matched to their entries",
			value: `{"contacts":[{"profile":{"name":"A"},"wa_id":"1","user_id":"U1"},{"profile":{"name":"B"},"wa_id":"2","user_id":"U2"}],
				"messages":[{"from":"2","id":"m1","type":"text"},{"from":"1","from_user_id":"U1","id":"m2","type":"text"}]}`,
			want: []Contact{{WaID: "2", UserID: "U2", Name: "B"}, {WaID: "1", UserID: "U1", Name: "A"}},
		},
		{
			name:  "status with recipient user id only",
			value: `{"statuses":[{"id":"w","status":"sent","recipient_user_id":"BR.1"}]}`,
			want:  []Contact{{UserID: "BR.1"}},
		},
		{
			name:  "status with recipient user id, contacts know the phone",
			value: `{"contacts":[{"profile":{"name":"Ana"},"wa_id":"55119","user_id":"BR.1"}],"statuses":[{"id":"w","status":"read","recipient_user_id":"BR.1"}]}`,
			want:  []Contact{{WaID: "55119", UserID: "BR.1", Name: "Ana"}},
		},
		{
			name:  "user preferences by user id",
			value: `{"user_preferences":[{"user_id":"BR.1","value":"stop","timestamp":"1731705721"}]}`,
			want:  []Contact{{UserID: "BR.1"}},
		},
		{
			name:  "user preferences for two users: no contact",
			value: `{"user_preferences":[{"wa_id":"1"},{"wa_id":"2"}]}`,
			want:  []Contact{{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			envs := whSplit(t, whWrap("messages", tc.value))
			if len(envs) != len(tc.want) {
				t.Fatalf("%d envelopes, want %d", len(envs), len(tc.want))
			}
			for i, w := range tc.want {
				if envs[i].Contact != w {
					t.Errorf("envelope %d contact = %+v, want %+v", i, envs[i].Contact, w)
				}
				if envs[i].Key() == "" {
					t.Errorf("envelope %d has no key", i)
				}
			}
		})
	}
}
