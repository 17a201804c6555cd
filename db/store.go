package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/event"
)

// Store is the Postgres store shared by the consumer, the relay and the API.
type Store struct {
	db    *sqlx.DB
	rules Rules
	// assignSeconds records assignment latency (Instrument); nil: none.
	assignSeconds Observer
	// slaBreached counts first-response SLA breaches (InstrumentSLA); nil: none.
	slaBreached func(inbox, team string)
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

const (
	// sqlInboxKnown reads a number's row (known: it has one) and, with
	// it, its settings (inboxSettings) and which rules a message may
	// start (messageRules).
	sqlInboxKnown = `SELECT i.phone_number_id IS NOT NULL, COALESCE(i.display_phone_number, ''), COALESCE(i.waba_id, ''), ` +
		sqlInboxJoinedSettings + `, ` + sqlWroteRulesCols + ` FROM (SELECT 1) one LEFT JOIN inboxes i ON i.phone_number_id = $1`
	sqlInboxInsert = `INSERT INTO inboxes (phone_number_id, display_phone_number, waba_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`
	// sqlInboxUpdate skips a row another transaction holds: that one is
	// writing the number's metadata already (another consumer's batch, or
	// the API), and waiting for it would hold this batch until that one
	// commits. A batch that comes after reads the row again.
	sqlInboxUpdate = `UPDATE inboxes SET display_phone_number = $2, waba_id = $3, updated_at = now()
		WHERE phone_number_id = (SELECT phone_number_id FROM inboxes
			WHERE phone_number_id = $1 AND (display_phone_number <> $2 OR waba_id <> $3) FOR UPDATE SKIP LOCKED)`
)

// inbox records a business number the first time it is seen, and the
// metadata its webhooks carry when they change. It reads before it
// writes: an upsert would lock the inbox row until commit and serialise
// every consumer transaction of that number. The check also reads the
// number's settings, which the batch's openings read (inboxSettings), and
// the batch's first check which rules a message may start
// (messageRules): two round trips fewer for a batch that opens
// conversations.
func (b *batch) inbox(ctx context.Context, e *event.Envelope) error {
	if e.PhoneNumberID == "" || b.inboxes[e.PhoneNumberID] {
		return nil
	}
	var known bool
	var display, waba string
	w := &wroteRules{}
	row := &inboxCheckRow{row: b.tx.QueryRowContext(ctx, sqlInboxKnown, e.PhoneNumberID),
		before: []any{&known, &display, &waba}, after: []any{&w.away, &w.snooze, &w.quiet}}
	in, err := scanInbox(row)
	if row.err == nil && err != nil { // settings it cannot decode: inboxSettings says so if they are needed
		err = nil
	} else if err == nil && known {
		b.cacheSettings(in)
	}
	if err == nil && b.wrote == nil {
		b.wrote = w
	}
	switch {
	case err == nil && !known:
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

// inboxCheckRow is sqlInboxKnown's row as scanInbox reads it: the
// columns before and after the settings go to before and after.
type inboxCheckRow struct {
	row           *sql.Row
	before, after []any
	err           error // the row's own Scan's
}

func (r *inboxCheckRow) Scan(dest ...any) error {
	r.err = r.row.Scan(append(append(append([]any{}, r.before...), dest...), r.after...)...)
	return r.err
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

// nullTime is t for a query parameter, NULL when zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func nullJSON(raw json.RawMessage) any {
	if len(raw) == 0 || !json.Valid(raw) {
		return nil
	}
	return string(raw)
}
