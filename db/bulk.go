package db

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/event"
)

// The fast path for batches of inbound messages: contacts are read, new
// messages inserted and open conversations locked with one statement each
// for the whole batch, and the per-message bookkeeping (attach the message
// to its conversation, the conversation's last message time, the
// contact's service window) is written with one statement each before any
// other kind of event is applied and at the end. The order of effects per
// contact is the same as applying the events one by one.

type convKey struct {
	contact int64
	inbox   string
}

type pending struct {
	statuses              map[string]statusUpdate // by outbound wamid
	contacts              map[int64]bool          // contacts with unwritten effects
	attachMsg, attachConv []int64
	touch                 map[int64]time.Time
	inbound               map[int64]time.Time
	quiet                 map[int64]time.Time // conversations' latest new message (armQuiet)
}

// bulkContact reports whether prepare handles the event's contact: a
// message (its contact resolved) or a status (its contact looked up) that
// names a contact.
func bulkContact(e *event.Envelope) bool {
	return e.ContactKey == "" && e.Contact.Key() != "" && e.Version <= event.Version &&
		((e.Kind == event.KindMessage && e.Message != nil) || (e.Kind == event.KindStatus && e.Status != nil))
}

// bulkMessage reports whether prepare resolves (finds or creates) the
// event's contact: a message that names one.
func bulkMessage(e *event.Envelope) bool { return bulkContact(e) && e.Kind == event.KindMessage }

// bulkable reports whether the fast path applies: several messages, no
// command that could unblock a contact in the middle of the batch, and no
// identity change (which may merge contacts).
func bulkable(events []event.Envelope) bool {
	n := 0
	for i := range events {
		e := &events[i]
		if _, _, _, _, change := identityChange(e.Message); change && e.Kind == event.KindMessage {
			return false
		}
		if routingEvent(e) {
			return false
		}
		switch {
		case bulkContact(e):
			n++
		case e.Kind == event.KindCommand && e.Command != nil && e.Command.Type == event.CmdRelease:
			return false
		}
	}
	return n >= 2
}

// sqlContactsByKeys reads the contacts of a batch's messages, key-share
// locked: the batch writes messages for them (contacts.go).
const sqlContactsByKeys = `SELECT key, id, blocked_at IS NOT NULL, name, COALESCE(wa_id, ''), COALESCE(user_id, ''),
	thread_owner = 'other' FROM contacts WHERE key = ANY($1)` + lockKeyShare

// prepare runs the batch-wide statements of the fast path.
func (b *batch) prepare(ctx context.Context, events []event.Envelope) error {
	b.pre = map[*event.Envelope]int64{}
	b.convs = map[convKey]int64{}
	b.pend = pending{contacts: map[int64]bool{}, touch: map[int64]time.Time{}, inbound: map[int64]time.Time{}, quiet: map[int64]time.Time{}}
	b.elsewhere = map[int64]bool{}

	if err := b.prepareContacts(ctx, events); err != nil {
		return err
	}
	if err := b.prepareCommandContacts(ctx, events); err != nil {
		return err
	}
	if err := b.lookupStatuses(ctx, events); err != nil {
		return err
	}
	if err := b.prepareStatuses(ctx, events); err != nil {
		return err
	}
	return b.prepareMessages(ctx, events)
}

