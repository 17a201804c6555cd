package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
)

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
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if n.Object != ObjectWhatsAppBusinessAccount {
		if n.Object == "" {
			return nil, fmt.Errorf("%w: no \"object\" field", ErrNotNotification)
		}
		return nil, fmt.Errorf("%w: object is %q", ErrNotNotification, n.Object)
	}
	return &n, nil
}

// UnmarshalJSON decodes a change value. The arrays must be arrays of
// objects; inside each item, a field of an unexpected type is left empty
// instead of failing the whole notification, and the item keeps its bytes
// in Raw.
func (v *Value) UnmarshalJSON(b []byte) error {
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
		return err
	}
	var err error
	*v = Value{Raw: append(json.RawMessage(nil), b...)}
	_ = lenientString(w.MessagingProduct, &v.MessagingProduct)
	_ = lenientString(w.Event, &v.Event)
	if isObject(w.Metadata) {
		v.Metadata = new(Metadata)
		if err = lenient(w.Metadata, v.Metadata); err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
	}
	if v.Contacts, err = decodeItems[WebhookContact](w.Contacts, "contacts", nil); err != nil {
		return err
	}
	if v.Messages, err = decodeItems(w.Messages, "messages", func(m *Message, raw json.RawMessage) { m.Raw = raw }); err != nil {
		return err
	}
	if v.Statuses, err = decodeItems(w.Statuses, "statuses", func(s *Status, raw json.RawMessage) { s.Raw = raw }); err != nil {
		return err
	}
	if v.Errors, err = decodeItems[ErrorDetail](w.Errors, "errors", nil); err != nil {
		return err
	}
	if v.UserPreferences, err = decodeItems[UserPreference](w.UserPreferences, "user_preferences", nil); err != nil {
		return err
	}
	if v.MessageEchoes, err = decodeItems(w.MessageEchoes, "message_echoes", func(e *MessageEcho, raw json.RawMessage) { e.Raw = raw }); err != nil {
		return err
	}
	return nil
}

// decodeItems decodes each raw object of an array leniently. raws are
// already copies of the input (json.RawMessage copies), so they can be kept.
func decodeItems[T any](raws []json.RawMessage, name string, keep func(*T, json.RawMessage)) ([]T, error) {
	if len(raws) == 0 {
		return nil, nil
	}
	out := make([]T, len(raws))
	for i, raw := range raws {
		if !isObject(raw) {
			return nil, fmt.Errorf("%s[%d] is not an object", name, i)
		}
		if err := lenient(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
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
