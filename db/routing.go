package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// Conversation Routing webhooks in the apply engine (DESIGN §6 rule 14):
// a handover moves the contact's thread owner (and, passed to wagw, opens
// a conversation by the usual rules when none is open); the standby
// field's messages and echoes are kept in the history while another
// responder owns the thread, and start nothing: no conversation, no
// welcome, no assignment, no timer.

const (
	sqlEchoInsert = `INSERT INTO messages
		(wamid, direction, contact_id, inbox, type, body, context_wamid, sent_at, received_at, status, status_rank, status_at, raw)
		VALUES ($1, 'out_other', $2, $3, $4, $5, $6, $7, $8, 'sent', $9, $7, $10)
		ON CONFLICT (wamid) DO NOTHING RETURNING id`
	sqlOpenConversationOf = `SELECT id FROM conversations WHERE contact_id = $1 AND inbox = $2 AND status = 'open'`
	// The contact's standby history of the last day joins the conversation
	// a handover opens.
	sqlAdoptStandby = `UPDATE messages SET conversation_id = $3 WHERE contact_id = $1 AND inbox = $2
		AND conversation_id IS NULL AND direction IN ('in', 'out_other') AND sent_at > $4::timestamptz - interval '24 hours'`
)

// routingEvent reports whether e is a Conversation Routing event: the
// bulk path leaves batches holding one to the one-by-one path.
func routingEvent(e *event.Envelope) bool {
	return e.Kind == event.KindHandover || e.Kind == event.KindEcho ||
		(e.Kind == event.KindMessage && e.Field == whatsapp.FieldStandby)
}

func (b *batch) threadOwner(ctx context.Context, contactID int64) (assigner.ThreadOwner, error) {
	var o assigner.ThreadOwner
	var since sql.NullTime
	err := b.tx.QueryRowContext(ctx, sqlThreadOwner, contactID).Scan(&o.Owner, &o.Role, &since)
	if err != nil {
		return o, fmt.Errorf("thread owner: %w", err)
	}
	o.Since = since.Time
	return o, nil
}

// routingChange applies a routing change to the contact's thread owner
// and returns the owner before it.
func (b *batch) routingChange(ctx context.Context, contactID int64, ch assigner.RoutingChange) (assigner.ThreadOwner, error) {
	cur, err := b.threadOwner(ctx, contactID)
	if err != nil {
		return cur, err
	}
	if next := assigner.ThreadOwnerAfter(cur, ch); next.Owner != cur.Owner || next.Role != cur.Role {
		if _, err := b.tx.ExecContext(ctx, sqlThreadOwnerSet, contactID, string(next.Owner), next.Role, nullTime(next.Since)); err != nil {
			return cur, fmt.Errorf("thread owner: %w", err)
		}
	}
	return cur, nil
}

// openConversationOf is the contact's open conversation in the inbox, 0
// when none is open.
func (b *batch) openConversationOf(ctx context.Context, contactID int64, inbox string) (int64, error) {
	var id int64
	err := b.tx.QueryRowContext(ctx, sqlOpenConversationOf, contactID, inbox).Scan(&id)
	if errors.Is(err, errNoRows) {
		return 0, nil
	}
	return id, err
}

// keepStandby attaches a stored standby message or echo to the contact's
// open conversation, if any. It opens nothing, assigns no one and arms no
// reply deadline; like any message it moves the conversation's
// auto-resolve deadline, so an exchange between the contact and another
// responder does not get the conversation resolved under it.
func (b *batch) keepStandby(ctx context.Context, e *event.Envelope, c contactRow, msgID int64, at time.Time) (Outcome, error) {
	if _, err := b.routingChange(ctx, c.ID, assigner.RoutingChange{At: at, Observed: true}); err != nil {
		return Outcome{}, err
	}
	convID, err := b.openConversationOf(ctx, c.ID, e.PhoneNumberID)
	if err != nil || convID == 0 {
		return Outcome{}, err
	}
	if _, err := b.tx.ExecContext(ctx, sqlMessageAttach, msgID, convID); err != nil {
		return Outcome{}, err
	}
	if _, err := b.tx.ExecContext(ctx, sqlConversationTouch, convID, at); err != nil {
		return Outcome{}, err
	}
	if err := b.armQuiet(ctx, map[int64]time.Time{convID: at}); err != nil {
		return Outcome{}, err
	}
	return Outcome{ConversationID: convID}, nil
}

// applyStandbyMessage stores a user's message that Meta delivered on the
// standby field: another responder owns the thread.
func (b *batch) applyStandbyMessage(ctx context.Context, e *event.Envelope, c contactRow) (Outcome, error) {
	msgID, sentAt, err := b.storeInbound(ctx, e, c)
	if msgID == 0 || err != nil {
		return Outcome{Duplicate: err == nil}, err
	}
	return b.keepStandby(ctx, e, c, msgID, sentAt)
}

