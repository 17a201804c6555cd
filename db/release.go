package db

import (
	"context"
	"fmt"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// savepoint runs fn in a savepoint of the batch's transaction: when fn
// fails, what it wrote is rolled back and the rest of the transaction
// goes on. The batch's caches may hold what was rolled back, so the
// one-by-one path forgets them (the fast path's failures send the whole
// batch to the one-by-one path anyway).
func (b *batch) savepoint(ctx context.Context, fn func() error) error {
	b.savepoints++
	name := fmt.Sprintf("wagw_%d", b.savepoints)
	if _, err := b.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	ferr := fn()
	if ferr != nil {
		if _, err := b.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			return err
		}
		if b.pre == nil {
			b.forget()
		}
	}
	if _, err := b.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return err
	}
	return ferr
}

// forget drops what the batch cached of the database (it is read again
// when needed; advisory team locks are taken again, which is harmless).
func (b *batch) forget() {
	b.forgetContacts()
	b.forgetLookups()
	clear(b.inboxes)
	b.settings, b.teams = nil, nil
}

const (
	sqlUnblock     = `UPDATE contacts SET blocked_at = NULL, blocked_reason = '' WHERE id = $1 RETURNING key`
	sqlHeldOf      = `SELECT id, event_id, envelope FROM held_events WHERE contact_id = $1 AND failed_at IS NULL ORDER BY id`
	sqlHeldDone    = `DELETE FROM held_events WHERE id = $1`
	sqlHeldFailed  = `UPDATE held_events SET failed_at = $2, failed_reason = $3 WHERE id = $1`
	sqlHeldDiscard = `DELETE FROM held_events WHERE contact_id = $1`
)

type heldEvent struct {
	ID       int64  `db:"id"`
	EventID  string `db:"event_id"`
	Envelope []byte `db:"envelope"`
}

// cmdRelease unblocks a contact and replays its held events in order, each
// in a savepoint of its own: one that fails is kept, marked failed with its
// reason (it is not replayed again), and the release goes on. With
// Discard, the contact's held events are deleted instead.
func (b *batch) cmdRelease(ctx context.Context, cmd event.ReleaseCommand) (assigner.Outcome, error) {
	var key string
	if err := b.tx.QueryRowContext(ctx, sqlUnblock, cmd.ContactID).Scan(&key); err != nil {
		if err == errNoRows {
			return nil, assigner.NotFound("contact")
		}
		return nil, err
	}
	b.forgetContacts() // cached rows say blocked
	b.forgetLookups()
	if cmd.Discard {
		res, err := b.tx.ExecContext(ctx, sqlHeldDiscard, cmd.ContactID)
		if err != nil {
			return nil, err
		}
		n, _ := res.RowsAffected()
		return assigner.Discarded{ContactID: cmd.ContactID, DiscardedEvents: n}, nil
	}
	var held []heldEvent
	if err := b.tx.SelectContext(ctx, &held, sqlHeldOf, cmd.ContactID); err != nil {
		return nil, err
	}
	failed := []assigner.FailedEvent{}
	for _, h := range held {
		reason, err := b.replay(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("held event %s: %w", h.EventID, err)
		}
		if reason != "" {
			if _, err := b.tx.ExecContext(ctx, sqlHeldFailed, h.ID, b.now, reason); err != nil {
				return nil, err
			}
			failed = append(failed, assigner.FailedEvent{EventID: h.EventID, Reason: reason})
			continue
		}
		if _, err := b.tx.ExecContext(ctx, sqlHeldDone, h.ID); err != nil {
			return nil, err
		}
	}
	return assigner.Released{ContactID: cmd.ContactID, ReleasedEvents: len(held) - len(failed), FailedEvents: failed}, nil
}

// replay applies one held event in a savepoint. It returns why the event
// failed ("" when it was applied), or an error worth retrying the whole
// batch for. A command that fails is never a failed held event: like any
// command the store refuses, its failure becomes its result.
func (b *batch) replay(ctx context.Context, h heldEvent) (reason string, err error) {
	var e event.Envelope
	if err := event.Decode(h.Envelope, &e); err != nil {
		return "undecodable held event: " + err.Error(), nil
	}
	err = b.savepoint(ctx, func() error {
		_, err := b.apply(ctx, &e)
		return err
	})
	switch {
	case err == nil:
		return "", nil
	case retryable(err):
		return "", err
	case e.Kind == event.KindCommand:
		refused := err
		err = b.savepoint(ctx, func() error {
			_, rerr := b.refuse(ctx, &e, refused)
			return rerr
		})
		if err == nil || retryable(err) {
			return "", err
		}
	}
	return err.Error(), nil
}
