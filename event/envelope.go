package event

import (
	"encoding/json"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// Version is written into every Envelope. The consumer refuses envelopes
// with a higher version than it understands.
const Version = 1

// Kind says what an Envelope carries.
type Kind string

// The kinds of record on the events topic.
const (
	// KindMessage is one inbound message from a contact (Envelope.Message).
	KindMessage Kind = "message"
	// KindStatus is one status of an outbound message (Envelope.Status).
	KindStatus Kind = "status"
	// KindCommand is a command from the API, the relay or the scheduler
	// (Envelope.Command).
	KindCommand Kind = "command"
	// KindHandover is a Conversation Routing handover of the contact's
	// thread (Envelope.Handover), from the messaging_handovers field.
	KindHandover Kind = "handover"
	// KindEcho is a message another responder sent to the contact, echoed
	// on the standby field (Envelope.Message; Contact is its recipient).
	KindEcho Kind = "echo"
	// KindNotice is anything else Meta sends: value errors, template status,
	// account updates, user preferences, message echoes. Kept raw in
	// Envelope.Raw.
	KindNotice Kind = "notice"
)

// Contact is the WhatsApp user a record is about, as Meta names it, with
// the project's key rule.
type Contact whatsapp.Contact

// Key is the contact's partitioning key: the identity Meta always sends,
// the business-scoped user id; the wa_id only for payloads that carry no
// user id at all. Empty when the contact is unknown.
func (c Contact) Key() string {
	if c.UserID != "" {
		return c.UserID
	}
	return c.WaID
}

// Command is a command as it travels: Type names it, Data is its JSON
// body. NewCommand builds it and DecodeCommand reads it.
type Command struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Envelope is one record on the events topic: exactly one message, status,
// handover, echo (in Message), command or notice, with the identity of the contact it belongs to.
type Envelope struct {
	Version int    `json:"v"`
	ID      string `json:"id"` // see the package doc's Ids
	Kind    Kind   `json:"kind"`
	// Field is the webhook field the event came from ("messages", …); empty for commands.
	Field              string  `json:"field,omitempty"`
	WABAID             string  `json:"waba_id,omitempty"`
	PhoneNumberID      string  `json:"phone_number_id,omitempty"`
	DisplayPhoneNumber string  `json:"display_phone_number,omitempty"`
	Contact            Contact `json:"contact"`
	// ContactKey is set on commands instead of Contact: the key the contact
	// is stored under (its user id when known, else its wa_id).
	ContactKey string    `json:"contact_key,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
	ReceivedAt time.Time `json:"received_at"`

	Message  *whatsapp.Message  `json:"message,omitempty"`
	Status   *whatsapp.Status   `json:"status,omitempty"`
	Handover *whatsapp.Handover `json:"handover,omitempty"`
	Command  *Command           `json:"command,omitempty"`
	Raw      json.RawMessage    `json:"raw,omitempty"` // notices: the change's value object
}

// Key is the Kafka record key: the contact's key, or for events that belong
// to no contact the phone number id, else the WABA id.
func (e *Envelope) Key() string {
	if e.ContactKey != "" {
		return e.ContactKey
	}
	if k := e.Contact.Key(); k != "" {
		return k
	}
	if e.PhoneNumberID != "" {
		return "pn:" + e.PhoneNumberID
	}
	return "waba:" + e.WABAID
}
