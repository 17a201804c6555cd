package whatsapp

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Conversation Routing webhooks: when a business number is shared with
// another responder (Meta Business Agent, another partner app), Meta says
// on the messaging_handovers field when ownership of a contact's thread
// changes, and on the standby field what happens in the threads this app
// does not own: the user's messages, the other responder's message echoes
// and their statuses.
//
// Meta's reference pages name the fields but the examples could not be
// copied; the decoding below accepts the names Meta's pages, Meta's
// Messenger handover payloads and partner SDKs use (testdata/routing/README.md).

// The Conversation Routing webhook fields.
const (
	FieldMessagingHandovers = "messaging_handovers"
	FieldStandby            = "standby"
)

// HandoverType names a messaging_handovers notification.
type HandoverType string

// The handover notifications.
const (
	// ControlPassed: delivered to the new owner when the current owner
	// calls pass on the thread control API.
	ControlPassed HandoverType = "control_passed"
	// ControlTaken: delivered to the previous owner when another
	// responder takes the thread (through the thread control API, or by
	// sending a service message).
	ControlTaken HandoverType = "control_taken"
)

// Handover is one messaging_handovers notification about one user's
// thread: which notification it is, the roles (and app ids, when Meta
// names them) that held the thread before and hold it now, and the
// metadata the caller of the thread control API attached.
type Handover struct {
	Type          HandoverType `json:"type"`
	PreviousRole  string       `json:"previous_role,omitempty"`
	NewRole       string       `json:"new_role,omitempty"`
	PreviousAppID string       `json:"previous_app_id,omitempty"`
	NewAppID      string       `json:"new_app_id,omitempty"`
	Metadata      string       `json:"metadata,omitempty"`
	Timestamp     string       `json:"timestamp,omitempty"`
	// Raw is the notification as Meta sent it, fields this type does
	// not name included.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Time is Meta's time of the handover, zero when missing or out of range.
func (h *Handover) Time() time.Time { return parseUnix(h.Timestamp) }

// By names who handed the thread over (control_passed) or took it
// (control_taken): a role, else an app id, else "".
func (h *Handover) By() string {
	if h.Type == ControlTaken {
		return firstOf(h.NewRole, h.NewAppID)
	}
	return firstOf(h.PreviousRole, h.PreviousAppID)
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// handoverWire is a handover as Meta may send it: the envelope of the
// messaging_handovers value (or of one element of its array), with the
// notification object under control_passed or control_taken.
type handoverWire struct {
	Type      string          `json:"type"`
	Timestamp json.RawMessage `json:"timestamp"`
	Sender    struct {
		PhoneNumber string `json:"phone_number"`
		WaID        string `json:"wa_id"`
		UserID      string `json:"user_id"`
	} `json:"sender"`
	Recipient     Metadata        `json:"recipient"`
	ControlPassed json.RawMessage `json:"control_passed"`
	ControlTaken  json.RawMessage `json:"control_taken"`
	handoverOwners
}

// handoverOwners are the owner fields, at the envelope's level or inside
// the notification object, under each name in use.
type handoverOwners struct {
	PreviousOwnerRole  string          `json:"previous_owner_role"`
	NewOwnerRole       string          `json:"new_owner_role"`
	PreviousRole       string          `json:"previous_role"`
	NewRole            string          `json:"new_role"`
	CurrentRole        string          `json:"current_role"`
	PreviousOwner      json.RawMessage `json:"previous_owner"`
	NewOwner           json.RawMessage `json:"new_owner"`
	PreviousOwnerAppID string          `json:"previous_owner_app_id"`
	NewOwnerAppID      string          `json:"new_owner_app_id"`
	Metadata           json.RawMessage `json:"metadata"`
}

// owner reads an owner named by a string (a role) or an object with role
// and app_id.
func owner(raw json.RawMessage) (role, appID string) {
	if len(raw) == 0 {
		return "", ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s, ""
	}
	var o struct {
		Role  string `json:"role"`
		AppID string `json:"app_id"`
	}
	_ = lenient(raw, &o)
	return o.Role, o.AppID
}

func (o *handoverOwners) fill(h *Handover) {
	pr, pa := owner(o.PreviousOwner)
	nr, na := owner(o.NewOwner)
	h.PreviousRole = firstOf(h.PreviousRole, o.PreviousOwnerRole, o.PreviousRole, pr)
	h.NewRole = firstOf(h.NewRole, o.NewOwnerRole, o.NewRole, o.CurrentRole, nr)
	h.PreviousAppID = firstOf(h.PreviousAppID, o.PreviousOwnerAppID, pa)
	h.NewAppID = firstOf(h.NewAppID, o.NewOwnerAppID, na)
	var s string
	if len(o.Metadata) > 0 && o.Metadata[0] == '"' && json.Unmarshal(o.Metadata, &s) == nil && h.Metadata == "" {
		h.Metadata = s
	}
}

// parseHandovers reads the handovers of a messaging_handovers change
// value: the value itself, or each element of its messaging_handovers
// array. A handover whose type is neither control_passed nor
// control_taken is not returned; all is false when one was left out.
// The array's elements are walked in place, and only one that may be a
// handover (handoverCandidate) is decoded: a value of 10,000 "{}"
// elements cost 5.5 times TestHostileBodiesAllocate's bound when each was
// copied out and decoded. The candidates are marked first, so that the
// handovers take one slice of their number, and one handoverDecoder,
// made at the first, decodes them all: 10,000 {"control_passed":{}} cost
// 1.7 times the bound when the slice grew as it was filled and each
// handover had wire structs of its own.
func parseHandovers(raw json.RawMessage) (hs []handoverItem, all bool) {
	if !isObject(raw) {
		return nil, false
	}
	var list []byte
	_ = objectMembers(raw, func(name, value []byte) {
		if bytes.EqualFold(name, []byte("messaging_handovers")) {
			list = value // the last one, as encoding/json
		}
	})
	var d *handoverDecoder // at the first candidate: most values hold one handover or none
	all = true
	decode := func(r []byte) {
		if d == nil {
			d = new(handoverDecoder)
		}
		if it, ok := d.parse(r); ok {
			hs = append(hs, it)
		} else {
			all = false
		}
	}
	if len(list) < 2 || list[0] != '[' || list[skipSpace(list, 1)] == ']' {
		if handoverCandidate(raw) {
			decode(raw)
		} else {
			all = false
		}
		return hs, all
	}
	// The first pass marks the candidates, a bit each (handoverCandidate
	// allocates for an escaped name: it runs once an element), so that
	// the handovers take one slice of their number; the second decodes
	// the marked ones.
	start := skipSpace(list, 1)
	var marksBuf [4]uint64 // 256 elements without an allocation
	marks := marksBuf[:0]
	n, i := 0, 0
	_, whole := eachItem(list, start, func(item []byte) bool {
		if i%64 == 0 {
			marks = append(marks, 0)
		}
		if handoverCandidate(item) {
			marks[i/64] |= 1 << (i % 64)
			n++
		} else {
			all = false
		}
		i++
		return true
	})
	if n > 0 {
		hs = make([]handoverItem, 0, n)
	}
	i = 0
	_, _ = eachItem(list, start, func(item []byte) bool {
		if marks[i/64]&(1<<(i%64)) != 0 {
			decode(item)
		}
		i++
		return true
	})
	return hs, all && whole
}

// handoverCandidate reports, without decoding it, whether raw may be a
// handover handoverDecoder.parse takes: an object with a control_passed or
// control_taken object, or a type that may name one (names and type
// matched case-folded; an escaped type may be anything).
func handoverCandidate(raw []byte) bool {
	if !isObject(raw) {
		return false
	}
	ok := false
	_ = objectMembers(raw, func(name, value []byte) {
		switch {
		case bytes.EqualFold(name, []byte("control_passed")) || bytes.EqualFold(name, []byte("control_taken")):
			ok = ok || isObject(value)
		case bytes.EqualFold(name, []byte("type")) && len(value) >= 2 && value[0] == '"':
			t := value[1 : len(value)-1]
			ok = ok || bytes.IndexByte(t, '\\') >= 0 ||
				bytes.EqualFold(t, []byte(ControlPassed)) || bytes.EqualFold(t, []byte(ControlTaken))
		}
	})
	return ok
}

// handoverItem is one handover with the user and the business number it
// is about.
type handoverItem struct {
	h       Handover
	contact Contact
	number  Metadata
}

// handoverDecoder decodes handovers one after another into the same wire
// structs (encoding/json takes them through an interface, so each would
// otherwise be allocated for every handover).
type handoverDecoder struct {
	w     handoverWire
	inner handoverOwners
}

func (d *handoverDecoder) parse(raw json.RawMessage) (handoverItem, bool) {
	d.w = handoverWire{}
	w := &d.w
	if !isObject(raw) || lenient(raw, w) != nil {
		return handoverItem{}, false
	}
	var it handoverItem
	h := &it.h
	h.Raw = raw
	h.Type = HandoverType(strings.ToLower(w.Type))
	obj := w.ControlPassed
	switch {
	case h.Type == ControlPassed:
	case h.Type == ControlTaken:
		obj = w.ControlTaken
	case isObject(w.ControlPassed):
		h.Type = ControlPassed
	case isObject(w.ControlTaken):
		h.Type, obj = ControlTaken, w.ControlTaken
	default:
		return handoverItem{}, false
	}
	if isObject(obj) {
		d.inner = handoverOwners{}
		_ = lenient(obj, &d.inner)
		d.inner.fill(h)
	}
	w.handoverOwners.fill(h)
	h.Timestamp = rawScalar(w.Timestamp)
	it.contact = Contact{WaID: firstOf(w.Sender.WaID, w.Sender.PhoneNumber), UserID: w.Sender.UserID}
	it.number = w.Recipient
	if it.number.PhoneNumberID == "" && isObject(w.Metadata) {
		_ = lenient(w.Metadata, &it.number) // the usual change metadata
	}
	return it, true
}

// rawScalar is a JSON string's text or a number's digits; "" otherwise.
func rawScalar(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &s)
		return s
	}
	if raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9') {
		return string(raw)
	}
	return ""
}

