package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// Store is the Postgres store shared by the consumer, the relay and the API.
type Store struct {
	db    *sqlx.DB
	rules Rules
}

// NewStore wraps an open connection pool.
func NewStore(conn *sqlx.DB) *Store { return &Store{db: conn, rules: Rules{}.withDefaults()} }

// Ping reports whether Postgres answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Outcome is what applying one event did.
type Outcome struct {
	EventID        string
	Duplicate      bool  // seen before: nothing changed
	Held           bool  // contact is blocked: kept in held_events
	ConversationID int64 // conversation the event touched, if any
	Opened         bool  // the event opened a conversation
}

// EventError says which event of a batch failed for a reason that
// retrying will not fix (a poison event). The whole transaction was rolled
// back; the caller removes the event and applies the rest again.
type EventError struct {
	Index int
	Err   error
}

func (e *EventError) Error() string { return fmt.Sprintf("event %d: %v", e.Index, e.Err) }
func (e *EventError) Unwrap() error { return e.Err }

// PoisonIndex is how the consumer recognises a poison event without
// importing this package.
func (e *EventError) PoisonIndex() int { return e.Index }

// ErrUnknownCommand is returned for a command type the store does not know.
var ErrUnknownCommand = event.ErrUnknownCommand

// batch carries what one transaction learned, so that one batch does not
// look the same contact or inbox up twice.
type batch struct {
	// set by prepare (the fast path): message id per prepared event (0: a
	// duplicate), open conversation per contact and inbox (0: none), and
	// bookkeeping not yet written
	pre      map[*event.Envelope]int64
	convs    map[convKey]int64
	pend     pending
	openings []opening // decided by decideOpenings
	// statuses stored by prepare: whether each was new
	preStatus map[*event.Envelope]bool

	// inbox settings and locked teams read by this transaction
	settings map[string]assigner.Inbox
	teams    map[int64]assigner.TeamState

	tx       *sqlx.Tx
	rules    Rules
	now      time.Time
	contacts map[string]contactRow        // contacts of messages and commands, by key
	looked   map[event.Contact]contactRow // contacts of statuses and notices (lookup.go)
	inboxes  map[string]bool

	settle     []string                  // wamids whose statuses are settled at the end (send.go)
	refused    map[*event.Envelope]error // commands stored as failed (refuse.go)
	savepoints int                       // savepoints taken, for their names
}

type contactRow struct {
	ID      int64
	Blocked bool
	Fresh   bool // created by this transaction: no owners yet
}

// Apply applies events in order in one transaction. Transient failures
// (connection, deadlock) come back as they are, to be retried; a failure of
// one event that retrying cannot fix comes back as *EventError.
func (s *Store) Apply(ctx context.Context, events []event.Envelope, now time.Time) error {
	_, err := s.ApplyOutcomes(ctx, events, now)
	return err
}

// ApplyOutcomes is Apply that also says what each event did.
func (s *Store) ApplyOutcomes(ctx context.Context, events []event.Envelope, now time.Time) ([]Outcome, error) {
	return s.applyOutcomes(ctx, events, now, false)
}

// applyOutcomes applies the batch; when a command is refused, the batch is
// applied again with its failure stored, and its other commands each in a
// savepoint (refuse.go).
func (s *Store) applyOutcomes(ctx context.Context, events []event.Envelope, now time.Time, slow bool) ([]Outcome, error) {
	refused := map[int]error{}
	for {
		out, err := s.applyBatch(ctx, events, now, slow, refused)
		var r *refusal
		if !errors.As(err, &r) {
			return out, err
		}
		if _, again := refused[r.index]; again { // not even its failure can be stored
			return nil, &EventError{Index: r.index, Err: r.err}
		}
		refused[r.index] = r.err
	}
}

