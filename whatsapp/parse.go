package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"
)

// maxQuoted bounds what of the body an error quotes.
const maxQuoted = 64

// Parse decodes a webhook POST body. The body is not retained: every byte
// slice in the result (Value.Raw, Message.Raw, Status.Raw) is a copy. The
// error wraps ErrMalformed or ErrNotNotification.
//
// Text that JSON readers or Postgres refuse is replaced by U+FFFD before
// decoding, in the typed fields and the Raw copies alike: bytes that are
// not UTF-8, and the escapes \u0000 and lone surrogate halves. Everything
// else of the body is kept byte for byte in the Raw copies.
func Parse(body []byte) (*Notification, error) {
	body = storableText(body)
	var n Notification
	if !validJSON(body) || !walkNotification(body, &n) {
		n = Notification{}
		if err := json.Unmarshal(body, &n); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if n.Object != ObjectWhatsAppBusinessAccount {
		if n.Object == "" {
			return nil, fmt.Errorf("%w: no \"object\" field", ErrNotNotification)
		}
		obj := n.Object
		if len(obj) > maxQuoted { // the error is logged and kept with the dead letter: not the body again
			obj = obj[:maxQuoted] + "…"
		}
		return nil, fmt.Errorf("%w: object is %q", ErrNotNotification, obj)
	}
	return &n, nil
}

// UnmarshalJSON decodes a change value. The arrays must be arrays of
// objects; inside each item, a field of an unexpected type is left empty
// instead of failing the whole notification, and the item keeps its bytes
// in Raw.
//
// encoding/json hands it a value it has validated. A value of the common
// shapes is scanned, then decoded in a second pass (walkvalue.go); any
// other has its members and array elements cut out (rawjson.go) rather
// than decoded a second time by encoding/json, matched to their fields
// as encoding/json matches names (exactly, else case-folded; a repeated
// name: the last wins).
func (v *Value) UnmarshalJSON(b []byte) error {
	*v = Value{Raw: append(json.RawMessage(nil), b...)}
	if walkValue(v.Raw, v) {
		return nil
	}
	*v = Value{Raw: v.Raw}
	if string(bytes.TrimSpace(b)) == "null" {
		return nil // a change without a value
	}
	var w valueMembers
	if err := objectMembers(v.Raw, w.set); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	_ = lenientString(w.messagingProduct, &v.MessagingProduct)
	_ = lenientString(w.event, &v.Event)
	if isObject(w.metadata) {
		v.Metadata = new(Metadata)
		if err := lenient(w.metadata, v.Metadata); err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
	}
	var err error
	if v.Contacts, err = decodeDense(v, w.contacts, "contacts", nil, walkContact); err != nil {
		return err
	}
	if v.Messages, err = decodeArray(w.messages, "messages", func(m *Message, raw json.RawMessage) { m.Raw = raw }, walkMessage); err != nil {
		return err
	}
	if v.Statuses, err = decodeArray(w.statuses, "statuses", func(s *Status, raw json.RawMessage) { s.Raw = raw }, walkStatus); err != nil {
		return err
	}
	if v.Errors, err = decodeDense[ErrorDetail](v, w.errors, "errors", nil, nil); err != nil {
		return err
	}
	if v.UserPreferences, err = decodeDense[UserPreference](v, w.userPreferences, "user_preferences", nil, nil); err != nil {
		return err
	}
	if v.MessageEchoes, err = decodeDense(v, w.messageEchoes, "message_echoes", func(e *MessageEcho, raw json.RawMessage) { e.Raw = raw }, nil); err != nil {
		return err
	}
	return nil
}

// decodeDense decodes an array of v whose items do not each become an
// item of Split (contacts, errors, user preferences, message echoes; a
// message or a status does, and is paid for as one), unless its items are
// too small for their decoded size (sparse). An item of Meta's is tens
// of bytes or more; an array of "{}" would cost a hundred times its size
// (a message echo is 360 bytes). Such an array is left in v.Raw, and
// v.sparse set. The items are decoded by walk, or, without one or when it
// declines an item, by one call of lenient for the array, which costs
// encoding/json's state once instead of once for each item.
func decodeDense[T any](v *Value, raw []byte, name string, keep func(*T, json.RawMessage), walk func([]byte, *T) bool) ([]T, error) {
	if raw == nil {
		return nil, nil
	}
	start := skipSpace(raw, 0)
	n, end, ok := countObjectsAt(raw, start)
	if !ok {
		return decodeArray(raw, name, keep, walk) // not an array of objects: it says why
	}
	return decodeCounted(v, raw[start:end], n, name, keep, walk)
}

// decodeCounted is decodeDense of raw, an array of n objects and nothing
// else (scanValue counted them).
func decodeCounted[T any](v *Value, raw []byte, n int, name string, keep func(*T, json.RawMessage), walk func([]byte, *T) bool) ([]T, error) {
	if sparse[T](n, len(raw)) {
		v.sparse = true
		return nil, nil
	}
	if n == 0 {
		return nil, nil // as decodeArray
	}
	out := make([]T, n)
	if walk == nil || !walkAll(raw, out, walk) {
		// Without a walker, or one it declines: all by one call of
		// lenient (a call for each would cost about 230 bytes of decoder
		// state), into the same slice.
		clear(out)
		list := out[:0] // its own variable: &list goes to the heap, on this path only
		if err := lenientItem(raw, &list); err != nil || len(list) != n {
			return nil, fmt.Errorf("%s: %d items of %d decoded: %v", name, len(list), n, err)
		}
		out = list
	}
	if keep != nil {
		k := 0
		eachItem(raw, skipSpace(raw, 1), func(item []byte) bool { keep(&out[k], item); k++; return true })
	}
	return out, nil
}

// walkAll decodes the objects of the array raw into out, one each, by
// walk, and reports false as soon as walk declines one.
func walkAll[T any](raw []byte, out []T, walk func([]byte, *T) bool) bool {
	k := 0
	_, ok := eachItem(raw, skipSpace(raw, 1), func(item []byte) bool {
		if k == len(out) || !walk(item, &out[k]) {
			return false
		}
		k++
		return true
	})
	return ok && k == len(out)
}

// countObjectsAt counts the items of the array of objects at raw[i] and
// returns the index after it; false when there is no array of objects
// there.
func countObjectsAt(raw []byte, i int) (n, end int, ok bool) {
	end, ok = countObjects(&n)(raw, i)
	return n, end, ok
}

// sparse reports whether n items of type T, from an array of size bytes,
// would take more than 8 bytes for each of its bytes once decoded, each
// charged 24 bytes more than its type's size (the list of elements
// decodeArray makes when it takes the array instead).
func sparse[T any](n, size int) bool {
	var zero T
	return n*int(unsafe.Sizeof(zero)+unsafe.Sizeof(json.RawMessage(nil))) > 8*size
}

// valueMembers are the raw members of a change value that Value reads.
type valueMembers struct {
	messagingProduct, metadata, event                                    []byte
	contacts, messages, statuses, errors, userPreferences, messageEchoes []byte
}

func (w *valueMembers) set(member, raw []byte) {
	name := string(member) // does not escape: a short name is copied on the stack
	for _, m := range [...]struct {
		name string
		dst  *[]byte
	}{
		{"messaging_product", &w.messagingProduct}, {"metadata", &w.metadata}, {"event", &w.event},
		{"contacts", &w.contacts}, {"messages", &w.messages}, {"statuses", &w.statuses}, {"errors", &w.errors},
		{"user_preferences", &w.userPreferences}, {"message_echoes", &w.messageEchoes},
	} {
		if memberIs(name, m.name) {
			*m.dst = raw
			return
		}
	}
}

// decodeArray decodes the raw array of a member (absent or null: none).
// Its elements are slices of Value.Raw, so they can be kept. walk, when
// given, decodes an element the way lenient would, or declines.
func decodeArray[T any](raw []byte, name string, keep func(*T, json.RawMessage), walk func([]byte, *T) bool) ([]T, error) {
	if raw == nil {
		return nil, nil
	}
	elems, err := arrayElements(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return decodeItems(elems, name, keep, walk)
}

// decodeItems decodes each raw object of an array leniently: by walk if
// it takes the object, else by encoding/json. raws are slices of a copy
// of the input, so they can be kept.
func decodeItems[T any](raws []json.RawMessage, name string, keep func(*T, json.RawMessage), walk func([]byte, *T) bool) ([]T, error) {
	if len(raws) == 0 {
		return nil, nil
	}
	out := make([]T, len(raws))
	for i, raw := range raws {
		if !isObject(raw) {
			return nil, fmt.Errorf("%s[%d] is not an object", name, i)
		}
		if walk == nil || !walk(raw, &out[i]) {
			out[i] = *new(T)
			if err := lenientItem(raw, &out[i]); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
			}
		}
		if keep != nil {
			keep(&out[i], raw)
		}
	}
	return out, nil
}

// lenient unmarshals, ignoring fields whose JSON type does not match the Go
// type (encoding/json leaves them zero and decodes the rest).
func lenient(raw []byte, dst any) error {
	err := json.Unmarshal(raw, dst)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return nil
	}
	return err
}

func lenientString(raw json.RawMessage, dst *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return nil
	}
	return json.Unmarshal(raw, dst)
}

func isObject(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '{' }
