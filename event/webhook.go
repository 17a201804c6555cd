package event

import (
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// ParseAndSplit is whatsapp.Parse followed by Split. The error wraps
// whatsapp.ErrMalformed or whatsapp.ErrNotNotification.
func ParseAndSplit(body []byte, receivedAt time.Time) ([]Envelope, error) {
	n, err := whatsapp.Parse(body)
	if err != nil {
		return nil, err
	}
	return Split(n, receivedAt), nil
}

// Split turns a notification into records: one envelope per item of
// whatsapp.Split (a message, a status, a notice), in the payload's order
// and not deduplicated: the same wamid twice in a batch gives two
// envelopes with the same ID. OccurredAt is Meta's time of the item, or
// receivedAt when there is none.
//
// The Message and Status of an envelope point into n; the envelopes share
// memory with n but not with the body n was parsed from.
func Split(n *whatsapp.Notification, receivedAt time.Time) []Envelope {
	items := whatsapp.Split(n)
	if items == nil {
		return nil
	}
	out := make([]Envelope, len(items))
	for i := range items {
		out[i] = fromItem(&items[i], receivedAt)
	}
	return out
}

// fromItem is the envelope of one webhook item.
func fromItem(it *whatsapp.Item, receivedAt time.Time) Envelope {
	e := Envelope{Version: Version, Field: it.Field, WABAID: it.WABAID,
		PhoneNumberID: it.PhoneNumberID, DisplayPhoneNumber: it.DisplayPhoneNumber,
		Contact: Contact(it.Contact), OccurredAt: it.Time, ReceivedAt: receivedAt}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = receivedAt
	}
	switch {
	case it.Message != nil:
		e.Kind, e.Message = KindMessage, it.Message
	case it.Status != nil:
		e.Kind, e.Status = KindStatus, it.Status
	case it.Handover != nil:
		e.Kind, e.Handover = KindHandover, it.Handover
	case it.Echo != nil:
		e.Kind, e.Message = KindEcho, &it.Echo.Message
	default:
		e.Kind, e.Raw = KindNotice, it.Notice
	}
	e.ID = itemID(it)
	return e
}
