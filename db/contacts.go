package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// Contact identity (DESIGN §3). Since April 2026 Meta names a WhatsApp
// user in every webhook by a business-scoped user id and gives the phone
// number (wa_id) only when it may share it. A contact's partition key,
// contacts.key, is its user id, and its wa_id only while no user id is
// known (payloads that carry none). The store links the two: a message
// naming both finds the contact by either and fills in the missing one;
// a wa_id-only row and a user-id-only row of one person are merged into
// one. The user id is the person; a wa_id moves to whichever user id Meta
// last named it with.

// identity is a contact row as identity resolution sees it.
type identity struct {
	ID      int64
	Key     string
	WaID    string
	UserID  string
	Name    string
	Blocked bool
}

// keyOnly: a row made by Block for a key never seen in an event.
func (r identity) keyOnly() bool { return r.WaID == "" && r.UserID == "" }

func (r identity) row() contactRow { return contactRow{ID: r.ID, Blocked: r.Blocked} }

const sqlIdentities = `SELECT id, key, COALESCE(wa_id, ''), COALESCE(user_id, ''), name, blocked_at IS NOT NULL
	FROM contacts WHERE ($1 <> '' AND (wa_id = $1 OR key = $1)) OR ($2 <> '' AND (user_id = $2 OR key = $2))
	ORDER BY id`

// How a batch locks the contact rows it reads. Messages have no foreign
// key to their contact (migration 019: checking it row by row took a fifth
// of Postgres's CPU in the consumer's replay), so a transaction writes a
// message only for a contact it holds until it commits: read FOR KEY SHARE
// (the contacts of a batch's messages, lockKeyShare), locked FOR UPDATE
// (identities about to change), inserted by it, or reached through a
// conversation it holds (locked FOR UPDATE, or inserted by it: the
// conversation's own foreign key locks its contact). A merge, the only
// statement that deletes a contact, locks both rows FOR UPDATE before it
// moves conversations and messages, so it waits for every batch that
// writes for the row it deletes and then moves what that batch wrote; a
// batch that reads the row after the merge does not find it. A key share
// does not stop the updates a message makes (last_inbound_at, the name,
// the thread's owner); conversations are never deleted (migration 019).
const (
	lockNone     = ""
	lockKeyShare = " FOR KEY SHARE"
	lockUpdate   = " FOR UPDATE"
)

// identities reads the rows a wa_id or a user id names, locked by lock.
func (b *batch) identities(ctx context.Context, waID, userID, lock string) ([]identity, error) {
	return b.scanIdentities(ctx, sqlIdentities+lock, waID, userID)
}

