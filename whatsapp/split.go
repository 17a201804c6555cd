package whatsapp

import (
	"encoding/json"
	"time"
)

// Contact identifies a WhatsApp user. Since April 2026 Meta names every
// user by a business-scoped user id (UserID) in its webhooks and may omit
// the phone number (WaID).
type Contact struct {
	WaID   string `json:"wa_id,omitempty"`
	UserID string `json:"user_id,omitempty"`
	Name   string `json:"name,omitempty"`
}

// known reports whether c names a user.
func (c Contact) known() bool { return c.WaID != "" || c.UserID != "" }

// Item is one part of a notification: one message, one status, or one
// notice (a change that carries neither, or the value-level errors of a
// change that carries some), with the change's metadata. Exactly one of
// Message, Status and Notice is set.
type Item struct {
	// Field is the change's webhook field ("messages", "user_preferences", …).
	Field string
	// WABAID is the entry's id: the WhatsApp Business Account.
	WABAID string
	// PhoneNumberID and DisplayPhoneNumber are the change's metadata,
	// empty when it has none.
	PhoneNumberID, DisplayPhoneNumber string
	// Contact is the user the item is about: a message's sender, a
	// status's recipient, the one user a notice's items all name; empty
	// when unknown.
	Contact Contact
	// Time is Meta's time of the item (of the entry, for most notices);
	// zero when there is none in range.
	Time time.Time

	Message *Message
	Status  *Status
	// Handover is a messaging_handovers notification about Contact's
	// thread (routing.go).
	Handover *Handover
	// Echo is a message another responder sent to Contact, echoed on the
	// standby field.
	Echo *MessageEcho
	// Notice is a notice's change value as sent (JSON null for a change
	// without one).
	Notice json.RawMessage
}

// Split turns a notification into items: one per message, one per status,
// one per handover (messaging_handovers), one per message echo of a
// standby change, and one notice per change that has none of them (value errors, template
// status, account updates, user preferences, message echoes). A change that
// has messages or statuses and also value-level errors gives one more
// notice for those errors, after its items, so that no part of a
// notification is lost.
//
// Items keep the payload's order and are not deduplicated. Their Message,
// Status and Notice point into n; they share memory with n but not with
// the body n was parsed from.
func Split(n *Notification) []Item {
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
	out := make([]Item, 0, size)
	for i := range n.Entry {
		e := &n.Entry[i]
		for j := range e.Changes {
			out = splitChange(out, e, &e.Changes[j])
		}
	}
	return out
}

func splitChange(out []Item, e *Entry, ch *Change) []Item {
	v := &ch.Value
	base := Item{Field: ch.Field, WABAID: e.ID}
	if v.Metadata != nil {
		base.PhoneNumberID = v.Metadata.PhoneNumberID
		base.DisplayPhoneNumber = v.Metadata.DisplayPhoneNumber
	}

	cf := newContactFinder(v.Contacts)
	unread := false // handovers it could not read: kept in the notice
	if ch.Field == FieldMessagingHandovers {
		res, all, ok := splitHandovers(out, base, v, &cf)
		if ok && len(v.Messages) == 0 && len(v.Statuses) == 0 {
			if !all || len(v.Errors) > 0 || v.sparse {
				// What it could not read, and the value's errors, are
				// kept whole in a notice after the handovers.
				res = append(res, notice(base, e, v, &cf, false))
			}
			return res
		}
		// Messages or statuses beside the handovers are split as in any
		// change, after them.
		out, unread = res, ok && !all
	}
	standbyEchoes := ch.Field == FieldStandby && len(v.MessageEchoes) > 0
	if len(v.Messages) == 0 && len(v.Statuses) == 0 && !standbyEchoes {
		return append(out, notice(base, e, v, &cf, true))
	}
	for k := range v.Messages {
		m := &v.Messages[k]
		it := base
		it.Contact = cf.contact(m.From, m.FromUserID)
		if !it.Contact.known() && len(v.Contacts) == 1 {
			// No sender on the message itself: the change's only contact
			// is the sender.
			it.Contact = cf.contact(v.Contacts[0].WaID, v.Contacts[0].UserID)
		}
		it.Time = m.Time()
		it.Message = m
		out = append(out, it)
	}
	for k := range v.Statuses {
		s := &v.Statuses[k]
		it := base
		if s.RecipientType == "group" {
			// The recipient is a group: name the group, and do not
			// borrow a participant's contact entry.
			it.Contact = Contact{WaID: s.RecipientID, UserID: s.RecipientUserID}
		} else {
			it.Contact = cf.contact(s.RecipientID, s.RecipientUserID)
		}
		it.Time = s.Time()
		it.Status = s
		out = append(out, it)
	}
	if standbyEchoes {
		out = splitEchoes(out, base, v, &cf)
	}
	if len(v.Errors) > 0 || v.sparse || unread {
		out = append(out, notice(base, e, v, &cf, false))
	}
	return out
}

// notice builds the notice item of a change. When every item of the change
// names the same user (user preferences, message echoes) and withContact
// is set, the notice is about that contact, at the first item's time.
func notice(base Item, e *Entry, v *Value, cf *contactFinder, withContact bool) Item {
	it := base
	it.Notice = v.Raw
	if len(it.Notice) == 0 {
		it.Notice = json.RawMessage("null") // a change without a value
	}
	it.Time = e.Time.Time()
	if withContact {
		c, t, ok := v.noticeContact(cf)
		if ok {
			it.Contact = c
		}
		if !t.IsZero() {
			it.Time = t
		}
	}
	return it
}

// noticeContact returns the user that all user_preferences or
// message_echoes items name, and the first item's time. ok is false when
// there are no such items or they name different users.
func (v *Value) noticeContact(cf *contactFinder) (c Contact, t time.Time, ok bool) {
	if v.sparse {
		return Contact{}, t, false // the items are not all known
	}
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
	return c, t, c.known()
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