// prepareMessages inserts the batch's new messages (of contacts not
// blocked) with one statement, the first occurrence of a wamid winning.
// Their contacts' open conversations are read and locked, and those that
// plain contacts' messages open inserted, first, so that the insert
// writes the conversation of plain contacts' messages (bulkconv.go).
func (b *batch) prepareMessages(ctx context.Context, events []event.Envelope) error {
	var (
		idx                                       []*event.Envelope
		wamids, inboxes, types, bodies, ctxs, sAt []string
		rAt                                       []string
		cids                                      []int64
		raws                                      []sql.NullString
	)
	for i := range events {
		e := &events[i]
		if e.Kind != event.KindMessage || e.Message == nil || e.Contact.Key() == "" || e.Version > event.Version {
			continue
		}
		c := b.contacts[e.Contact.Key()]
		if c.Blocked || b.elsewhere[c.ID] { // held, or taking the thread back: one by one
			continue
		}
		if err := b.inbox(ctx, e); err != nil {
			return err
		}
		m := e.Message
		raw := sql.NullString{}
		if v, ok := nullJSON(m.Raw).(string); ok {
			raw = sql.NullString{String: v, Valid: true}
		}
		idx = append(idx, e)
		wamids = append(wamids, m.ID)
		cids = append(cids, c.ID)
		inboxes = append(inboxes, e.PhoneNumberID)
		types = append(types, m.Type)
		bodies = append(bodies, m.Body())
		ctxs = append(ctxs, m.ContextID())
		sAt = append(sAt, sentAt(e).UTC().Format(time.RFC3339Nano))
		rAt = append(rAt, e.ReceivedAt.UTC().Format(time.RFC3339Nano))
		raws = append(raws, raw)
	}
	if len(idx) == 0 {
		return nil
	}
	plain, err := b.plainContacts(ctx, events, idx)
	if err != nil {
		return err
	}
	if err := b.lockOpenConversations(ctx, cids); err != nil {
		return err
	}
	// The conversations plain contacts' messages open are inserted first,
	// so that the insert below writes every routed message's
	// conversation: no message is written twice. Routing takes the first
	// copy of each wamid for new; a message already stored that would
	// open a conversation (its conversation was resolved since) sends the
	// batch one by one (below).
	first := firstCopies(wamids)
	if err := b.routeNew(ctx, idx, plain, first); err != nil {
		return err
	}
	convs := make([]sql.NullInt64, len(idx))
	for i, e := range idx {
		if r := b.routes[e]; r.conv != 0 {
			convs[i] = sql.NullInt64{Int64: r.conv, Valid: true}
		}
	}
	const q = `INSERT INTO messages (wamid, direction, contact_id, inbox, type, body, context_wamid, sent_at, received_at, raw, conversation_id)
		SELECT w, 'in', c, i, t, bo, x, s::timestamptz, r::timestamptz, j::jsonb, v
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[])
			WITH ORDINALITY AS u(w, c, i, t, bo, x, s, r, j, v, n)
		ORDER BY n
		ON CONFLICT (wamid) DO NOTHING RETURNING wamid, id`
	rows, err := b.tx.QueryContext(ctx, q, texts(wamids), pq.Array(cids), texts(inboxes), texts(types),
		texts(bodies), texts(ctxs), texts(sAt), texts(rAt), nullTexts(raws), nullInt64s(convs))
	if err != nil {
		return fmt.Errorf("messages: %w", err)
	}
	inserted, err := scanInserted(rows)
	if err != nil {
		return err
	}
	for i, e := range idx {
		id, ok := inserted[e.Message.ID]
		if !ok && b.routes[e].opened {
			return fmt.Errorf("messages: %s, already stored, would open a conversation", e.Message.ID)
		}
		if ok {
			delete(inserted, e.Message.ID) // later copies in the batch are duplicates
			if k := (convKey{cids[i], e.PhoneNumberID}); b.convs[k] == 0 {
				b.convs[k] = 0 // known: none open
			}
		}
		b.pre[e] = id
	}
	return nil
}

// scanInserted reads the rows an insert returned, a wamid (of a message,
// or of the message that opened a conversation) and an id each,
// and closes rows.
func scanInserted(rows *sql.Rows) (map[string]int64, error) {
	defer rows.Close()
	inserted := map[string]int64{}
	for rows.Next() {
		var w string
		var id int64
		if err := rows.Scan(&w, &id); err != nil {
			return nil, err
		}
		inserted[w] = id
	}
	return inserted, rows.Err()
}

// firstCopies tells, for each of the batch's wamids, whether it is the
// first copy in the batch.
func firstCopies(wamids []string) []bool {
	seen := make(map[string]bool, len(wamids))
	first := make([]bool, len(wamids))
	for i, w := range wamids {
		first[i] = !seen[w]
		seen[w] = true
	}
	return first
}