func (b *batch) scanIdentities(ctx context.Context, q string, args ...any) ([]identity, error) {
	rows, err := b.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []identity
	for rows.Next() {
		var r identity
		if err := rows.Scan(&r.ID, &r.Key, &r.WaID, &r.UserID, &r.Name, &r.Blocked); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// match returns the row the user id names and the row the wa_id names: a
// row holding the identity, else a row keyed by it (a key-only row, or a
// row whose other id is this string: an id labelled the other way, such
// as a user id in a status's recipient_id).
func match(rows []identity, waID, userID string) (byUser, byWa *identity) {
	find := func(id string, has func(identity) string) *identity {
		if id == "" {
			return nil
		}
		for i := range rows {
			if has(rows[i]) == id {
				return &rows[i]
			}
		}
		for i := range rows {
			if rows[i].Key == id { // a key-only row, or an id Meta labelled the other way
				return &rows[i]
			}
		}
		return nil
	}
	return find(userID, func(r identity) string { return r.UserID }), find(waID, func(r identity) string { return r.WaID })
}

// contactPlan says how an event's identities map onto contact rows.
type contactPlan struct {
	use    *identity // the contact; nil: a new row
	merge  *identity // another row of the same person, folded into use
	unlink *identity // a row of another user id that gives up the wa_id
	// waID and userID are what use must hold afterwards ("": unchanged).
	waID, userID string
}

// planContact decides, from the rows the event's ids name, which contact
// the event belongs to and what changes.
func planContact(rows []identity, waID, userID string) contactPlan {
	byUser, byWa := match(rows, waID, userID)
	p := contactPlan{waID: waID, userID: userID}
	// An id labelled the other way (a row's user id given as the wa_id, or
	// its wa_id as the user id) is not stored a second time, in the other
	// column; a user id given as the wa_id beside a user id names nobody.
	if byWa != nil && byWa.WaID != waID && byWa.UserID == waID {
		if userID != "" {
			byWa = nil
		}
		p.waID = ""
	}
	if byUser != nil && byUser.UserID != userID && byUser.WaID == userID {
		p.userID = ""
	}
	switch {
	case byUser == nil && byWa == nil: // a new contact
	case userID == "": // a payload without a user id: the wa_id's row
		p.use = byWa
	case byUser == nil && byWa.UserID == "": // the wa_id's row learns its user id
		p.use = byWa
	case byUser == nil: // the number now belongs to another user id: a new contact
		p.unlink = byWa
	case byWa == nil || byWa.ID == byUser.ID:
		p.use = byUser
		if byWa == nil && byUser.WaID != "" {
			p.waID = "" // keeps the number it has
		}
	case byWa.UserID == "": // a wa_id-only row and a user-id-only row: one person
		p.use, p.merge = byUser, byWa
	case byUser.WaID == "": // the number moves to the user id Meta named it with
		p.use, p.unlink = byUser, byWa
	default: // both have numbers: each keeps its own
		p.use, p.waID = byUser, ""
	}
	return p
}

// changes reports whether use's identities or key change.
func (p contactPlan) changes() bool {
	u := p.use
	wa, user := u.WaID, u.UserID
	if p.waID != "" {
		wa = p.waID
	}
	if p.userID != "" {
		user = p.userID
	}
	return wa != u.WaID || user != u.UserID || firstNonEmpty(user, wa, u.Key) != u.Key
}

// errSlowPath: a change that the fast path leaves to the one-by-one path.
var errSlowPath = errors.New("contact merge: applying the batch one event at a time")

// errIdentityRace: another transaction stored the identity first. When
// it persists through identitySavepoint's attempts, it is transient
// (IsTransient): the batch is applied again later, never dead-lettered.
var errIdentityRace = errors.New("contact stored concurrently under another identity")

// Only an event that comes from the contact (a message, a system message
// announcing new identities) or names it by key (a command) says who the
// contact is: contact creates and links. A status or a notice only names
// the recipient the way Meta's payload happens to, possibly on another
// partition than the contact's messages: lookupContact finds the contact
// by either id and never inserts, links or merges, so such an event never
// contends with the contact's own events.

// contact finds or creates the contact of a message, linking identities
// and the profile name as they become known. Each message counts, in
// order, as if it came in a batch of its own: a key is resolved once per
// batch, and again only for a message that names an id its earlier
// messages did not (b.seen); a message that only brings a new profile
// name writes it.
func (b *batch) contact(ctx context.Context, ct event.Contact) (contactRow, error) {
	key := ct.Key()
	c, ok := b.contacts[key]
	seen, resolved := b.seen[key]
	newID := func(had, id string) bool { return id != "" && id != had }
	switch {
	case !ok || !resolved || newID(seen.WaID, ct.WaID) || newID(seen.UserID, ct.UserID):
		var err error
		if c, err = b.resolveContact(ctx, ct); err != nil {
			return contactRow{}, fmt.Errorf("contact: %w", err)
		}
		b.contacts[key] = c
		// A merge forgot what the key's messages said (forgetContacts):
		// the row's name may be the other row's, not the last one said.
		seen = b.seen[key]
	case ct.Name != "" && ct.Name != seen.Name:
		if _, err := b.tx.ExecContext(ctx, sqlContactName, c.ID, ct.Name); err != nil {
			return contactRow{}, fmt.Errorf("contact name: %w", err)
		}
	default:
		return c, nil
	}
	b.seen[key] = brought(seen, ct)
	return c, nil
}

// brought is what a key's messages said of the contact so far, seen, and
// then ct: each id named, and the last profile name.
func brought(seen, ct event.Contact) event.Contact {
	if ct.WaID != "" {
		seen.WaID = ct.WaID
	}
	if ct.UserID != "" {
		seen.UserID = ct.UserID
	}
	if ct.Name != "" {
		seen.Name = ct.Name
	}
	return seen
}

// forgetContacts drops the contacts the batch cached: a merge or a moved
// number may have left them naming the wrong row, a rolled back savepoint
// may have left them saying what is no longer stored.
func (b *batch) forgetContacts() {
	clear(b.contacts)
	clear(b.seen)
}

const sqlContactName = `UPDATE contacts SET name = $2, updated_at = now() WHERE id = $1 AND name <> $2`

func (b *batch) resolveContact(ctx context.Context, ct event.Contact) (contactRow, error) {
	rows, err := b.identities(ctx, ct.WaID, ct.UserID, lockKeyShare)
	if err != nil {
		return contactRow{}, err
	}
	p := planContact(rows, ct.WaID, ct.UserID)
	switch {
	case p.use != nil && p.merge == nil && p.unlink == nil && !p.changes():
		if ct.Name != "" && ct.Name != p.use.Name {
			if _, err := b.tx.ExecContext(ctx, sqlContactName, p.use.ID, ct.Name); err != nil {
				return contactRow{}, err
			}
		}
		return p.use.row(), nil
	case p.use == nil && p.unlink == nil:
		id, ok, err := b.insertContact(ctx, ct)
		if err != nil || ok {
			return contactRow{ID: id, Fresh: true}, err
		}
		// Inserted concurrently under another identity: resolve again, locked.
	}
	var c contactRow
	err = b.identitySavepoint(ctx, func() error {
		rows, err := b.identities(ctx, ct.WaID, ct.UserID, lockUpdate)
		if err != nil {
			return err
		}
		c, err = b.execPlan(ctx, planContact(rows, ct.WaID, ct.UserID), ct)
		return err
	})
	return c, err
}

const sqlContactInsert = `INSERT INTO contacts (key, wa_id, user_id, name)
	VALUES ($1, NULLIF($2, ''), NULLIF($3, ''), $4)
	ON CONFLICT DO NOTHING RETURNING id`

// insertContact stores a new contact; ok is false when one of its
// identities was stored meanwhile.
func (b *batch) insertContact(ctx context.Context, ct event.Contact) (int64, bool, error) {
	var id int64
	err := b.tx.QueryRowContext(ctx, sqlContactInsert, ct.Key(), ct.WaID, ct.UserID, ct.Name).Scan(&id)
	if errors.Is(err, errNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// execPlan carries out a plan made on locked rows.
func (b *batch) execPlan(ctx context.Context, p contactPlan, ct event.Contact) (contactRow, error) {
	if b.pre != nil && (p.merge != nil || p.unlink != nil) {
		return contactRow{}, errSlowPath
	}
	if p.merge != nil || p.unlink != nil {
		b.forgetContacts() // a key cached for the row merged away or the number moved
	}
	if p.unlink != nil {
		if err := b.setIdentity(ctx, p.unlink.ID, identityUpdate{clearWa: true}); err != nil {
			return contactRow{}, err
		}
	}
	if p.use == nil {
		id, ok, err := b.insertContact(ctx, ct)
		if err == nil && !ok {
			err = errIdentityRace
		}
		return contactRow{ID: id, Fresh: true}, err
	}
	use := *p.use
	if p.merge != nil {
		keep, err := b.mergeContacts(ctx, use, *p.merge)
		if err != nil {
			return contactRow{}, err
		}
		use = keep
	}
	err := b.setIdentity(ctx, use.ID, identityUpdate{waID: p.waID, userID: p.userID, name: ct.Name})
	return use.row(), err
}

// identityUpdate is a change of a contact's identities: set ("" keeps)
// or clear each id; the key follows (the user id, else the wa_id).
type identityUpdate struct {
	waID, userID       string
	clearWa, clearUser bool
	name               string
}

// sqlSetIdentity changes a contact's identities and key; the outcomes of
// its sends not yet reported go to the partition of its new key.
const sqlSetIdentity = `WITH n AS (
		SELECT id,
			CASE WHEN $2 <> '' THEN $2 WHEN $4 THEN NULL ELSE wa_id END AS wa,
			CASE WHEN $3 <> '' THEN $3 WHEN $5 THEN NULL ELSE user_id END AS usr
		FROM contacts WHERE id = $1),
	c AS (UPDATE contacts t SET wa_id = n.wa, user_id = n.usr, key = COALESCE(n.usr, n.wa, t.key),
			name = CASE WHEN $6 <> '' THEN $6 ELSE t.name END, updated_at = now()
		FROM n WHERE t.id = n.id RETURNING t.key),
	o AS (UPDATE outbox SET contact_key = c.key FROM c
		WHERE outbox.contact_id = $1 AND outbox.contact_key <> c.key AND (outbox.state = 'pending' OR NOT outbox.reported))
	SELECT key FROM c`

func (b *batch) setIdentity(ctx context.Context, id int64, u identityUpdate) error {
	var key string
	return b.tx.QueryRowContext(ctx, sqlSetIdentity, id, u.waID, u.userID, u.clearWa, u.clearUser, u.name).Scan(&key)
}

// identityAttempts is how many times identitySavepoint runs fn before it
// leaves the race to a later retry of the whole batch.
const identityAttempts = 3

// identitySavepoint runs fn, which changes identities, in a savepoint: when
// another transaction stored one of the identities first (a unique
// violation), fn is rolled back and runs again on what is stored now.
// A race on the contacts' identities that outlasts the attempts is
// errIdentityRace, which is transient: a race is not a property of the
// event.
func (b *batch) identitySavepoint(ctx context.Context, fn func() error) error {
	defer b.forgetLookups() // rows may have changed identities or merged
	for attempt := 1; ; attempt++ {
		err := b.savepoint(ctx, fn)
		var pqErr *pq.Error
		unique := errors.As(err, &pqErr) && pqErr.Code == "23505"
		switch {
		case !unique && !errors.Is(err, errIdentityRace):
			return err
		case attempt < identityAttempts:
		case unique && pqErr.Table != "contacts": // not an identity: the event's own conflict
			return err
		case unique: // %v: the unique violation must not read as a data error
			return fmt.Errorf("%w: %v", errIdentityRace, err)
		default:
			return err
		}
	}
}

const sqlMergeConflicts = `SELECT d.id FROM conversations d
	JOIN conversations k ON k.contact_id = $1 AND k.inbox = d.inbox AND k.status = 'open'
	WHERE d.contact_id = $2 AND d.status = 'open' ORDER BY d.id`

// sqlMerge moves what belongs to the dropped row ($2) to the kept one ($1),
// in this order, and removes the dropped row.
var sqlMerge = []string{
	`UPDATE conversations SET contact_id = $1 WHERE contact_id = $2`,
	`UPDATE messages SET contact_id = $1 WHERE contact_id = $2`,
	`UPDATE outbox SET contact_id = $1 WHERE contact_id = $2`,
	`UPDATE held_events SET contact_id = $1 WHERE contact_id = $2`,
	`INSERT INTO contact_owners (contact_id, agent_id, source, added_at)
		SELECT $1, agent_id, source, added_at FROM contact_owners WHERE contact_id = $2 ON CONFLICT DO NOTHING`,
	`DELETE FROM contact_owners WHERE contact_id = $2 AND contact_id <> $1`,
	`UPDATE contacts k SET last_inbound_at = GREATEST(k.last_inbound_at, d.last_inbound_at),
		blocked_at = COALESCE(k.blocked_at, d.blocked_at),
		blocked_reason = CASE WHEN k.blocked_at IS NULL THEN d.blocked_reason ELSE k.blocked_reason END,
		name = CASE WHEN k.name = '' THEN d.name ELSE k.name END, updated_at = now()
		FROM contacts d WHERE k.id = $1 AND d.id = $2`,
	`DELETE FROM contacts WHERE id = $2 AND id <> $1`,
}

// mergeContacts folds two rows of one person into the older one, which it
// returns: conversations, messages, sends, held events and owners move;
// the merged contact is blocked when either was. Where both have an open
// conversation in one inbox, the younger row's is resolved first (one
// open conversation per contact and inbox). Both rows must be locked.
func (b *batch) mergeContacts(ctx context.Context, a, c identity) (identity, error) {
	keep, drop := a, c
	if drop.ID < keep.ID {
		keep, drop = drop, keep
	}
	var conflicts []int64
	if err := b.tx.SelectContext(ctx, &conflicts, sqlMergeConflicts, keep.ID, drop.ID); err != nil {
		return identity{}, err
	}
	for _, id := range conflicts {
		conv, err := b.lockConversation(ctx, id)
		if err != nil {
			return identity{}, err
		}
		d := assigner.DecideResolve(conv.Conversation)
		d.Reasons = append(d.Reasons, assigner.Reason{Code: assigner.CodeResolved, Text: fmt.Sprintf(
			"Its contact turned out to be contact %d, which has an open conversation in this inbox; the contacts were merged.", keep.ID)})
		if err := b.persist(ctx, fmt.Sprintf("merge:%d:%d", drop.ID, keep.ID), conv, d); err != nil {
			return identity{}, err
		}
	}
	for _, q := range sqlMerge {
		if _, err := b.tx.ExecContext(ctx, q, keep.ID, drop.ID); err != nil {
			return identity{}, fmt.Errorf("merge contacts: %w", err)
		}
	}
	// The kept row takes the identities it lacked.
	var u identityUpdate
	if keep.WaID == "" {
		u.waID, keep.WaID = drop.WaID, drop.WaID
	}
	if keep.UserID == "" {
		u.userID, keep.UserID = drop.UserID, drop.UserID
	}
	if err := b.setIdentity(ctx, keep.ID, u); err != nil {
		return identity{}, err
	}
	keep.Blocked = keep.Blocked || drop.Blocked
	return keep, nil
}

// ---- identity changes announced by Meta ----

// identityChange returns what a system message says of a user's new
// identities: user_changed_number (a new phone number, and since 2026 a
// new user id) or user_changed_user_id (a new user id), with the previous
// user id. ok is false for any other message.
func identityChange(m *whatsapp.Message) (waID, userID, previous string, number, ok bool) {
	if m == nil || m.System == nil {
		return "", "", "", false, false
	}
	switch m.System.Type {
	case "user_changed_number":
		number = true
		waID = m.System.WaID
	case "user_changed_user_id":
	default:
		return "", "", "", false, false
	}
	var raw struct {
		System struct {
			PreviousUserID string `json:"previous_user_id"`
		} `json:"system"`
	}
	if json.Unmarshal(m.Raw, &raw) == nil {
		previous = raw.System.PreviousUserID
	}
	return waID, m.System.UserID, previous, number, true
}

const sqlIdentitiesOfChange = `SELECT id, key, COALESCE(wa_id, ''), COALESCE(user_id, ''), name, blocked_at IS NOT NULL
	FROM contacts WHERE id = $1
	   OR ($2 <> '' AND (user_id = $2 OR key = $2)) OR ($3 <> '' AND (user_id = $3 OR key = $3))
	   OR ($4 <> '' AND (wa_id = $4 OR key = $4))
	ORDER BY id FOR UPDATE`

// changeIdentity links the identities a system message announces to the
// contact it came from: rows already stored under the previous or the new
// user id are the same person and are merged in; the new number moves to
// it. After a number change without a new user id, the old user id (which
// Meta replaced) is forgotten.
func (b *batch) changeIdentity(ctx context.Context, e *event.Envelope, c contactRow) (contactRow, error) {
	waID, userID, previous, number, _ := identityChange(e.Message)
	if c.ID == 0 || (waID == "" && userID == "" && previous == "") {
		return c, nil
	}
	err := b.identitySavepoint(ctx, func() error {
		rows, err := b.scanIdentities(ctx, sqlIdentitiesOfChange, c.ID, previous, userID, waID)
		if err != nil {
			return err
		}
		cur, err := b.foldIdentities(ctx, rows, c.ID, waID, userID, previous)
		if err != nil {
			return err
		}
		c = cur.row()
		return b.setIdentity(ctx, cur.ID, identityUpdate{waID: waID, userID: userID, clearUser: number && userID == ""})
	})
	if err != nil {
		return contactRow{}, fmt.Errorf("identity change: %w", err)
	}
	b.forgetContacts()
	return c, nil
}

// foldIdentities merges into the contact with id cur the rows of the same
// person (the previous or the new user id, the new number without another
// user id) and takes the new number from a row of another user id.
func (b *batch) foldIdentities(ctx context.Context, rows []identity, cur int64, waID, userID, previous string) (identity, error) {
	var c identity
	for _, r := range rows {
		if r.ID == cur {
			c = r
		}
	}
	if c.ID == 0 {
		return c, ErrNotFound
	}
	names := func(r identity, id string) bool {
		return id != "" && (r.UserID == id || (r.keyOnly() && r.Key == id))
	}
	done := map[int64]bool{c.ID: true}
	for _, r := range rows {
		if done[r.ID] {
			continue
		}
		done[r.ID] = true
		samePerson := names(r, previous) || names(r, userID) ||
			(waID != "" && (r.WaID == waID || (r.keyOnly() && r.Key == waID)) && (r.UserID == "" || r.UserID == userID))
		var err error
		switch {
		case samePerson:
			c, err = b.mergeContacts(ctx, c, r)
		case waID != "" && r.WaID == waID:
			err = b.setIdentity(ctx, r.ID, identityUpdate{clearWa: true})
		}
		if err != nil {
			return identity{}, err
		}
	}
	return c, nil
}

// ---- commands, blocking and holding ----

const sqlContactForKey = `SELECT id, blocked_at IS NOT NULL FROM contacts
	WHERE key = $1 OR wa_id = $1 OR user_id = $1 ORDER BY key = $1 DESC, id LIMIT 1`

// contactByKey finds the contact a command names by its key (or, when the
// key changed since, by the identity the key was); a command for a
// contact not stored yet (impossible through the API) touches no contact.
func (b *batch) contactByKey(ctx context.Context, key string) (contactRow, error) {
	if c, ok := b.contacts[key]; ok {
		return c, nil
	}
	var c contactRow
	err := b.tx.QueryRowContext(ctx, sqlContactForKey, key).Scan(&c.ID, &c.Blocked)
	if errors.Is(err, errNoRows) {
		return contactRow{}, nil
	}
	if err != nil {
		return contactRow{}, fmt.Errorf("contact: %w", err)
	}
	b.contacts[key] = c
	return c, nil
}

// sqlContactsForKeys is sqlContactForKey for many keys: each key's
// contact by key, else by either identity.
const sqlContactsForKeys = `SELECT DISTINCT ON (u.k) u.k, c.id, c.blocked_at IS NOT NULL
	FROM unnest($1::text[]) AS u(k) JOIN contacts c ON c.key = u.k OR c.wa_id = u.k OR c.user_id = u.k
	ORDER BY u.k, c.key = u.k DESC, c.id`

// prepareCommandContacts reads, in one statement, the contacts the
// batch's commands name and its messages did not bring (prepareContacts),
// as contactByKey would read them one by one when each command is
// applied: among them the relay's report of every message it sends. The
// fast path's batches change no contact's key, identities or block before
// a command is applied (an identity change or a release takes the one by
// one path), so reading them first reads the same rows. A key no contact
// has is left to contactByKey.
func (b *batch) prepareCommandContacts(ctx context.Context, events []event.Envelope) error {
	var keys []string
	seen := map[string]bool{}
	for i := range events {
		k := events[i].ContactKey
		if events[i].Kind != event.KindCommand || k == "" || seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := b.contacts[k]; !ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	rows, err := b.tx.QueryContext(ctx, sqlContactsForKeys, texts(keys))
	if err != nil {
		return fmt.Errorf("commands' contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var c contactRow
		if err := rows.Scan(&k, &c.ID, &c.Blocked); err != nil {
			return err
		}
		b.contacts[k] = c
	}
	return rows.Err()
}

const sqlBlock = `WITH hit AS (
		SELECT id FROM contacts WHERE key = $1 OR wa_id = $1 OR user_id = $1 ORDER BY key = $1 DESC, id LIMIT 1),
	blocked AS (UPDATE contacts SET blocked_at = now(), blocked_reason = $2 WHERE id IN (SELECT id FROM hit))
	INSERT INTO contacts (key, blocked_at, blocked_reason) SELECT $1, now(), $2 WHERE NOT EXISTS (SELECT 1 FROM hit)
	ON CONFLICT (key) DO UPDATE SET blocked_at = now(), blocked_reason = EXCLUDED.blocked_reason`

// Block marks the contact that this partition key names (by its key or
// either identity) blocked after one of its events was dead-lettered, so
// that its later events wait in held_events instead of overtaking it. A
// key no contact has yet gets a row of its own.
func (s *Store) Block(ctx context.Context, key, reason string) error {
	if key == "" {
		return nil
	}
	_, err := s.db.ExecContext(ctx, sqlBlock, key, reason)
	return err
}

// sqlHold keeps an event by its contact's id with the contact key-share
// locked, as a message's write does, and says whether the contact was
// found and whether the event was kept: a status or a notice looks its
// contact up unlocked (lookup.go), and a merge may have removed it since.
//
// An event held before, the same record delivered again (a rebalance, a
// commit of offsets that failed), is not held twice: it would be applied
// twice on release. Another event that shares its id (a group's read
// receipts do) has another envelope, and is held.
const sqlHold = `WITH c AS (SELECT id FROM contacts WHERE id = $2` + lockKeyShare + `),
	ins AS (INSERT INTO held_events (contact_key, contact_id, event_id, envelope)
		SELECT $1, c.id, $3, $4 FROM c WHERE NOT EXISTS (
			SELECT 1 FROM held_events h WHERE h.contact_id = c.id AND h.event_id = $3 AND h.envelope = $4)
		RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM c), EXISTS (SELECT 1 FROM ins)`

// hold keeps an event of a blocked contact, by contact id, until release.
// A contact merged away since the batch looked it up is a race: the batch
// is applied again, and finds the contact it was merged into.
func (b *batch) hold(ctx context.Context, e *event.Envelope, c contactRow) (Outcome, error) {
	raw, err := event.Encode(e)
	if err != nil {
		return Outcome{}, err
	}
	var found, inserted bool
	if err := b.tx.QueryRowContext(ctx, sqlHold, e.Key(), c.ID, e.ID, raw).Scan(&found, &inserted); err != nil {
		return Outcome{}, fmt.Errorf("hold: %w", err)
	}
	if !found {
		return Outcome{}, fmt.Errorf("hold: contact %d is gone (merged): %w", c.ID, errIdentityRace)
	}
	return Outcome{Held: true, Duplicate: !inserted}, nil
}