// splitHandovers appends one item per handover of a messaging_handovers
// change; ok is false when the change holds none (it is then a notice),
// all is false when some part of it was not a handover it could read.
func splitHandovers(out []Item, base Item, v *Value, cf *contactFinder) (res []Item, all, ok bool) {
	hs, all := parseHandovers(v.Raw)
	if len(hs) == 0 {
		return out, false, false
	}
	out = slices.Grow(out, len(hs))
	for i := range hs {
		h := &hs[i]
		it := base
		if h.number.PhoneNumberID != "" {
			it.PhoneNumberID, it.DisplayPhoneNumber = h.number.PhoneNumberID, h.number.DisplayPhoneNumber
		}
		it.Contact = cf.contact(h.contact.WaID, h.contact.UserID)
		it.Time = h.h.Time()
		it.Handover = &h.h
		out = append(out, it)
	}
	return out, all, true
}

// splitEchoes appends one item per message echo of a standby change: a
// message another responder sent to the user.
func splitEchoes(out []Item, base Item, v *Value, cf *contactFinder) []Item {
	for k := range v.MessageEchoes {
		m := &v.MessageEchoes[k]
		it := base
		it.Contact = cf.contact(m.To, m.ToUserID)
		it.Time = m.Time()
		it.Echo = m
		out = append(out, it)
	}
	return out
}
