package whatsapp

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wagw/wagw/wagwtest"
)

// FuzzWalkMatchesUnmarshal: on any valid JSON, walkNotification either
// declines (Parse then uses json.Unmarshal) or gives exactly what
// json.Unmarshal gives, which then succeeds.
func FuzzWalkMatchesUnmarshal(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{`null`, `{}`, `[]`, `" "`, ` {"object":"whatsapp_business_account"} `,
		`{"object":"a\u00e9\n","entry":[]}`, `{"OBJECT":"x","object":"y"}`, `{"Entry":[{"ID":"1","Changes":[{"Field":"f","Value":{}}]}]}`,
		`{"entry":[{"id":"1","time":"17"},{"time":1.5e3},{"time":-3},{"time":null}]}`, `{"entry":[null]}`, `{"entry":null}`,
		`{"entry":[{"changes":[{"value":null}]}]}`, `{"entry":[{"changes":[{"value":{"messages":[1]}}]}]}`,
		`{"entry":[{"changes":[{"field":5}]}]}`, `{"entry":[{"id":5}]}`, `{"entry":[{"standby":[{}]}]}`, `{"extra":1,"object":"o"}`,
		`{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w","from":"1"}]}},{"field":"x"}]}]}`,
		`{"entry":[{"ſ":1}]}`, `{"entry":[{"changes":[],"changes":[]}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = storableText(b)
		if !json.Valid(b) {
			return // Parse walks only what json.Valid accepted
		}
		var got Notification
		if !walkNotification(b, &got) {
			return
		}
		var want Notification
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: walked, but json.Unmarshal fails: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\nwalk      %+v\nUnmarshal %+v", b, got, want)
		}
	})
}

// TestWalkNotificationTakesRealBodies: every notification of the corpus
// is decoded by the walk, not by the fallback.
func TestWalkNotificationTakesRealBodies(t *testing.T) {
	for _, body := range wagwtest.ConformanceJSON(t) {
		body = storableText(body)
		var n struct{ Object string }
		if json.Unmarshal(body, &n) != nil || n.Object != ObjectWhatsAppBusinessAccount {
			continue // a send_api body, not a notification
		}
		var got Notification
		if !walkNotification(body, &got) {
			t.Errorf("the walk declined a notification of the corpus: %.200s", body)
		}
	}
}

// TestWalkKnowsEveryField: the members the walks decode, with those they
// decline on purpose, are exactly the JSON fields of their types. A field
// added to one of them is still decoded (the walk declines a body or item
// that has it, and encoding/json decodes it), but only slowly until the
// walk learns it.
func TestWalkKnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		v               any
		known, declined []string
	}{
		{Notification{}, []string{"object", "entry"}, nil},
		{Entry{}, []string{"id", "time", "changes"}, nil},
		{Change{}, []string{"field", "value"}, nil},
		{Metadata{}, []string{"display_phone_number", "phone_number_id"}, nil},             // walkMetadataAt
		{WebhookContact{}, []string{"profile", "wa_id", "user_id", "parent_user_id"}, nil}, // walkContact
		{Profile{}, []string{"name", "username"}, nil},
		{Message{}, []string{"id", "from", "from_user_id", "from_parent_user_id", "timestamp", "type", // walkMessage
			"text", "image", "audio", "video", "document", "sticker", "context"},
			[]string{"location", "contacts", "interactive", "button", "reaction", "order", "system", "identity",
				"referral", "edit", "revoke", "unsupported", "errors", "raw"}},
		{Text{}, []string{"body"}, nil},
		{Media{}, []string{"id", "mime_type", "sha256", "caption", "filename", "url", "voice", "animated"}, nil},
		{Context{}, []string{"id", "from", "forwarded", "frequently_forwarded"}, []string{"referred_product"}},
		{Status{}, []string{"id", "status", "timestamp", "recipient_id", "recipient_user_id", "recipient_parent_user_id", // walkStatus
			"recipient_type", "recipient_participant_id", "recipient_participant_user_id", "recipient_participant_parent_user_id",
			"biz_opaque_callback_data", "conversation", "pricing"}, []string{"errors", "raw"}},
		{Conversation{}, []string{"id", "expiration_timestamp", "origin"}, nil},
		{ConversationOrigin{}, []string{"type"}, nil},
		{Pricing{}, []string{"billable", "pricing_model", "type", "category"}, nil},
	} {
		typ := reflect.TypeOf(tc.v)
		var fields []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, name)
		}
		all := append(slices.Clone(tc.known), tc.declined...)
		slices.Sort(fields)
		slices.Sort(all)
		if !slices.Equal(fields, all) {
			t.Errorf("%s has the JSON fields %v; the walk decodes %v and declines %v: teach it the new ones", typ.Name(), fields, tc.known, tc.declined)
		}
	}
}

// BenchmarkParse is Parse of a typical text message notification and of
// a typical status (delivered).
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"meta_text_message.json", "meta_status_delivered_cbp.json"} {
		body := wagwtest.ReadConformance(b, name)
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := Parse(body); err != nil {
					b.Fatal(fmt.Sprint(err))
				}
			}
		})
	}
}
