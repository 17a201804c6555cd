package whatsapp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Split turns a notification into events: one Envelope per message, one per
// status, and one KindNotice envelope per change that has neither (value
// errors, template status, account updates, user preferences, message
// echoes). A change that has messages or statuses and also value-level
// errors gives one more notice for those errors, after its items, so that
// no part of a notification is lost.
//
// Envelopes keep the payload's order and are not deduplicated: the same
// wamid twice in a batch gives two envelopes with the same ID. OccurredAt is
// Meta's timestamp of the item, or receivedAt when there is none.
//
// The Message and Status of an envelope point into n; the envelopes share
// memory with n but not with the body n was parsed from.
func Split(n *Notification, receivedAt time.Time) []Envelope {
	if n == nil {
		return nil
	}
	size := 0
	for i := range n.Entry {
		for j := range n.Entry[i].Changes {
			v := &n.Entry[i].Changes[j].Value
			size += len(v.Messages) + len(v.Statuses) + 1
		}
	}
	out := make([]Envelope, 0, size)
	for i := range n.Entry {
		e := &n.Entry[i]
		for j := range e.Changes {
			out = splitChange(out, e, &e.Changes[j], receivedAt)
		}
	}
	return out
}

// ParseAndSplit is Parse followed by Split.
func ParseAndSplit(body []byte, receivedAt time.Time) ([]Envelope, error) {
	n, err := Parse(body)
	if err != nil {
		return nil, err
	}
	return Split(n, receivedAt), nil
}

func splitChange(out []Envelope, e *Entry, ch *Change, receivedAt time.Time) []Envelope {
	v := &ch.Value
	base := Envelope{
		Version:    EnvelopeVersion,
		Field:      ch.Field,
		WABAID:     e.ID,
		ReceivedAt: receivedAt,
	}
	if v.Metadata != nil {
		base.PhoneNumberID = v.Metadata.PhoneNumberID
		base.DisplayPhoneNumber = v.Metadata.DisplayPhoneNumber
	}

	cf := newContactFinder(v.Contacts)
	if len(v.Messages) == 0 && len(v.Statuses) == 0 {
		return append(out, notice(base, e, ch, &cf, receivedAt, true))
	}
	for k := range v.Messages {
		m := &v.Messages[k]
		env := base
		env.Kind = KindMessage
		env.ID = m.ID
		if env.ID == "" {
			env.ID = hashID("message:", e.ID, ch.Field, m.Raw)
		}
		env.Contact = cf.contact(m.From, m.FromUserID)
		if env.Contact.Key() == "" && len(v.Contacts) == 1 {
			// No sender on the message itself: the change's only contact
			// is the sender.
			env.Contact = cf.contact(v.Contacts[0].WaID, v.Contacts[0].UserID)
		}
		env.OccurredAt = orTime(m.Time(), receivedAt)
		env.Message = m
		out = append(out, env)
	}
	for k := range v.Statuses {
		s := &v.Statuses[k]
		env := base
		env.Kind = KindStatus
		env.ID = s.ID + ":" + s.Status
		if s.ID == "" {
			env.ID = hashID("status:", e.ID, ch.Field, s.Raw)
		}
		if s.RecipientType == "group" {
			// The recipient is a group: key by the group, and do not
			// borrow a participant's contact entry.
			env.Contact = Contact{WaID: s.RecipientID, UserID: s.RecipientUserID}
		} else {
			env.Contact = cf.contact(s.RecipientID, s.RecipientUserID)
		}
		env.OccurredAt = orTime(s.Time(), receivedAt)
		env.Status = s
		out = append(out, env)
	}
	if len(v.Errors) > 0 {
		out = append(out, notice(base, e, ch, &cf, receivedAt, false))
	}
	return out
}

// notice builds the KindNotice envelope of a change. Its ID hashes the WABA
// id, the field and the compacted value, so a redelivered change gets the
// same ID. When every item of the change names the same user (user
// preferences, message echoes) and withContact is set, the notice is keyed
// by that contact.
func notice(base Envelope, e *Entry, ch *Change, cf *contactFinder, receivedAt time.Time, withContact bool) Envelope {
	v := &ch.Value
	env := base
	env.Kind = KindNotice
	raw := v.Raw
	if len(raw) == 0 {
		raw = json.RawMessage("null") // a change without a value
	}
	env.ID = hashID("notice:", e.ID, ch.Field, raw)
	env.Raw = raw
	occurred := e.Time.Time()
	if withContact {
		c, t, ok := v.noticeContact(cf)
		if ok {
			env.Contact = c
		}
		if !t.IsZero() {
			occurred = t
		}
	}
	env.OccurredAt = orTime(occurred, receivedAt)
	return env
}