// applyEcho stores a message another responder sent to the contact
// (direction out_other); its statuses then update it like wagw's own.
func (b *batch) applyEcho(ctx context.Context, e *event.Envelope, c contactRow) (Outcome, error) {
	m := e.Message
	if m == nil || c.ID == 0 {
		return Outcome{}, fmt.Errorf("%w: echo event without a message or a contact", errBadEvent)
	}
	if err := b.inbox(ctx, e); err != nil {
		return Outcome{}, err
	}
	sentAt := m.Time()
	if sentAt.IsZero() {
		sentAt = e.OccurredAt
	}
	sent := whatsapp.Status{Status: "sent"}
	var wamid any // an echo without a wamid is stored without one
	if m.ID != "" {
		wamid = m.ID
	} else if first, err := b.firstTime(ctx, e); err != nil || !first {
		// No wamid to conflict on: its event id says whether it is new.
		return Outcome{Duplicate: err == nil}, err
	}
	var msgID int64
	err := b.tx.QueryRowContext(ctx, sqlEchoInsert, wamid, c.ID, e.PhoneNumberID, m.Type,
		m.Body(), m.ContextID(), sentAt, e.ReceivedAt, sent.Rank(), nullJSON(m.Raw)).Scan(&msgID)
	if errors.Is(err, errNoRows) {
		return Outcome{Duplicate: true}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("echo: %w", err)
	}
	if m.ID != "" {
		// Its statuses may have come first (another POST): they settle on
		// it at the end of the batch, as on a send's report (send.go).
		b.settle = append(b.settle, m.ID)
	}
	return b.keepStandby(ctx, e, c, msgID, sentAt)
}

// applyHandover applies a messaging_handovers notification: the thread
// owner, and the decision log of the contact's open conversation; control
// passed to wagw with none open opens one, assigned by the usual rules.
func (b *batch) applyHandover(ctx context.Context, e *event.Envelope, c contactRow) (Outcome, error) {
	h := e.Handover
	if h == nil {
		return Outcome{}, fmt.Errorf("%w: handover event without a handover", errBadEvent)
	}
	if c.ID == 0 { // names no user: kept as a notice
		raw, _ := json.Marshal(h)
		e.Raw = raw
		return b.applyNotice(ctx, e)
	}
	if err := b.inbox(ctx, e); err != nil {
		return Outcome{}, err
	}
	if first, err := b.firstTime(ctx, e); err != nil || !first {
		return Outcome{Duplicate: !first}, err
	}
	ch := assigner.RoutingChange{ToWagw: h.Type == whatsapp.ControlPassed, By: h.By(), At: e.OccurredAt}
	if _, err := b.routingChange(ctx, c.ID, ch); err != nil {
		return Outcome{}, err
	}
	convID, err := b.openConversationOf(ctx, c.ID, e.PhoneNumberID)
	switch {
	case err != nil:
		return Outcome{}, err
	case convID == 0 && ch.ToWagw:
		return b.openOnHandover(ctx, e, c, ch)
	case convID == 0:
		return Outcome{}, nil
	case ch.ToWagw:
		return Outcome{ConversationID: convID}, b.handedBack(ctx, e, convID, ch)
	}
	conv, err := b.lockConversation(ctx, convID)
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{ConversationID: convID}, b.persist(ctx, e.ID, conv, assigner.DecideControlTaken(conv.Conversation, h.By(), b.now))
}

// handedBack decides an open conversation whose contact's thread came
// back to wagw (ch: a handover, or a message delivered on the messages
// field) and arms again what control_taken cancelled: the no-reply
// deadline (decided by assigner.DecideHandedOver), the away deadline of a
// strategy pick who is not online (as a contact's message does), and the
// auto-resolve deadline from the event's time.
func (b *batch) handedBack(ctx context.Context, e *event.Envelope, convID int64, ch assigner.RoutingChange) error {
	conv, err := b.lockConversation(ctx, convID)
	if err != nil {
		return err
	}
	teams, err := b.lockTeams(ctx, conv.TeamID)
	if err != nil {
		return err
	}
	in := assigner.HandedOverInput{Now: b.now, Conversation: conv.Conversation, Change: ch}
	if conv.TeamID != nil {
		if ts, ok := teams[*conv.TeamID]; ok {
			in.Team = &ts.Team
		}
	}
	if err := b.persist(ctx, e.ID, conv, assigner.DecideHandedOver(in)); err != nil {
		return err
	}
	if err := b.armAway(ctx, []int64{convID}); err != nil {
		return err
	}
	return b.armQuiet(ctx, map[int64]time.Time{convID: e.OccurredAt})
}

// openOnHandover opens a conversation because control passed to wagw,
// with the contact's recent standby history, and decides it by the
// usual opening rules (the first-response SLA, and the no-reply deadline
// of a strategy's pick, included); its auto-resolve deadline counts from
// the handover, as from an opening message.
func (b *batch) openOnHandover(ctx context.Context, e *event.Envelope, c contactRow, ch assigner.RoutingChange) (Outcome, error) {
	o := Outcome{Opened: true}
	if err := b.tx.QueryRowContext(ctx, sqlConversationInsert, c.ID, e.PhoneNumberID, e.ID, e.OccurredAt).Scan(&o.ConversationID); err != nil {
		return Outcome{}, fmt.Errorf("open conversation: %w", err)
	}
	if _, err := b.tx.ExecContext(ctx, sqlAdoptStandby, c.ID, e.PhoneNumberID, o.ConversationID, e.OccurredAt); err != nil {
		return Outcome{}, fmt.Errorf("standby history: %w", err)
	}
	if err := b.armQuiet(ctx, map[int64]time.Time{o.ConversationID: e.OccurredAt}); err != nil {
		return Outcome{}, err
	}
	return o, b.conversationOpened(ctx, e, c, o.ConversationID, &ch)
}
