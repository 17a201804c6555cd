package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/whatsapp"
)

const sqlMessageWAMID = `SELECT COALESCE(wamid, '') FROM messages WHERE id = $1 AND conversation_id = $2`

// cmdReply stores an agent's message and its outbox row. Free-form
// messages are refused outside the 24-hour customer-service window;
// templates are not.
func (b *batch) cmdReply(ctx context.Context, cmd assigner.ReplyCommand) (result, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return result{}, err
	}
	_, waID, userID, lastInbound, err := b.contactIdentity(ctx, conv.ContactID)
	if err != nil {
		return result{}, err
	}
	msg := whatsapp.OutboundMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: firstNonEmpty(waID, userID)}
	var body string
	switch {
	case cmd.Template != nil:
		msg.Type = "template"
		if err := json.Unmarshal(cmd.Template, &msg.Template); err != nil || msg.Template == nil || msg.Template.Name == "" {
			return fail(http.StatusUnprocessableEntity, "invalid_template", "template needs at least a name and a language"), nil
		}
		body = "template:" + msg.Template.Name
	case cmd.Interactive != nil:
		msg.Type = "interactive"
		if err := json.Unmarshal(cmd.Interactive, &msg.Interactive); err != nil || msg.Interactive == nil {
			return fail(http.StatusUnprocessableEntity, "invalid_interactive", "interactive is not a Cloud API interactive object"), nil
		}
		if msg.Interactive.Body != nil {
			body = msg.Interactive.Body.Text
		}
	default:
		msg.Type, msg.Text, body = "text", &whatsapp.OutboundText{Body: cmd.Text, PreviewURL: cmd.PreviewURL}, cmd.Text
	}
	if msg.Type != "template" {
		if lastInbound == nil || b.now.Sub(*lastInbound) > b.rules.ServiceWindow {
			return fail(http.StatusUnprocessableEntity, "outside_customer_service_window",
				"the contact's last message is older than 24 hours: only a template message can be sent"), nil
		}
	}
	var contextWAMID string
	if cmd.ReplyTo != 0 {
		err := b.tx.QueryRowContext(ctx, sqlMessageWAMID, cmd.ReplyTo, conv.ID).Scan(&contextWAMID)
		if errors.Is(err, errNoRows) || (err == nil && contextWAMID == "") {
			return fail(http.StatusUnprocessableEntity, "unknown_reply_to", "reply_to is not a message of this conversation"), nil
		} else if err != nil {
			return result{}, err
		}
		msg.Context = &whatsapp.OutboundContext{MessageID: contextWAMID}
	}
	var agentID *int64
	if cmd.AgentID != 0 {
		agentID = &cmd.AgentID
	}
	id, _, err := b.queueOutbound(ctx, conv.ContactID, conv.ID, conv.Inbox, "reply", agentID, msg, body, contextWAMID)
	if err != nil {
		return result{}, err
	}
	return result{http.StatusCreated, map[string]any{"message_id": id, "conversation_id": conv.ID, "status": "pending"}}, nil
}

const sqlLatestInbound = `SELECT id, wamid FROM messages WHERE conversation_id = $1 AND direction = 'in' ORDER BY id DESC LIMIT 1`

// cmdMarkRead queues a read receipt for the contact's latest message.
func (b *batch) cmdMarkRead(ctx context.Context, cmd assigner.MarkReadCommand) (result, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return result{}, err
	}
	var msgID int64
	var wamid string
	if err := b.tx.QueryRowContext(ctx, sqlLatestInbound, conv.ID).Scan(&msgID, &wamid); errors.Is(err, errNoRows) {
		return fail(http.StatusUnprocessableEntity, "nothing_to_read", "the conversation has no inbound message"), nil
	} else if err != nil {
		return result{}, err
	}
	key, _, _, _, err := b.contactIdentity(ctx, conv.ContactID)
	if err != nil {
		return result{}, err
	}
	payload, _ := json.Marshal(map[string]any{"message_id": wamid, "typing": cmd.Typing})
	if _, err := b.tx.ExecContext(ctx, `INSERT INTO outbox (contact_id, contact_key, conversation_id, message_id, phone_number_id,
		recipient, kind, payload) VALUES ($1, $2, $3, $4, $5, '', 'read', $6)`, conv.ContactID, key, conv.ID, msgID, conv.Inbox, string(payload)); err != nil {
		return result{}, err
	}
	return result{http.StatusAccepted, map[string]any{"message_id": msgID, "wamid": wamid}}, nil
}