// applyBatch applies the batch in one transaction, with the bulk fast path
// for messages unless slow is set.
func (s *Store) applyBatch(ctx context.Context, events []event.Envelope, now time.Time, slow bool, refused map[int]error) ([]Outcome, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	b := &batch{tx: tx, rules: s.rules, now: now, contacts: map[string]contactRow{}, inboxes: map[string]bool{},
		looked: map[event.Contact]contactRow{}, refused: map[*event.Envelope]error{}}
	for i, err := range refused {
		b.refused[&events[i]] = err
	}
	guarded := len(refused) > 0 // a batch with a refused command: one by one, commands in savepoints
	if !slow && !guarded && bulkable(events) {
		if err := b.prepare(ctx, events); err != nil {
			if retryable(err) {
				return nil, err
			}
			// Which event is at fault? The one-by-one path says.
			tx.Rollback()
			return s.applyBatch(ctx, events, now, true, refused)
		}
	}
	out := make([]Outcome, len(events))
	for i := range events {
		apply := b.apply
		if guarded && events[i].Kind == event.KindCommand {
			apply = func(ctx context.Context, e *event.Envelope) (Outcome, error) {
				return b.applyGuarded(ctx, e, i, refused)
			}
		}
		o, err := apply(ctx, &events[i])
		if err == nil && i == len(events)-1 {
			if err = b.decideOpenings(ctx); err == nil {
				err = b.flush(ctx)
			}
		}
		if err != nil {
			if retryable(err) {
				return nil, err
			}
			if !slow && b.pre != nil {
				tx.Rollback()
				return s.applyBatch(ctx, events, now, true, refused)
			}
			if events[i].Kind == event.KindCommand {
				return nil, &refusal{index: i, err: err}
			}
			return nil, &EventError{Index: i, Err: err}
		}
		o.EventID = events[i].ID
		out[i] = o
	}
	if err := b.settleStatuses(ctx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

func (b *batch) apply(ctx context.Context, e *event.Envelope) (Outcome, error) {
	if cause, ok := b.refused[e]; ok {
		return b.refuse(ctx, e, cause)
	}
	if e.Version > event.Version {
		return Outcome{}, fmt.Errorf("%w: envelope version %d is newer than this consumer understands (%d)", errBadEvent, e.Version, event.Version)
	}
	var c contactRow
	var err error
	switch {
	case e.ContactKey != "": // a command
		c, err = b.contactByKey(ctx, e.ContactKey)
	case e.Contact.Key() == "":
	case e.Kind == event.KindMessage: // from the contact: creates and links
		c, err = b.contact(ctx, e.Contact)
	default: // a status or a notice: looks up only
		c, err = b.lookupContact(ctx, e.Contact)
	}
	if err == nil && e.Kind == event.KindMessage && !c.Blocked {
		if _, _, _, _, change := identityChange(e.Message); change {
			c, err = b.changeIdentity(ctx, e, c)
		}
	}
	if err != nil {
		return Outcome{}, err
	}
	if c.Blocked && !(e.Kind == event.KindCommand && e.Command != nil && e.Command.Type == event.CmdRelease) {
		return b.hold(ctx, e, c)
	}
	if id, ok := b.pre[e]; ok {
		return b.applyPrepared(ctx, e, c, id)
	}
	if fresh, ok := b.preStatus[e]; ok {
		return Outcome{Duplicate: !fresh}, nil // stored by prepare; applied by flush
	}
	if b.pre != nil && e.Kind == event.KindCommand && c.ID != 0 && b.pend.contacts[c.ID] {
		// A command may read what the fast path has not written yet for its
		// contact (an opening's assignment, the service window, the
		// conversation's messages) and may resolve or open conversations.
		// Other contacts' commands and statuses and notices touch neither.
		// Deciding locks the teams until commit: only when this contact's
		// own opening is waiting.
		if slices.ContainsFunc(b.openings, func(o opening) bool { return o.c.ID == c.ID }) {
			if err := b.decideOpenings(ctx); err != nil {
				return Outcome{}, err
			}
		}
		if err := b.flush(ctx); err != nil {
			return Outcome{}, err
		}
		for k := range b.convs {
			if k.contact == c.ID {
				delete(b.convs, k)
			}
		}
	}
	switch e.Kind {
	case event.KindMessage:
		if e.Message == nil {
			return Outcome{}, fmt.Errorf("%w: message event without a message", errBadEvent)
		}
		if c.ID == 0 {
			return Outcome{}, fmt.Errorf("%w: message event without a contact", errBadEvent)
		}
		return b.applyMessage(ctx, e, c)
	case event.KindStatus:
		if e.Status == nil {
			return Outcome{}, fmt.Errorf("%w: status event without a status", errBadEvent)
		}
		return b.applyStatus(ctx, e)
	case event.KindNotice:
		return b.applyNotice(ctx, e)
	case event.KindCommand:
		if e.Command == nil {
			return Outcome{}, fmt.Errorf("%w: command event without a command", errBadEvent)
		}
		return b.applyCommand(ctx, e, c)
	default:
		return Outcome{}, fmt.Errorf("%w: unknown event kind %q", errBadEvent, e.Kind)
	}
}

const (
	sqlInboxKnown  = `SELECT display_phone_number, waba_id FROM inboxes WHERE phone_number_id = $1`
	sqlInboxInsert = `INSERT INTO inboxes (phone_number_id, display_phone_number, waba_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`
	sqlInboxUpdate = `UPDATE inboxes SET display_phone_number = $2, waba_id = $3, updated_at = now()
		WHERE phone_number_id = $1 AND (display_phone_number <> $2 OR waba_id <> $3)`
)

// inbox records a business number the first time it is seen. It reads
// before it writes: an upsert would lock the inbox row until commit and
// serialise every consumer transaction of that number.
func (b *batch) inbox(ctx context.Context, e *event.Envelope) error {
	if e.PhoneNumberID == "" || b.inboxes[e.PhoneNumberID] {
		return nil
	}
	var display, waba string
	err := b.tx.QueryRowContext(ctx, sqlInboxKnown, e.PhoneNumberID).Scan(&display, &waba)
	switch {
	case errors.Is(err, errNoRows):
		_, err = b.tx.ExecContext(ctx, sqlInboxInsert, e.PhoneNumberID, e.DisplayPhoneNumber, e.WABAID)
	case err == nil && e.DisplayPhoneNumber != "" && (display != e.DisplayPhoneNumber || waba != e.WABAID):
		_, err = b.tx.ExecContext(ctx, sqlInboxUpdate, e.PhoneNumberID, e.DisplayPhoneNumber, e.WABAID)
	}
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	b.inboxes[e.PhoneNumberID] = true
	return nil
}

const (
	sqlMessageInsert = `INSERT INTO messages
		(wamid, direction, contact_id, inbox, type, body, context_wamid, sent_at, received_at, raw)
		VALUES ($1, 'in', $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (wamid) DO NOTHING RETURNING id`
	sqlOpenConversation = `SELECT id FROM conversations
		WHERE contact_id = $1 AND inbox = $2 AND status = 'open' FOR UPDATE`
	sqlConversationInsert = `INSERT INTO conversations (contact_id, inbox, opened_by, opened_at, last_message_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING id`
	sqlMessageAttach     = `UPDATE messages SET conversation_id = $2 WHERE id = $1`
	sqlConversationTouch = `UPDATE conversations SET last_message_at = GREATEST(last_message_at, $2) WHERE id = $1`
	sqlContactInbound    = `UPDATE contacts SET last_inbound_at = GREATEST(last_inbound_at, $2) WHERE id = $1`
)

func (b *batch) applyMessage(ctx context.Context, e *event.Envelope, c contactRow) (Outcome, error) {
	m := e.Message
	if err := b.inbox(ctx, e); err != nil {
		return Outcome{}, err
	}
	sentAt := m.Time()
	if sentAt.IsZero() {
		sentAt = e.OccurredAt
	}
	var msgID int64
	err := b.tx.QueryRowContext(ctx, sqlMessageInsert, m.ID, c.ID, e.PhoneNumberID, m.Type,
		m.Body(), m.ContextID(), sentAt, e.ReceivedAt, nullJSON(m.Raw)).Scan(&msgID)
	if errors.Is(err, errNoRows) {
		return Outcome{Duplicate: true}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("message: %w", err)
	}
	if _, err := b.tx.ExecContext(ctx, sqlContactInbound, c.ID, sentAt); err != nil {
		return Outcome{}, fmt.Errorf("contact window: %w", err)
	}
	var o Outcome
	err = b.tx.QueryRowContext(ctx, sqlOpenConversation, c.ID, e.PhoneNumberID).Scan(&o.ConversationID)
	switch {
	case errors.Is(err, errNoRows) && m.Opens():
		if err := b.tx.QueryRowContext(ctx, sqlConversationInsert, c.ID, e.PhoneNumberID, m.ID, sentAt).Scan(&o.ConversationID); err != nil {
			return Outcome{}, fmt.Errorf("open conversation: %w", err)
		}
		o.Opened = true
	case errors.Is(err, errNoRows):
		return o, nil // not conversational and nothing open: kept on the contact only
	case err != nil:
		return Outcome{}, fmt.Errorf("find conversation: %w", err)
	default:
		if _, err := b.tx.ExecContext(ctx, sqlConversationTouch, o.ConversationID, sentAt); err != nil {
			return Outcome{}, err
		}
	}
	if _, err := b.tx.ExecContext(ctx, sqlMessageAttach, msgID, o.ConversationID); err != nil {
		return Outcome{}, err
	}
	if o.Opened {
		if err := b.conversationOpened(ctx, e, c, o.ConversationID); err != nil {
			return Outcome{}, err
		}
	}
	return o, nil
}

const (
	sqlStatusInsert = `INSERT INTO statuses (wamid, status, rank, occurred_at, received_at, error_code, error_title, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`
	// A status moves a message forward only: a late "delivered" never
	// overwrites "read", and "failed" is terminal.
	sqlStatusApply = `UPDATE messages SET status = $2, status_rank = $3, status_at = $4,
		error_code = COALESCE($5, error_code), error_title = CASE WHEN $6 <> '' THEN $6 ELSE error_title END
		WHERE wamid = $1 AND direction = 'out' AND status_rank < $3`
)

func (b *batch) applyStatus(ctx context.Context, e *event.Envelope) (Outcome, error) {
	st := e.Status
	at := st.Time()
	if at.IsZero() {
		at = e.OccurredAt
	}
	var code *int
	var title string
	if len(st.Errors) > 0 {
		c := st.Errors[0].Code
		code, title = &c, st.Errors[0].Title
	}
	res, err := b.tx.ExecContext(ctx, sqlStatusInsert, st.ID, st.Status, st.Rank(), at, e.ReceivedAt, code, title, nullJSON(st.Raw))
	if err != nil {
		return Outcome{}, fmt.Errorf("status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Outcome{Duplicate: true}, nil
	}
	res, err = b.tx.ExecContext(ctx, sqlStatusApply, st.ID, st.Status, st.Rank(), at, code, title)
	if err != nil {
		return Outcome{}, fmt.Errorf("apply status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 { // perhaps its send's report is being applied now
		b.settle = append(b.settle, st.ID)
	}
	return Outcome{}, nil
}

const sqlNoticeInsert = `INSERT INTO notices (event_id, field, waba_id, phone_number_id, received_at, raw)
	VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`

func (b *batch) applyNotice(ctx context.Context, e *event.Envelope) (Outcome, error) {
	res, err := b.tx.ExecContext(ctx, sqlNoticeInsert, e.ID, e.Field, e.WABAID, e.PhoneNumberID, e.ReceivedAt, nullJSON(e.Raw))
	if err != nil {
		return Outcome{}, fmt.Errorf("notice: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Outcome{Duplicate: true}, nil
	}
	return Outcome{}, nil
}

const sqlProcessed = `INSERT INTO processed_events (event_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING`

// firstTime records an event id and reports whether it was new.
func (b *batch) firstTime(ctx context.Context, e *event.Envelope) (bool, error) {
	res, err := b.tx.ExecContext(ctx, sqlProcessed, e.ID, string(e.Kind))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 || !json.Valid(raw) {
		return nil
	}
	return string(raw)
}