// noticeContact returns the user that all user_preferences or
// message_echoes items name, and the first item's time. ok is false when
// there are no such items or they name different users.
func (v *Value) noticeContact(cf *contactFinder) (c Contact, t time.Time, ok bool) {
	type id struct{ wa, user string }
	var ids []id
	for i := range v.UserPreferences {
		p := &v.UserPreferences[i]
		ids = append(ids, id{p.WaID, p.UserID})
		if t.IsZero() {
			t = p.Timestamp.Time()
		}
	}
	for i := range v.MessageEchoes {
		m := &v.MessageEchoes[i]
		ids = append(ids, id{m.To, m.ToUserID})
		if t.IsZero() {
			t = m.Time()
		}
	}
	if len(ids) == 0 {
		return Contact{}, t, false
	}
	first := ids[0]
	for _, x := range ids[1:] {
		if x != first {
			return Contact{}, t, false
		}
	}
	c = cf.contact(first.wa, first.user)
	return c, t, c.Key() != ""
}

// linearContacts is the number of value.contacts entries up to which a
// contactFinder scans the list instead of building maps.
const linearContacts = 8

// contactFinder completes an item's identity from value.contacts. With many
// contacts it looks them up in maps, so that a change of n items naming n
// contacts costs O(n), not O(n²).
type contactFinder struct {
	list     []WebhookContact
	byWaID   map[string]int // first entry of each wa_id; nil for a short list
	byUserID map[string]int // first entry of each user id; nil for a short list
}

func newContactFinder(list []WebhookContact) contactFinder {
	f := contactFinder{list: list}
	if len(list) <= linearContacts {
		return f
	}
	f.byWaID = make(map[string]int, len(list))
	f.byUserID = make(map[string]int, len(list))
	for i := range list {
		addFirst(f.byWaID, list[i].WaID, i)
		addFirst(f.byUserID, list[i].UserID, i)
	}
	return f
}

func addFirst(m map[string]int, id string, i int) {
	if _, ok := m[id]; id != "" && !ok {
		m[id] = i
	}
}

// find returns the index of the first entry that matches either id, or -1.
func (f *contactFinder) find(waID, userID string) int {
	if f.byWaID == nil {
		for i := range f.list {
			wc := &f.list[i]
			if (waID != "" && wc.WaID == waID) || (userID != "" && wc.UserID == userID) {
				return i
			}
		}
		return -1
	}
	best := -1
	if i, ok := f.byWaID[waID]; ok && waID != "" {
		best = i
	}
	if i, ok := f.byUserID[userID]; ok && userID != "" && (best < 0 || i < best) {
		best = i
	}
	return best
}

// contact builds the identity of a user named by wa_id and/or user id,
// completed from the matching value.contacts entry (matched on either id):
// its profile name and whichever id the item lacked.
func (f *contactFinder) contact(waID, userID string) Contact {
	c := Contact{WaID: waID, UserID: userID}
	if waID == "" && userID == "" {
		return c
	}
	if i := f.find(waID, userID); i >= 0 {
		wc := &f.list[i]
		if c.WaID == "" {
			c.WaID = wc.WaID
		}
		if c.UserID == "" {
			c.UserID = wc.UserID
		}
		c.Name = wc.Profile.Name
	}
	return c
}

// hashID derives a stable id from an entry id, a field and JSON bytes
// (compacted, so whitespace does not matter).
func hashID(prefix, entryID, field string, raw []byte) string {
	h := sha256.New()
	h.Write([]byte(entryID))
	h.Write([]byte{0})
	h.Write([]byte(field))
	h.Write([]byte{0})
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err == nil {
		h.Write(buf.Bytes())
	} else {
		h.Write(raw)
	}
	var sum [sha256.Size]byte
	return prefix + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

func orTime(t, fallback time.Time) time.Time {
	if t.IsZero() {
		return fallback
	}
	return t
}
