package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

const (
	sqlMessageWAMID = `SELECT COALESCE(wamid, '') FROM messages WHERE id = $1 AND conversation_id = $2`
)

// cmdReply stores an agent's message and its outbox row, when the reply
// rules allow it (assigner.DecideReply: free-form messages only inside the
// customer-service window and while wagw owns the contact's thread,
// templates any time).
func (b *batch) cmdReply(ctx context.Context, cmd event.ReplyCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	to, lastInbound, thread, err := b.recipient(ctx, conv.ContactID)
	if err != nil {
		return nil, err
	}
	msg := whatsapp.OutboundMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to}
	in, body := replyMessage(cmd, &msg)
	in.Now, in.LastInboundAt, in.ServiceWindow, in.Thread = b.now, lastInbound, b.rules.ServiceWindow, thread
	if err := assigner.DecideReply(in); err != nil {
		return nil, err
	}
	var contextWAMID string
	if cmd.ReplyTo != 0 {
		err := b.tx.QueryRowContext(ctx, sqlMessageWAMID, cmd.ReplyTo, conv.ID).Scan(&contextWAMID)
		if errors.Is(err, errNoRows) || (err == nil && contextWAMID == "") {
			return nil, assigner.NewError(assigner.ErrCodeUnknownReplyTo, "reply_to is not a message of this conversation")
		} else if err != nil {
			return nil, err
		}
		msg.Context = &whatsapp.OutboundContext{MessageID: contextWAMID}
	}
	var agentID *int64
	if cmd.AgentID != 0 {
		agentID = &cmd.AgentID
	}
	id, _, err := b.queueOutbound(ctx, conv.ContactID, conv.ID, conv.Inbox, "reply", agentID, msg, body, contextWAMID)
	if err != nil {
		return nil, err
	}
	return assigner.ReplyQueued{MessageID: id, ConversationID: conv.ID, Status: "pending"}, nil
}

// recipient reads what sending a free-form message to a contact depends
// on: the address (wa_id, else the business-scoped user id), when the
// contact last wrote (the service window) and who owns their thread.
func (b *batch) recipient(ctx context.Context, contactID int64) (to string, lastInbound *time.Time, thread assigner.ThreadOwner, err error) {
	_, waID, userID, lastInbound, err := b.contactIdentity(ctx, contactID)
	if err != nil {
		return "", nil, thread, err
	}
	if thread, err = b.threadOwner(ctx, contactID); err != nil {
		return "", nil, thread, err
	}
	return firstNonEmpty(waID, userID), lastInbound, thread, nil
}

// replyMessage fills msg with the reply's text, template or interactive
// object, and returns what the reply rules look at and the text stored as
// the message's body.
func replyMessage(cmd event.ReplyCommand, msg *whatsapp.OutboundMessage) (in assigner.ReplyInput, body string) {
	switch {
	case cmd.Template != nil:
		msg.Type, in.Type = "template", assigner.ReplyTemplate
		if err := json.Unmarshal(cmd.Template, &msg.Template); err != nil || msg.Template == nil {
			in.Malformed = true
			return in, ""
		}
		in.TemplateName = msg.Template.Name
		return in, "template:" + msg.Template.Name
	case cmd.Interactive != nil:
		msg.Type, in.Type = "interactive", assigner.ReplyInteractive
		if err := json.Unmarshal(cmd.Interactive, &msg.Interactive); err != nil || msg.Interactive == nil {
			in.Malformed = true
			return in, ""
		}
		if msg.Interactive.Body != nil {
			body = msg.Interactive.Body.Text
		}
		return in, body
	}
	msg.Type, in.Type = "text", assigner.ReplyText
	msg.Text = &whatsapp.OutboundText{Body: cmd.Text, PreviewURL: cmd.PreviewURL}
	return in, cmd.Text
}

const sqlLatestInbound = `SELECT id, wamid FROM messages WHERE conversation_id = $1 AND direction = 'in' ORDER BY id DESC LIMIT 1`

// latestInbound is the id and wamid of the conversation's latest inbound
// message; ErrCodeNothingToRead when it has none.
func (b *batch) latestInbound(ctx context.Context, convID int64) (int64, string, error) {
	var msgID int64
	var wamid string
	err := b.tx.QueryRowContext(ctx, sqlLatestInbound, convID).Scan(&msgID, &wamid)
	if errors.Is(err, errNoRows) {
		return 0, "", assigner.NewError(assigner.ErrCodeNothingToRead, "the conversation has no inbound message")
	}
	return msgID, wamid, err
}

