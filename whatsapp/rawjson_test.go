package whatsapp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

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
	var arrays struct { // the same members whole, for the test of sparse arrays
		Contacts        json.RawMessage `json:"contacts"`
		Errors          json.RawMessage `json:"errors"`
		UserPreferences json.RawMessage `json:"user_preferences"`
		MessageEchoes   json.RawMessage `json:"message_echoes"`
	}
	if err := json.Unmarshal(b, &arrays); err != nil {
		return Value{}, err
	}
	v := Value{Raw: append(json.RawMessage(nil), b...)}
	if refSparse(arrays.Contacts, w.Contacts, 80) {
		v.sparse, w.Contacts = true, nil
	}
	if refSparse(arrays.Errors, w.Errors, 64) {
		v.sparse, w.Errors = true, nil
	}
	if refSparse(arrays.UserPreferences, w.UserPreferences, 104) {
		v.sparse, w.UserPreferences = true, nil
	}
	if refSparse(arrays.MessageEchoes, w.MessageEchoes, 360) {
		v.sparse, w.MessageEchoes = true, nil
	}
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

// refSparse: whether an array of objects (items, whole in raw) holds more
// than one item of size bytes, and the 24 of its place in a list, for
// every 8 bytes of raw.
func refSparse(raw json.RawMessage, items []json.RawMessage, size int) bool {
	for _, it := range items {
		if !isObject(it) {
			return false
		}
	}
	return len(items)*(size+24) > 8*len(bytes.TrimSpace(raw))
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
		`{"contacts":[{"profile":{"name":"a\"b"},"user_id":"US.1","parent_user_id":"US.P","other":[]}]}`,
		`{"statuses":[{"id":"s","status":"read","pricing":{"billable":"yes","category":"utility"}}]}`,
		`{"statuses":[{"id":"s","conversation":{"id":"c","origin":null}},{"ID":"a","id":"b"}]}`,
		`{"statuses":[{"pricing":{"billable":true,"Billable":false}},{"pricing":{"billable":false},"conversation":{"origin":{"type":"service"}}}]}`,
		`{"statuses":[{"id":"s","timestamp":1749416383,"errors":[{"code":131047}]},{"recipient_type":"group","raw":{"x":1}}]}`, `{"mess\u0061ges":[{"id":"e"}]}`, `{"ſtatuses":[{"id":"k"}]}`,
		` { "contacts" : [ { "wa_id" : "1" } , {"wa_id":"2"} ] , "event" : "x" } `, `{"metadata":{"phone_number_id":5}}`,
		`{"metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"}}`, `{"metadata":{"PHONE_NUMBER_ID":"1","phone_number_id":"2"}}`,
		`{"metadata":{"phone_number_id":"1","extra":{}}}`, `{"metadata":{"phone_number_id":"\u0031","display_phone_number":null}}`, `{"metadata":{}}`,
		`{"a":{"b":["}",{"c":"]\"\\"}]},"statuses":[{"id":"s\"]"}]}`,
		`{"contacts":[{},{},{}],"errors":[{} , {}],"user_preferences":[{}],"message_echoes":[{},{}]}`, `{"contacts":[{},1]}`,
		`{"errors":[{"code":1},{"code":2}],"contacts":[{"wa_id":"1"},{"wa_id":"2"}],"message_echoes":[{"to":"1","id":"e","type":"text","text":{"body":"x"}}]}`,
		`{"messages":[{"id":"m","type":"text","text":{"body":"hi","BODY":"x"}},{"Text":null,"type":"image","image":{"id":"1","voice":"yes"}}]}`,
		`{"messages":[{"id":"m","context":{"from":"1","forwarded":true,"referred_product":{"catalog_id":"c"}}},{"sticker":{"animated":false},"document":{"filename":"a\u00e9"}}]}`} {
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

// TestWalkersTakeRealItems: every contact of the corpus is decoded by
// walkContact, every text and media message without a member walkMessage
// declines by walkMessage, and every status without errors by walkStatus,
// not by the fallback, and as lenient decodes them.
func TestWalkersTakeRealItems(t *testing.T) {
	contacts := checkWalker(t, func(v []byte) []json.RawMessage {
		var w struct{ Contacts []json.RawMessage }
		_ = json.Unmarshal(v, &w)
		return w.Contacts
	}, walkContact)
	statuses := checkWalker(t, func(v []byte) []json.RawMessage {
		var w struct{ Statuses []json.RawMessage }
		_ = json.Unmarshal(v, &w)
		return slices.DeleteFunc(w.Statuses, func(raw json.RawMessage) bool { return bytes.Contains(raw, []byte(`"errors"`)) })
	}, walkStatus)
	messages := checkWalker(t, func(v []byte) []json.RawMessage {
		var w struct{ Messages []json.RawMessage }
		_ = json.Unmarshal(v, &w)
		return slices.DeleteFunc(w.Messages, func(raw json.RawMessage) bool {
			var m struct{ Type string }
			_ = json.Unmarshal(raw, &m)
			return !slices.Contains([]string{TypeText, TypeImage, TypeAudio, TypeVideo, TypeDocument, TypeSticker}, m.Type) ||
				bytes.Contains(raw, []byte(`"referral"`)) || bytes.Contains(raw, []byte(`"referred_product"`)) ||
				bytes.Contains(raw, []byte(`"errors"`))
		})
	}, walkMessage)
	if contacts < 20 || statuses < 10 || messages < 10 {
		t.Fatalf("only %d contacts, %d messages and %d statuses in the corpus: is it read?", contacts, messages, statuses)
	}
}

// checkWalker runs walk on every item items finds in the corpus's change
// values, compares it with lenient, and returns how many it saw.
func checkWalker[T any](t *testing.T, items func(value []byte) []json.RawMessage, walk func([]byte, *T) bool) int {
	t.Helper()
	seen := 0
	for _, body := range wagwtest.ConformanceJSON(t) {
		for _, v := range changeValues(body) {
			for _, raw := range items(v) {
				seen++
				var got, want T
				if !walk(raw, &got) {
					t.Errorf("the walk declined %s", raw)
					continue
				}
				if err := lenient(raw, &want); err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\nwalked  %+v\nlenient %+v (%v)", raw, got, want, err)
				}
			}
		}
	}
	return seen
}