const (
	sqlOutboundAccepted = `UPDATE messages SET wamid = $2, status = 'accepted', status_at = $3 WHERE id = $1 AND direction = 'out'
		RETURNING conversation_id, author_agent_id`
	sqlOutboundFailed = `UPDATE messages SET status = 'failed', status_rank = 100, status_at = $2, error_code = $3, error_title = $4
		WHERE id = $1 AND direction = 'out' RETURNING conversation_id, author_agent_id`
	sqlOwnerIDs = `SELECT agent_id FROM contact_owners WHERE contact_id = $1`
)

// A status may arrive before the relay's report of its send (the command
// that records the wamid on the message): it is kept in statuses, and the
// report applies the most advanced status kept for its wamid. The two may
// also be applied at once, on two partitions (a status naming only the
// wa_id of a contact keyed by its user id): then the status finds no
// message with its wamid and the report does not see the status, not
// committed yet. So both settle at the end of their transaction, under a
// transaction lock on the wamid: the report always, a status when it
// moved no message. Each applies the most advanced status stored for the
// wamid; whichever takes the lock second sees what the first committed.
// Locks are taken last and in one order, so settling adds no deadlock
// between two batches of statuses and reports.
const (
	sqlLockWamids = `SELECT count(pg_advisory_xact_lock(727379, hashtext(w)))
		FROM (SELECT DISTINCT w FROM unnest($1::text[]) AS u(w) ORDER BY w) o`
	sqlSettleStatuses = `UPDATE messages m SET status = s.status, status_rank = s.rank, status_at = s.occurred_at,
			error_code = COALESCE(s.error_code, m.error_code),
			error_title = CASE WHEN s.error_title <> '' THEN s.error_title ELSE m.error_title END
		FROM (SELECT DISTINCT ON (wamid) wamid, status, rank, occurred_at, error_code, error_title
			FROM statuses WHERE wamid = ANY($1) ORDER BY wamid, rank DESC) s
		WHERE m.wamid = s.wamid AND m.direction = 'out' AND m.status_rank < s.rank`
)

// settleStatuses applies, under their locks, the most advanced status
// stored for each wamid the batch reported or gave a status that moved no
// message.
func (b *batch) settleStatuses(ctx context.Context) error {
	if len(b.settle) == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(ctx, sqlLockWamids, pq.Array(b.settle)); err != nil {
		return fmt.Errorf("settle statuses: %w", err)
	}
	if _, err := b.tx.ExecContext(ctx, sqlSettleStatuses, pq.Array(b.settle)); err != nil {
		return fmt.Errorf("settle statuses: %w", err)
	}
	b.settle = b.settle[:0]
	return nil
}

// cmdSendResult applies what the Cloud API answered to one outbound
// message, in the contact's partition order; an accepted agent reply may
// make its author the first responder (rule 5).
func (b *batch) cmdSendResult(ctx context.Context, id string, cmd assigner.SendResultCommand) (result, error) {
	at := b.now
	if t, err := time.Parse(time.RFC3339Nano, cmd.AcceptedAt); err == nil {
		at = t
	}
	var convID, agentID *int64
	var err error
	if cmd.Failed {
		err = b.tx.QueryRowContext(ctx, sqlOutboundFailed, cmd.MessageID, at, cmd.ErrorCode, cmd.ErrorTitle).Scan(&convID, &agentID)
	} else {
		err = b.tx.QueryRowContext(ctx, sqlOutboundAccepted, cmd.MessageID, cmd.WAMID, at).Scan(&convID, &agentID)
		if err == nil {
			b.settle = append(b.settle, cmd.WAMID) // statuses that came first
		}
	}
	if errors.Is(err, errNoRows) {
		return fail(http.StatusNotFound, "not_found", "no such outbound message"), nil
	}
	if err != nil {
		return result{}, fmt.Errorf("send result: %w", err)
	}
	if cmd.Failed || agentID == nil || convID == nil {
		return result{}, nil
	}
	conv, err := b.lockConversation(ctx, *convID)
	if err != nil {
		return result{}, err
	}
	inbox, err := b.inboxSettings(ctx, conv.Inbox)
	if err != nil {
		return result{}, err
	}
	agents, err := b.agents(ctx, []int64{*agentID})
	if err != nil {
		return result{}, err
	}
	var owners []int64
	if err := b.tx.SelectContext(ctx, &owners, sqlOwnerIDs, conv.ContactID); err != nil {
		return result{}, err
	}
	d := assigner.DecideFirstResponder(assigner.FirstResponderInput{Now: at, Inbox: inbox, Conversation: conv.Conversation,
		Agent: agents[*agentID], ContactOwnerIDs: owners})
	if conv.FirstReplyAt != nil { // not the first reply: nothing to record
		return result{}, nil
	}
	return result{}, b.persist(ctx, id, conv, d)
}