// cmdMarkRead queues a read receipt for the contact's latest message.
func (b *batch) cmdMarkRead(ctx context.Context, cmd event.MarkReadCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	msgID, wamid, err := b.latestInbound(ctx, conv.ID)
	if err != nil {
		return nil, err
	}
	key, _, _, _, err := b.contactIdentity(ctx, conv.ContactID)
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(map[string]any{"message_id": wamid, "typing": cmd.Typing})
	if _, err := b.tx.ExecContext(ctx, `INSERT INTO outbox (contact_id, contact_key, conversation_id, message_id, phone_number_id,
		recipient, kind, payload) VALUES ($1, $2, $3, $4, $5, '', 'read', $6)`, conv.ContactID, key, conv.ID, msgID, conv.Inbox, string(payload)); err != nil {
		return nil, err
	}
	return assigner.ReadQueued{MessageID: msgID, WAMID: wamid}, nil
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
	// sqlSettleStatuses reads each wamid's most advanced status by the
	// primary key, one wamid at a time: "wamid = ANY($1)" over the whole
	// table let Postgres, without statistics, expect a quarter of it for 50
	// wamids and read every status stored.
	sqlSettleStatuses = `UPDATE messages m SET status = s.status, status_rank = s.rank, status_at = s.occurred_at,
			error_code = COALESCE(s.error_code, m.error_code),
			error_title = CASE WHEN s.error_title <> '' THEN s.error_title ELSE m.error_title END
		FROM (SELECT DISTINCT w FROM unnest($1::text[]) AS u(w)) u
			CROSS JOIN LATERAL (SELECT wamid, status, rank, occurred_at, error_code, error_title
				FROM statuses WHERE wamid = u.w ORDER BY rank DESC LIMIT 1) s
		WHERE m.id = ANY(ARRAY(SELECT id FROM messages WHERE wamid = ANY($1) AND direction IN ('out', 'out_other')))
		  AND m.wamid = s.wamid AND m.status_rank < s.rank`
)

// settleStatuses applies, under their locks, the most advanced status
// stored for each wamid the batch reported or gave a status that moved no
// message.
func (b *batch) settleStatuses(ctx context.Context) error {
	if err := b.settleWamids(ctx, b.settle); err != nil {
		return err
	}
	b.settle = b.settle[:0]
	return nil
}

// settleWamids applies, under their locks, the most advanced status
// stored for each of wamids.
func (b *batch) settleWamids(ctx context.Context, wamids []string) error {
	if len(wamids) == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(ctx, sqlLockWamids, pq.Array(wamids)); err != nil {
		return fmt.Errorf("settle statuses: %w", err)
	}
	if _, err := b.tx.ExecContext(ctx, sqlSettleStatuses, pq.Array(wamids)); err != nil {
		return fmt.Errorf("settle statuses: %w", err)
	}
	return nil
}

// probeSettle settles wamids in a savepoint it always rolls back: it
// tells whether settling them fails, and keeps neither their effect nor
// their locks, which every batch takes last, after any team lock.
func (b *batch) probeSettle(ctx context.Context, wamids []string) error {
	if len(wamids) == 0 {
		return nil
	}
	err := b.savepoint(ctx, func() error {
		if err := b.settleWamids(ctx, wamids); err != nil {
			return err
		}
		return errProbed
	})
	if errors.Is(err, errProbed) {
		return nil
	}
	return err
}

// errProbed rolls a probe's savepoint back.
var errProbed = errors.New("probed")

// cmdSendResult applies what the Cloud API answered to one outbound
// message, in the contact's partition order; an accepted agent reply may
// make its author the first responder (rule 5).
func (b *batch) cmdSendResult(ctx context.Context, id string, cmd event.SendResultCommand) (assigner.Outcome, error) {
	if cmd.Kind == assigner.OutboxTake {
		return b.takeResult(ctx, id, cmd)
	}
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
		return nil, assigner.NotFound("outbound message")
	}
	if err != nil {
		return nil, fmt.Errorf("send result: %w", err)
	}
	if !cmd.Failed && convID != nil {
		if err := b.armQuiet(ctx, map[int64]time.Time{*convID: at}); err != nil {
			return nil, err
		}
	}
	if cmd.Failed || agentID == nil || convID == nil {
		return assigner.Recorded{}, nil
	}
	conv, err := b.lockConversation(ctx, *convID)
	if err != nil {
		return nil, err
	}
	inbox, err := b.inboxSettings(ctx, conv.Inbox)
	if err != nil {
		return nil, err
	}
	agents, err := b.agents(ctx, []int64{*agentID})
	if err != nil {
		return nil, err
	}
	var owners []int64
	if err := b.tx.SelectContext(ctx, &owners, sqlOwnerIDs, conv.ContactID); err != nil {
		return nil, err
	}
	d := assigner.DecideFirstResponder(assigner.FirstResponderInput{Now: at, Inbox: inbox, Conversation: conv.Conversation,
		Agent: agents[*agentID], ContactOwnerIDs: owners})
	if conv.FirstReplyAt != nil { // not the first reply: nothing to record
		return assigner.Recorded{}, nil
	}
	return assigner.Recorded{}, b.persist(ctx, id, conv, d)
}
