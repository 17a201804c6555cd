package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

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
	if e.Field == whatsapp.FieldStandby {
		return b.applyStandbyMessage(ctx, e, c)
	}
	m := e.Message
	msgID, sentAt, err := b.storeInbound(ctx, e, c)
	if msgID == 0 || err != nil {
		return Outcome{Duplicate: err == nil}, err
	}
	// Under Conversation Routing, Meta delivers a contact's message on the
	// messages field to the thread's owner: wagw owns the thread now.
	delivered := assigner.RoutingChange{ToWagw: true, Delivered: true, At: sentAt, Observed: true}
	prev, err := b.routingChange(ctx, c.ID, delivered)
	if err != nil {
		return Outcome{}, err
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
		if err := b.contactWrote(ctx, []int64{o.ConversationID}); err != nil {
			return Outcome{}, err
		}
	}
	if _, err := b.tx.ExecContext(ctx, sqlMessageAttach, msgID, o.ConversationID); err != nil {
		return Outcome{}, err
	}
	if err := b.armQuiet(ctx, map[int64]time.Time{o.ConversationID: sentAt}); err != nil {
		return Outcome{}, err
	}
	switch {
	case o.Opened && prev.Elsewhere():
		return o, b.conversationOpened(ctx, e, c, o.ConversationID, &delivered)
	case o.Opened:
		return o, b.conversationOpened(ctx, e, c, o.ConversationID, nil)
	case prev.Elsewhere():
		return o, b.handedBack(ctx, e, o.ConversationID, delivered)
	}
	return o, nil
}

// storeInbound stores a message from the contact and moves the contact's
// service window; msgID is 0 for a message stored before.
func (b *batch) storeInbound(ctx context.Context, e *event.Envelope, c contactRow) (msgID int64, sentAt time.Time, err error) {
	m := e.Message
	if err := b.inbox(ctx, e); err != nil {
		return 0, sentAt, err
	}
	sentAt = m.Time()
	if sentAt.IsZero() {
		sentAt = e.OccurredAt
	}
	err = b.tx.QueryRowContext(ctx, sqlMessageInsert, m.ID, c.ID, e.PhoneNumberID, m.Type,
		m.Body(), m.ContextID(), sentAt, e.ReceivedAt, nullJSON(m.Raw)).Scan(&msgID)
	if errors.Is(err, errNoRows) {
		return 0, sentAt, nil
	}
	if err != nil {
		return 0, sentAt, fmt.Errorf("message: %w", err)
	}
	if _, err := b.tx.ExecContext(ctx, sqlContactInbound, c.ID, sentAt); err != nil {
		return 0, sentAt, fmt.Errorf("contact window: %w", err)
	}
	return msgID, sentAt, nil
}