// lockOpenConversations reads and locks the open conversations of the
// contacts contactIDs.
func (b *batch) lockOpenConversations(ctx context.Context, contactIDs []int64) error {
	rows, err := b.tx.QueryContext(ctx, `SELECT id, contact_id, inbox FROM conversations
		WHERE status = 'open' AND contact_id = ANY($1) ORDER BY id FOR UPDATE`, pq.Array(contactIDs))
	if err != nil {
		return fmt.Errorf("open conversations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k convKey
		if err := rows.Scan(&id, &k.contact, &k.inbox); err != nil {
			return err
		}
		b.convs[k] = id
	}
	return rows.Err()
}

// prepareContacts resolves the contacts of the batch's messages: one read
// for all, one insert for those never seen, and the one-by-one path for
// those that are changed or known under another identity. It looks at a
// key's first message; what a later one brings (a new profile name, an
// id) is applied when that message is (contact). Statuses do not create
// contacts (lookup.go).
func (b *batch) prepareContacts(ctx context.Context, events []event.Envelope) error {
	var keys []string
	seen := map[string]bool{}
	for i := range events {
		if e := &events[i]; bulkMessage(e) {
			if k := e.Contact.Key(); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	rows, err := b.tx.QueryContext(ctx, sqlContactsByKeys, texts(keys))
	if err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	type known struct {
		row       contactRow
		stored    event.Contact // its ids and name
		elsewhere bool
	}
	found := map[string]known{}
	for rows.Next() {
		var k string
		var c known
		if err := rows.Scan(&k, &c.row.ID, &c.row.Blocked, &c.stored.Name, &c.stored.WaID, &c.stored.UserID, &c.elsewhere); err != nil {
			rows.Close()
			return err
		}
		found[k] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := b.insertNewContacts(ctx, events, func(k string) bool { _, ok := found[k]; return ok }); err != nil {
		return err
	}
	for i := range events {
		e := &events[i]
		if !bulkMessage(e) {
			continue
		}
		k := e.Contact.Key()
		if _, done := b.contacts[k]; done {
			continue
		}
		c, ok := found[k]
		if ok && brought(c.stored, e.Contact) == c.stored { // the message brings nothing new
			b.contacts[k], b.seen[k] = c.row, c.stored
			b.elsewhere[c.row.ID] = c.elsewhere
			continue
		}
		// Changed, or known under another identity: one by one.
		row, err := b.contact(ctx, e.Contact)
		if err != nil {
			return err
		}
		owner, err := b.threadOwner(ctx, row.ID)
		if err != nil {
			return err
		}
		b.elsewhere[row.ID] = owner.Elsewhere()
	}
	return nil
}

// insertNewContacts stores the contacts of the batch's messages that are
// not known, with one insert, each as its first message names it.
func (b *batch) insertNewContacts(ctx context.Context, events []event.Envelope, known func(key string) bool) error {
	var newKeys, newWa, newUser, newName []string
	first := map[string]*event.Envelope{}
	for i := range events {
		e := &events[i]
		if !bulkMessage(e) {
			continue
		}
		k := e.Contact.Key()
		if known(k) || first[k] != nil {
			continue
		}
		first[k] = e
		newKeys = append(newKeys, k)
		newWa = append(newWa, e.Contact.WaID)
		newUser = append(newUser, e.Contact.UserID)
		newName = append(newName, e.Contact.Name)
	}
	if len(newKeys) == 0 {
		return nil
	}
	rows, err := b.tx.QueryContext(ctx, `INSERT INTO contacts (key, wa_id, user_id, name)
		SELECT k, NULLIF(w, ''), NULLIF(u, ''), n FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
			WITH ORDINALITY AS x(k, w, u, n, o) ORDER BY o
		ON CONFLICT DO NOTHING RETURNING key, id`, texts(newKeys), texts(newWa), texts(newUser), texts(newName))
	if err != nil {
		return fmt.Errorf("new contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var c contactRow
		if err := rows.Scan(&k, &c.ID); err != nil {
			return err
		}
		c.Fresh = true
		b.contacts[k], b.seen[k] = c, first[k].Contact
	}
	return rows.Err()
}

// applyPrepared is applyMessage for a message inserted by prepare.
func (b *batch) applyPrepared(ctx context.Context, e *event.Envelope, c contactRow, msgID int64) (Outcome, error) {
	if msgID == 0 {
		return Outcome{Duplicate: true}, nil
	}
	sent := sentAt(e)
	if t, ok := b.pend.inbound[c.ID]; !ok || sent.After(t) {
		b.pend.inbound[c.ID] = sent
	}
	b.pend.contacts[c.ID] = true
	k := convKey{c.ID, e.PhoneNumberID}
	var o Outcome
	r, routed := b.routes[e]
	if !routed {
		var err error
		if r, err = b.routeOne(ctx, e, c); err != nil {
			return Outcome{}, err
		}
		b.convs[k] = r.conv
	}
	switch {
	case r.conv == 0:
		return o, nil
	case r.opened:
		o.Opened = true
		b.openings = append(b.openings, opening{e: e, c: c, convID: r.conv})
	default:
		if t, ok := b.pend.touch[r.conv]; !ok || sent.After(t) {
			b.pend.touch[r.conv] = sent
		}
	}
	o.ConversationID = r.conv
	if t, ok := b.pend.quiet[r.conv]; !ok || sent.After(t) {
		b.pend.quiet[r.conv] = sent
	}
	if !r.attached {
		b.pend.attachMsg = append(b.pend.attachMsg, msgID)
		b.pend.attachConv = append(b.pend.attachConv, r.conv)
	}
	return o, nil
}

// routeOne finds or opens the conversation of a new message that prepare
// did not route (its contact is not plain).
func (b *batch) routeOne(ctx context.Context, e *event.Envelope, c contactRow) (route, error) {
	convID, known := b.convs[convKey{c.ID, e.PhoneNumberID}]
	if !known {
		err := b.tx.QueryRowContext(ctx, sqlOpenConversation, c.ID, e.PhoneNumberID).Scan(&convID)
		if err != nil && err != errNoRows {
			return route{}, fmt.Errorf("find conversation: %w", err)
		}
	}
	if convID != 0 || !e.Message.Opens() {
		return route{conv: convID}, nil
	}
	if err := b.tx.QueryRowContext(ctx, sqlConversationInsert, c.ID, e.PhoneNumberID, e.Message.ID, sentAt(e)).Scan(&convID); err != nil {
		return route{}, fmt.Errorf("open conversation: %w", err)
	}
	return route{conv: convID, opened: true}, nil
}

// flush writes the bookkeeping gathered by applyPrepared.
func (b *batch) flush(ctx context.Context) error {
	if b.pre == nil {
		return nil
	}
	if err := b.flushStatuses(ctx); err != nil {
		return err
	}
	p := &b.pend
	// A message in a conversation the batch opened and has not decided
	// yet: what it starts depends on the assignees the opening picks, so
	// decideOpenings runs it after them, as one by one.
	undecided := make(map[int64]bool, len(b.openings))
	for _, o := range b.openings {
		undecided[o.convID] = true
	}
	wrote := slices.DeleteFunc(slices.Collect(maps.Keys(p.touch)), func(id int64) bool {
		if undecided[id] {
			b.wroteLater = append(b.wroteLater, id)
		}
		return undecided[id]
	})
	if err := b.contactWrote(ctx, wrote); err != nil {
		return err
	}
	if err := b.armQuiet(ctx, p.quiet); err != nil {
		return err
	}
	clear(p.quiet)
	if len(p.attachMsg) == 0 && len(p.touch) == 0 && len(p.inbound) == 0 {
		return nil
	}
	touchIDs, touchAt := latest(p.touch)
	inboundIDs, inboundAt := latest(p.inbound)
	if _, err := b.tx.ExecContext(ctx, sqlBookkeeping, pq.Array(p.attachMsg), pq.Array(p.attachConv),
		pq.Array(touchIDs), texts(touchAt), pq.Array(inboundIDs), texts(inboundAt)); err != nil {
		return fmt.Errorf("bookkeeping: %w", err)
	}
	p.attachMsg, p.attachConv = p.attachMsg[:0], p.attachConv[:0]
	clear(p.touch)
	clear(p.inbound)
	clear(p.contacts)
	return nil
}

// sqlBookkeeping writes the fast path's per-message bookkeeping in one
// round trip: messages attached to their conversation, conversations'
// last message time, contacts' last inbound time (the service window).
const sqlBookkeeping = `WITH attach AS (
		UPDATE messages m SET conversation_id = u.c
		FROM unnest($1::bigint[], $2::bigint[]) AS u(id, c) WHERE m.id = u.id),
	touch AS (
		UPDATE conversations c SET last_message_at = GREATEST(c.last_message_at, u.t::timestamptz)
		FROM unnest($3::bigint[], $4::text[]) AS u(id, t) WHERE c.id = u.id)
	UPDATE contacts c SET last_inbound_at = GREATEST(c.last_inbound_at, u.t::timestamptz)
	FROM unnest($5::bigint[], $6::text[]) AS u(id, t) WHERE c.id = u.id`

// latest lists times by id, in id order.
func latest(m map[int64]time.Time) ([]int64, []string) {
	ids := slices.Sorted(maps.Keys(m))
	ts := make([]string, len(ids))
	for i, id := range ids {
		ts[i] = m[id].UTC().Format(time.RFC3339Nano)
	}
	return ids, ts
}

// statusUpdate is the most advanced new status of one outbound message.
type statusUpdate struct {
	status string
	rank   int
	at     time.Time
	code   sql.NullInt64
	title  string
}

// prepareStatuses stores the batch's statuses (of contacts not blocked)
// with one insert; which of them were new decides what applyStatus does.
func (b *batch) prepareStatuses(ctx context.Context, events []event.Envelope) error {
	var (
		idx                    []*event.Envelope
		wamids, sts, ats, rcvd []string
		titles                 []string
		raws                   []sql.NullString
		ranks                  []int64
		codes                  []sql.NullInt64
	)
	for i := range events {
		e := &events[i]
		if e.Kind != event.KindStatus || !bulkContact(e) || b.looked[event.Contact{WaID: e.Contact.WaID, UserID: e.Contact.UserID}].Blocked {
			continue
		}
		st := e.Status
		at := st.Time()
		if at.IsZero() {
			at = e.OccurredAt
		}
		code := sql.NullInt64{}
		title := ""
		if len(st.Errors) > 0 {
			code, title = sql.NullInt64{Int64: int64(st.Errors[0].Code), Valid: true}, st.Errors[0].Title
		}
		raw := sql.NullString{}
		if v, ok := nullJSON(st.Raw).(string); ok {
			raw = sql.NullString{String: v, Valid: true}
		}
		idx = append(idx, e)
		wamids, sts, ranks = append(wamids, st.ID), append(sts, st.Status), append(ranks, int64(st.Rank()))
		ats, rcvd = append(ats, at.UTC().Format(time.RFC3339Nano)), append(rcvd, e.ReceivedAt.UTC().Format(time.RFC3339Nano))
		codes, titles, raws = append(codes, code), append(titles, title), append(raws, raw)
	}
	b.preStatus = map[*event.Envelope]bool{}
	b.pend.statuses = map[string]statusUpdate{}
	if len(idx) == 0 {
		return nil
	}
	rows, err := b.tx.QueryContext(ctx, `INSERT INTO statuses (wamid, status, rank, occurred_at, received_at, error_code, error_title, raw)
		SELECT w, s, r, a::timestamptz, rc::timestamptz, c, t, j::jsonb
		FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[])
			WITH ORDINALITY AS u(w, s, r, a, rc, c, t, j, n)
		ORDER BY n
		ON CONFLICT DO NOTHING RETURNING wamid, status`,
		texts(wamids), texts(sts), pq.Array(ranks), texts(ats), texts(rcvd), nullInt64s(codes), texts(titles), nullTexts(raws))
	if err != nil {
		return fmt.Errorf("statuses: %w", err)
	}
	fresh := map[[2]string]bool{}
	for rows.Next() {
		var w, st string
		if err := rows.Scan(&w, &st); err != nil {
			rows.Close()
			return err
		}
		fresh[[2]string{w, st}] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, e := range idx {
		k := [2]string{e.Status.ID, e.Status.Status}
		b.preStatus[e] = fresh[k]
		if !fresh[k] {
			continue
		}
		delete(fresh, k) // a copy later in the batch is a duplicate
		at, _ := time.Parse(time.RFC3339Nano, ats[i])
		if cur, ok := b.pend.statuses[e.Status.ID]; !ok || int(ranks[i]) > cur.rank {
			b.pend.statuses[e.Status.ID] = statusUpdate{status: sts[i], rank: int(ranks[i]), at: at, code: codes[i], title: titles[i]}
		}
	}
	return nil
}

// flushStatuses moves outbound messages forward to their most advanced new
// status (never backward: the rank decides).
func (b *batch) flushStatuses(ctx context.Context) error {
	if len(b.pend.statuses) == 0 {
		return nil
	}
	var w, st, at, title []string
	var rank []int64
	var code []sql.NullInt64
	for id, u := range b.pend.statuses {
		w, st, rank, at = append(w, id), append(st, u.status), append(rank, int64(u.rank)), append(at, u.at.UTC().Format(time.RFC3339Nano))
		code, title = append(code, u.code), append(title, u.title)
	}
	rows, err := b.tx.QueryContext(ctx, sqlStatusesApply,
		texts(w), texts(st), pq.Array(rank), texts(at), nullInt64s(code), texts(title))
	if err != nil {
		return fmt.Errorf("apply statuses: %w", err)
	}
	moved := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		moved[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range w {
		if !moved[id] { // perhaps its send's report is being applied now (send.go)
			b.settle = append(b.settle, id)
		}
	}
	clear(b.pend.statuses)
	return nil
}

const sqlStatusesApply = `UPDATE messages m SET status = u.s, status_rank = u.r, status_at = u.a::timestamptz,
		error_code = COALESCE(u.c, m.error_code), error_title = CASE WHEN u.t <> '' THEN u.t ELSE m.error_title END
	FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[]) AS u(w, s, r, a, c, t)
	WHERE m.wamid = u.w AND m.direction IN ('out', 'out_other') AND m.status_rank < u.r
	RETURNING m.wamid`
