package db

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/event"
)

// The fast path's conversations. For a contact whose only events in the
// batch are messages and statuses ("plain": no command or notice can
// resolve, open or reassign its conversations in the middle of the
// batch), prepare knows before any message is applied which conversation
// each new message joins: its open conversation (locked) or the one its
// messages open, inserted together (one statement for the batch) before
// the messages, is written into the message rows by the insert itself:
// no message is written twice. A message stored already that would open a
// conversation (a redelivery after its conversation was resolved) sends
// the batch one by one. The other contacts' messages are attached one by
// one in applyPrepared, as before. twopath_test.go holds both to the
// one-by-one path's rows.

// route is where prepare put one new message of a plain contact.
type route struct {
	conv     int64 // its conversation; 0: none (not conversational, nothing open)
	opened   bool  // it opened conv
	attached bool  // conv was written by the message insert
}

const sqlContactsNamed = `SELECT id FROM contacts WHERE key = ANY($1) OR wa_id = ANY($1) OR user_id = ANY($1)`

// otherContacts finds the contacts that events other than the fast path's
// messages and statuses may touch (commands, notices): any contact one of
// their identities names. all is true when a command names no contact.
func (b *batch) otherContacts(ctx context.Context, events []event.Envelope) (ids map[int64]bool, all bool, err error) {
	var names []string
	for i := range events {
		e := &events[i]
		if bulkContact(e) {
			continue
		}
		if e.ContactKey == "" && e.Contact.Key() == "" {
			if e.Kind == event.KindCommand {
				return nil, true, nil
			}
			continue
		}
		for _, n := range []string{e.ContactKey, e.Contact.WaID, e.Contact.UserID} {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	ids = map[int64]bool{}
	if len(names) == 0 {
		return ids, false, nil
	}
	rows, err := b.tx.QueryContext(ctx, sqlContactsNamed, texts(names))
	if err != nil {
		return nil, false, fmt.Errorf("contacts of commands and notices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, false, err
		}
		ids[id] = true
	}
	return ids, false, rows.Err()
}

// plainContacts returns the contacts of the candidate messages idx that
// no other kind of event in the batch may touch; nil when every contact
// may be.
func (b *batch) plainContacts(ctx context.Context, events []event.Envelope, idx []*event.Envelope) (map[int64]bool, error) {
	other, all, err := b.otherContacts(ctx, events)
	if err != nil || all {
		return nil, err
	}
	plain := map[int64]bool{}
	for _, e := range idx {
		if id := b.contacts[e.Contact.Key()].ID; !other[id] {
			plain[id] = true
		}
	}
	return plain, nil
}

// routeNew decides, in batch order, where the messages of plain contacts
// go (first[i]: idx[i] is the first copy of its wamid in the batch; later
// copies are duplicates), and inserts the conversations they open with
// one statement, before the messages are inserted.
func (b *batch) routeNew(ctx context.Context, idx []*event.Envelope, plain map[int64]bool, first []bool) error {
	b.routes = map[*event.Envelope]route{}
	var (
		opens              []*event.Envelope
		cIDs               []int64
		inboxes, by, times []string
	)
	// The conversation of each contact and inbox as the batch goes: an id,
	// or -n for the one the batch's n-th opening message opens.
	cur := map[convKey]int64{}
	for i, e := range idx {
		c := b.contacts[e.Contact.Key()]
		if !plain[c.ID] || !first[i] {
			continue
		}
		k := convKey{c.ID, e.PhoneNumberID}
		conv, ok := cur[k]
		if !ok {
			conv = b.convs[k]
		}
		switch {
		case conv != 0:
			b.routes[e] = route{conv: conv, attached: true}
		case e.Message.Opens():
			opens = append(opens, e)
			cIDs, inboxes, by = append(cIDs, c.ID), append(inboxes, e.PhoneNumberID), append(by, e.Message.ID)
			times = append(times, sentAt(e).UTC().Format(time.RFC3339Nano))
			cur[k] = -int64(len(opens))
			b.routes[e] = route{conv: cur[k], opened: true, attached: true}
		default:
			b.routes[e] = route{} // not conversational and nothing open
		}
	}
	if len(opens) == 0 {
		return nil
	}
	ids, err := b.insertConversations(ctx, cIDs, inboxes, by, times)
	if err != nil {
		return err
	}
	opened := func(n int64) (int64, error) {
		id, ok := ids[opens[-n-1].Message.ID]
		if !ok {
			return 0, fmt.Errorf("open conversations: no row for %s", opens[-n-1].Message.ID)
		}
		return id, nil
	}
	for e, r := range b.routes {
		if r.conv < 0 {
			if r.conv, err = opened(r.conv); err != nil {
				return err
			}
			b.routes[e] = r
		}
	}
	for k, n := range cur {
		if n < 0 {
			if b.convs[k], err = opened(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// insertConversations opens conversations, one per contact and inbox, in
// the order given; it returns their ids by opening wamid.
func (b *batch) insertConversations(ctx context.Context, contacts []int64, inboxes, by, times []string) (map[string]int64, error) {
	rows, err := b.tx.QueryContext(ctx, `INSERT INTO conversations (contact_id, inbox, opened_by, opened_at, last_message_at)
		SELECT c, i, w, t::timestamptz, t::timestamptz
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS u(c, i, w, t, n)
		ORDER BY n
		RETURNING opened_by, id`, pq.Array(contacts), texts(inboxes), texts(by), texts(times))
	if err != nil {
		return nil, fmt.Errorf("open conversations: %w", err)
	}
	return scanInserted(rows)
}

// sentAt is Meta's time of a message, else when the event occurred.
func sentAt(e *event.Envelope) time.Time {
	if t := e.Message.Time(); !t.IsZero() {
		return t
	}
	return e.OccurredAt
}