// TestValueWalkTakesRealValues: walkValue takes the corpus's change
// values of the common shapes (text and media messages, statuses without
// errors) in one pass, and every value it takes decodes as the reference
// decode does.
func TestValueWalkTakesRealValues(t *testing.T) {
	taken := map[string]bool{}
	for _, name := range wagwtest.WebhookFixtures(t) {
		for _, raw := range changeValues(wagwtest.ReadConformance(t, name)) {
			var got Value
			got.Raw = append(json.RawMessage(nil), raw...)
			if !walkValue(got.Raw, &got) {
				continue
			}
			taken[name] = true
			want, err := referenceValue(raw)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\nwalked    %s\nreference %s (%v)", name, dump(got), dump(want), err)
			}
		}
	}
	for _, name := range []string{"meta_text_message.json", "meta_image_message.json", "meta_status_delivered_cbp.json",
		"meta_status_sent.json", "pywa_status_read.json", "pywa_text_reply_with_context.json", "pywa_document.json"} {
		if !taken[name] {
			t.Errorf("walkValue declined the value of %s", name)
		}
	}
	for _, v := range []string{`null`, `{"messages":null}`, `{"errors":[]}`, `{"messages":[1]}`, `{"messages":[],"messages":[]}`, `{"messages":[],"other":1}`, `{"metadata":null}`} {
		var got Value
		if walkValue([]byte(v), &got) {
			t.Errorf("walkValue took %s", v)
		}
	}
}

