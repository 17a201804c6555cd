package db

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// Conversation Routing in the apply engine: the thread owner of each
// contact (contacts.thread_owner), a take queued in the outbox for the
// relay (thread control API), and Meta's answer to it.

const (
	sqlThreadOwnerSet = `UPDATE contacts SET thread_owner = $2, thread_owner_role = $3,
		thread_owner_at = GREATEST(thread_owner_at, $4::timestamptz) WHERE id = $1`
	sqlThreadOwner = `SELECT thread_owner, thread_owner_role, thread_owner_at FROM contacts WHERE id = $1`
	sqlInsertTake  = `INSERT INTO outbox (contact_id, contact_key, conversation_id, message_id, phone_number_id,
		recipient, kind, agent_id, payload) VALUES ($1, $2, $3, $4, $5, $6, 'take', $7, $8)`
	sqlTakeRow = `SELECT o.contact_id, o.conversation_id, o.agent_id FROM outbox o WHERE o.id = $1 AND o.kind = 'take'`
)

// cmdTake queues a take of the contact's thread when another responder
// owns it; when wagw owns it already nothing changes.
func (b *batch) cmdTake(ctx context.Context, cmd event.TakeCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	owner, err := b.threadOwner(ctx, conv.ContactID)
	if err != nil {
		return nil, err
	}
	if !owner.Elsewhere() {
		return assigner.Unchanged{}, nil
	}
	msgID, _, err := b.latestInbound(ctx, conv.ID)
	if err != nil {
		return nil, err
	}
	key, waID, userID, _, err := b.contactIdentity(ctx, conv.ContactID)
	if err != nil {
		return nil, err
	}
	to := firstNonEmpty(waID, userID)
	req := whatsapp.ThreadControlRequest{MessagingProduct: "whatsapp", Recipient: to, Action: whatsapp.ThreadTake,
		Metadata: "taken by " + b.actorName(ctx, cmd.By)}
	payload, _ := json.Marshal(req)
	var agentID *int64
	if cmd.By.AgentID != 0 {
		agentID = &cmd.By.AgentID
	}
	if _, err := b.tx.ExecContext(ctx, sqlInsertTake, conv.ContactID, key, conv.ID, msgID, conv.Inbox, to, agentID, string(payload)); err != nil {
		return nil, err
	}
	return assigner.TakeQueued{ConversationID: conv.ID, ThreadOwner: string(owner.Owner), Status: "pending"}, nil
}

// takeResult applies Meta's answer to a take: accepted, wagw owns the
// thread and the decision log says who took it; refused, nothing changes
// (the outbox row keeps Meta's error).
func (b *batch) takeResult(ctx context.Context, id string, cmd event.SendResultCommand) (assigner.Outcome, error) {
	if cmd.Failed {
		return assigner.Recorded{}, nil
	}
	var contactID int64
	var convID, agentID *int64
	if err := b.tx.QueryRowContext(ctx, sqlTakeRow, cmd.OutboxID).Scan(&contactID, &convID, &agentID); errors.Is(err, errNoRows) {
		return nil, assigner.NotFound("take")
	} else if err != nil {
		return nil, err
	}
	accepted, _ := time.Parse(time.RFC3339Nano, cmd.AcceptedAt) // zero when absent: the time stays
	if _, err := b.tx.ExecContext(ctx, sqlThreadOwnerSet, contactID, string(assigner.ThreadOwnerWagw), "", nullTime(accepted)); err != nil {
		return nil, err
	}
	if convID == nil {
		return assigner.Recorded{}, nil
	}
	conv, err := b.lockConversation(ctx, *convID)
	if err != nil {
		return nil, err
	}
	by := assigner.Actor{}
	if agentID != nil {
		by.AgentID = *agentID
	}
	return assigner.Recorded{}, b.persist(ctx, id, conv, assigner.DecideTaken(conv.Conversation, b.actorName(ctx, by), b.now))
}
