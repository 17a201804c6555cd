package whatsapp

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/wagw/wagw/wagwtest"
)

// referenceValue decodes a change value the way Value.UnmarshalJSON did
// before rawjson.go: a second encoding/json decode into raw members.
func referenceValue(b []byte) (Value, error) {
	var w struct {
		MessagingProduct json.RawMessage   `json:"messaging_product"`
		Metadata         json.RawMessage   `json:"metadata"`
		Contacts         []json.RawMessage `json:"contacts"`
		Messages         []json.RawMessage `json:"messages"`
		Statuses         []json.RawMessage `json:"statuses"`
		Errors           []json.RawMessage `json:"errors"`
		UserPreferences  []json.RawMessage `json:"user_preferences"`
		MessageEchoes    []json.RawMessage `json:"message_echoes"`
		Event            json.RawMessage   `json:"event"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Value{}, err
	}
	v := Value{Raw: append(json.RawMessage(nil), b...)}
	var err error
	_ = lenientString(w.MessagingProduct, &v.MessagingProduct)
	_ = lenientString(w.Event, &v.Event)
	if isObject(w.Metadata) {
		v.Metadata = new(Metadata)
		if err = lenient(w.Metadata, v.Metadata); err != nil {
			return Value{}, err
		}
	}
	if v.Contacts, err = decodeItems[WebhookContact](w.Contacts, "contacts", nil, nil); err != nil {
		return Value{}, err
	}
	if v.Messages, err = decodeItems(w.Messages, "messages", func(m *Message, raw json.RawMessage) { m.Raw = raw }, nil); err != nil {
		return Value{}, err
	}
	if v.Statuses, err = decodeItems(w.Statuses, "statuses", func(s *Status, raw json.RawMessage) { s.Raw = raw }, nil); err != nil {
		return Value{}, err
	}
	if v.Errors, err = decodeItems[ErrorDetail](w.Errors, "errors", nil, nil); err != nil {
		return Value{}, err
	}
	if v.UserPreferences, err = decodeItems[UserPreference](w.UserPreferences, "user_preferences", nil, nil); err != nil {
		return Value{}, err
	}
	if v.MessageEchoes, err = decodeItems(w.MessageEchoes, "message_echoes", func(e *MessageEcho, raw json.RawMessage) { e.Raw = raw }, nil); err != nil {
		return Value{}, err
	}
	return v, nil
}

// FuzzValueMatchesReference: on any valid JSON, the one-pass
// Value.UnmarshalJSON succeeds exactly when the second full decode did,
// with the same result.
func FuzzValueMatchesReference(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		for _, v := range changeValues(s) {
			f.Add(v)
		}
	}
	for _, s := range []string{`null`, `{}`, `[]`, `5`, `"x"`, `{"messages":null}`, `{"messages":{}}`, `{"messages":[1]}`,
		`{"MESSAGES":[{"id":"a"}],"messages":[{"id":"b"}]}`,
		`{"contacts":[{"profile":{"name":"a","NAME":"b"},"wa_id":"1"}]}`, `{"contacts":[{"wa_id":5,"user_id":"u"},{"profile":null}]}`,
		`{"contacts":[{"Wa_Id":"x","profile":{"username":"\u00e9","extra":1},"user_id":"u"}]}`, `{"contacts":[{"wa_id":"1","wa_id":"2"}]}`,
		`{"contacts":[{"profile":{"name":"a\"b"},"user_id":"US.1","parent_user_id":"US.P","other":[]}]}`, `{"mess\u0061ges":[{"id":"e"}]}`, `{"ſtatuses":[{"id":"k"}]}`,
		` { "contacts" : [ { "wa_id" : "1" } , {"wa_id":"2"} ] , "event" : "x" } `, `{"metadata":{"phone_number_id":5}}`,
		`{"a":{"b":["}",{"c":"]\"\\"}]},"statuses":[{"id":"s\"]"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return // encoding/json never hands UnmarshalJSON invalid JSON
		}
		want, werr := referenceValue(b)
		var got Value
		gerr := got.UnmarshalJSON(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: reference error %v, one pass %v", b, werr, gerr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\none pass  %s\nreference %s", b, dump(got), dump(want))
		}
	})
}

func dump(v Value) string { return fmt.Sprintf("%+v", v) }

// changeValues returns the raw change values of a notification body.
func changeValues(body []byte) [][]byte {
	var n struct {
		Entry []struct {
			Changes []struct {
				Value json.RawMessage `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if json.Unmarshal(body, &n) != nil {
		return nil
	}
	var out [][]byte
	for _, e := range n.Entry {
		for _, c := range e.Changes {
			out = append(out, c.Value)
		}
	}
	return out
}

// BenchmarkValueDecode compares the one-pass decode of a typical change
// value with the second full decode it replaced.
func BenchmarkValueDecode(b *testing.B) {
	values := changeValues(wagwtest.ReadConformance(b, "meta_text_message.json"))
	if len(values) != 1 {
		b.Fatalf("%d change values", len(values))
	}
	value := values[0]
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var v Value
			if err := v.UnmarshalJSON(value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := referenceValue(value); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestWalkContactTakesRealContacts: every contact of the corpus is
// decoded by walkContact, not by the fallback, and as lenient decodes it.
func TestWalkContactTakesRealContacts(t *testing.T) {
	seen := 0
	for _, body := range wagwtest.ConformanceJSON(t) {
		for _, v := range changeValues(body) {
			var w struct{ Contacts []json.RawMessage }
			if json.Unmarshal(v, &w) != nil {
				continue
			}
			for _, raw := range w.Contacts {
				seen++
				var got, want WebhookContact
				if !walkContact(raw, &got) {
					t.Errorf("walkContact declined %s", raw)
					continue
				}
				if err := lenient(raw, &want); err != nil || got != want {
					t.Errorf("%s: walked %+v, lenient %+v (%v)", raw, got, want, err)
				}
			}
		}
	}
	if seen < 20 {
		t.Fatalf("only %d contacts in the corpus: is it read?", seen)
	}
}
