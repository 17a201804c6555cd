package db

import (
	"context"
	"fmt"

	"github.com/wagw/wagw/event"
)

// Statuses and notices name a contact without speaking for it: a status
// names the recipient of an outbound message with whatever ids Meta puts
// in it (legacy payloads: the wa_id only), and it travels on the partition
// of that identity, which may not be the contact's. Such an event only
// looks its contact up, by either id, to hold it while the contact is
// blocked; it never inserts, links or merges contacts (contact does that
// for the contact's own messages). A status of a contact not stored is
// applied by its wamid all the same.

// lookupContact finds the contact a status or a notice names; a zero row
// when none is stored.
func (b *batch) lookupContact(ctx context.Context, ct event.Contact) (contactRow, error) {
	k := event.Contact{WaID: ct.WaID, UserID: ct.UserID}
	if c, ok := b.looked[k]; ok {
		return c, nil
	}
	rows, err := b.identities(ctx, ct.WaID, ct.UserID, lockNone)
	if err != nil {
		return contactRow{}, fmt.Errorf("contact: %w", err)
	}
	c := lookupIn(rows, ct.WaID, ct.UserID)
	b.looked[k] = c
	return c, nil
}

// lookupIn picks the contact that a wa_id and a user id name among the
// rows either names, as planContact would without changing anything: the
// user id's contact; else the wa_id's, unless that one has another user
// id (the number moved to a user not stored yet).
func lookupIn(rows []identity, waID, userID string) contactRow {
	byUser, byWa := match(rows, waID, userID)
	switch {
	case byUser != nil:
		return byUser.row()
	case byWa != nil && (userID == "" || byWa.UserID == ""):
		return byWa.row()
	}
	return contactRow{}
}

const sqlIdentitiesAny = `SELECT id, key, COALESCE(wa_id, ''), COALESCE(user_id, ''), name, blocked_at IS NOT NULL
	FROM contacts WHERE wa_id = ANY($1) OR key = ANY($1) OR user_id = ANY($2) OR key = ANY($2)`

// lookupStatuses looks up the contacts of a batch's statuses with one
// query, after prepare resolved the contacts of its messages.
func (b *batch) lookupStatuses(ctx context.Context, events []event.Envelope) error {
	var was, users []string
	for i := range events {
		if e := &events[i]; e.Kind == event.KindStatus && bulkContact(e) {
			was, users = append(was, e.Contact.WaID), append(users, e.Contact.UserID)
		}
	}
	if len(was) == 0 {
		return nil
	}
	rows, err := b.scanIdentities(ctx, sqlIdentitiesAny, texts(was), texts(users))
	if err != nil {
		return fmt.Errorf("status contacts: %w", err)
	}
	named := map[string][]identity{} // rows by each id they hold or are keyed by
	for _, r := range rows {
		for _, id := range []string{r.Key, r.WaID, r.UserID} {
			if id != "" {
				named[id] = append(named[id], r)
			}
		}
	}
	for i := range was {
		k := event.Contact{WaID: was[i], UserID: users[i]}
		if _, ok := b.looked[k]; ok {
			continue
		}
		var cands []identity
		for _, id := range []string{k.WaID, k.UserID} {
			if id != "" {
				cands = append(cands, named[id]...)
			}
		}
		b.looked[k] = lookupIn(cands, k.WaID, k.UserID)
	}
	return nil
}

// forgetLookups drops the looked-up contacts, after identities changed.
func (b *batch) forgetLookups() { clear(b.looked) }