// TestValueUnmarshalEndsOnInvalidJSON: Value.UnmarshalJSON, exported,
// may be given bytes encoding/json did not validate; it fails on them,
// and returns. A closing bracket where an element belongs left
// arrayElements where it was, appending without end.
func TestValueUnmarshalEndsOnInvalidJSON(t *testing.T) {
	for _, s := range []string{`{"messages":[}}`, `{"statuses":[ }}`, `{"contacts":[1,]}`, `{"messages":[,]}`} {
		done := make(chan error, 1)
		go func() {
			var v Value
			done <- v.UnmarshalJSON([]byte(s))
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: no error", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Value.UnmarshalJSON has not returned after 5 s", s)
		}
	}
}

// TestRealValuesAreNotSparse: no change value of the conformance payloads
// (real webhooks) has an array left undecoded as too sparse: the bound
// is far from what Meta sends.
func TestRealValuesAreNotSparse(t *testing.T) {
	bodies := wagwtest.ConformanceJSON(t)
	values := 0
	for _, b := range bodies {
		n, err := Parse(b)
		if err != nil {
			continue // not a notification (Cloud API bodies, vectors)
		}
		for _, e := range n.Entry {
			for _, c := range e.Changes {
				values++
				if c.Value.sparse {
					t.Errorf("a %s value left sparse: %.300s", c.Field, c.Value.Raw)
				}
			}
		}
	}
	if values < 20 {
		t.Fatalf("only %d change values in %d conformance bodies", values, len(bodies))
	}
}

// FuzzAppendUnescaped: appendUnescaped decodes a JSON string as
// encoding/json does (bytes that are not UTF-8 aside, which it keeps and
// encoding/json writes as U+FFFD each), so that names match alike:
// escapes, surrogates, and the folding of ſ and the Kelvin sign.
func FuzzAppendUnescaped(f *testing.F) {
	for _, s := range []string{`type`, `TYPE`, `\u0074ype`, `\u0054\u0059PE`, `control_pa\u017f\u017Fed`, `control_ta\u212Aen`,
		`control_passed`, `\ud83d\ude00type`, `\ud83d`, `\udc00\ud83d`, `ty\"pe`, `t\\ype`, `\/type`, `\b\f\n\r\t`, `typ\u0065\u0000`, "\xff\u0061"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want string
		if json.Unmarshal([]byte(`"`+s+`"`), &want) != nil {
			return
		}
		got, ok := appendUnescaped(nil, []byte(s))
		if !ok || perByteValid(got) != want {
			t.Fatalf("%q: %q (ok %v), encoding/json's %q", s, got, ok, want)
		}
		for _, name := range []string{"control_passed", "control_taken", "type"} {
			if bytes.EqualFold(got, []byte(name)) != bytes.EqualFold([]byte(want), []byte(name)) {
				t.Fatalf("%q against %q: matched differently than encoding/json's %q", s, name, want)
			}
		}
	})
}

// perByteValid is b with each byte that is not UTF-8 written as U+FFFD,
// as encoding/json writes them.
func perByteValid(b []byte) string {
	var out []rune
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out, b = append(out, r), b[n:]
	}
	return string(out)
}

// TestObjectMembersEscapedNames: names with escapes are decoded into one
// buffer, made once for the object, and match as encoding/json's.
func TestObjectMembersEscapedNames(t *testing.T) {
	obj := []byte(`{"\u0061":1,"control_ta\u212Aen":2,"\u0074ype":3,"plain":4}`)
	var names []string
	_ = objectMembers(obj, func(name, _ []byte) { names = append(names, string(name)) })
	if want := []string{"a", "control_ta\u212Aen", "type", "plain"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	if !bytes.EqualFold([]byte(names[1]), []byte("control_taken")) {
		t.Errorf("the Kelvin sign does not fold to k as in encoding/json")
	}
	if n := testing.AllocsPerRun(100, func() { _ = objectMembers(obj, func(_, _ []byte) {}) }); n > 1 {
		t.Errorf("%v allocations for three escaped names, want at most 1", n)
	}
}
