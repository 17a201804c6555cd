package db

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/whatsapp"
)

// Auto-resolve and sticky (issue 12, rule 3). Every message stored in an
// open conversation, in either direction, moves the conversation's
// auto_resolve deadline to its time plus the inbox's window: a contact's
// message (both apply paths, one statement per batch on the fast path,
// the opening message included) and an outbound message when the Cloud
// API accepted it (agent replies, welcome messages). Statuses, reactions
// that open nothing and failed sends do not count. A deadline never moves
// earlier: a message applied late (Meta's order is not the partition's)
// leaves the later one. When it falls due, cmdTimer applies it in the
// contact's order (autoResolve), so a message applied first wins.

// sqlArmQuiet sets or moves the auto-resolve deadlines of the open
// conversations $1, whose latest messages are at $2, in inboxes with the
// rule on, and notifies the scheduler when one is new (a moved one is
// later than before, so the scheduler waits long enough already).
const sqlArmQuiet = `WITH arm AS (
		INSERT INTO conversation_timers (conversation_id, kind, due_at)
		SELECT c.id, 'auto_resolve', u.t::timestamptz + make_interval(secs => i.auto_resolve_after_seconds)
		FROM unnest($1::bigint[], $2::text[]) AS u(id, t) JOIN conversations c ON c.id = u.id
			JOIN inboxes i ON i.phone_number_id = c.inbox
		WHERE c.status = 'open' AND i.auto_resolve_after_seconds IS NOT NULL
		ON CONFLICT (conversation_id, kind) DO UPDATE SET due_at = GREATEST(conversation_timers.due_at, EXCLUDED.due_at)
		RETURNING xmax = 0 AS fresh)
	SELECT pg_notify('wagw_timer', '') FROM (SELECT 1 FROM arm WHERE fresh LIMIT 1) n`

// armQuiet moves the auto-resolve deadlines of conversations that got a
// message at the time given, with one statement, and only when some inbox
// has the rule on.
func (b *batch) armQuiet(ctx context.Context, last map[int64]time.Time) error {
	if len(last) == 0 {
		return nil
	}
	on, err := b.messageRules(ctx)
	if err != nil || !on.quiet {
		return err
	}
	ids := slices.Sorted(maps.Keys(last))
	ts := make([]string, len(ids))
	for i, id := range ids {
		ts[i] = last[id].UTC().Format(time.RFC3339Nano)
	}
	if _, err := b.tx.ExecContext(ctx, sqlArmQuiet, pq.Array(ids), pq.Array(ts)); err != nil {
		return fmt.Errorf("auto-resolve deadlines: %w", err)
	}
	return nil
}

// autoResolve applies the auto-resolve rule to a conversation whose
// deadline fell due, and queues the closing message when the rule says so,
// in the same transaction.
func (b *batch) autoResolve(ctx context.Context, id string, conv convState, t assigner.Timer) (assigner.Outcome, error) {
	inbox, err := b.inboxSettings(ctx, conv.Inbox)
	if err != nil {
		return nil, err
	}
	to, lastInbound, thread, err := b.recipient(ctx, conv.ContactID)
	if err != nil {
		return nil, err
	}
	sent, err := b.sent(ctx, conv)
	if err != nil {
		return nil, err
	}
	d := assigner.DecideAutoResolve(assigner.AutoResolveInput{Now: b.now, Conversation: conv.Conversation, Timer: t, Inbox: inbox,
		LastInboundAt: lastInbound, ServiceWindow: b.rules.ServiceWindow, Thread: thread, Sent: sent})
	if d.Closing {
		msg := whatsapp.OutboundMessage{MessagingProduct: "whatsapp", RecipientType: "individual", To: to,
			Type: "text", Text: &whatsapp.OutboundText{Body: inbox.ClosingMessage}}
		if _, _, err := b.queueOutbound(ctx, conv.ContactID, conv.ID, conv.Inbox, "closing", nil, msg, inbox.ClosingMessage, ""); err != nil {
			return nil, err
		}
	}
	return b.decided(ctx, id, conv, d)
}

// sqlPreviousConversations finds, for each (contact, inbox) pair, the
// contact's latest resolved conversation on the inbox and its latest
// added assignee (0: none).
const sqlPreviousConversations = `SELECT DISTINCT ON (u.c, u.i) u.c, u.i, c.id, c.resolved_at, c.team_id, COALESCE(a.agent_id, 0)
	FROM unnest($1::bigint[], $2::text[]) AS u(c, i)
	JOIN conversations c ON c.contact_id = u.c AND c.inbox = u.i AND c.status = 'resolved' AND c.resolved_at IS NOT NULL
	LEFT JOIN LATERAL (SELECT agent_id FROM conversation_assignees WHERE conversation_id = c.id
		ORDER BY added_at DESC, agent_id DESC LIMIT 1) a ON true
	ORDER BY u.c, u.i, c.resolved_at DESC`

// previousConversations reads, with one statement, the previous
// conversation of each opening whose inbox has the sticky rule on (and
// whose contact is not new); the result is indexed like ops.
func (b *batch) previousConversations(ctx context.Context, ops []opening, inboxes []assigner.Inbox) ([]*assigner.Previous, error) {
	out := make([]*assigner.Previous, len(ops))
	var contacts []int64
	var pns []string
	for i, o := range ops {
		if inboxes[i].StickyDays != nil && !o.c.Fresh {
			contacts, pns = append(contacts, o.c.ID), append(pns, o.e.PhoneNumberID)
		}
	}
	if len(contacts) == 0 {
		return out, nil
	}
	rows, err := b.tx.QueryContext(ctx, sqlPreviousConversations, pq.Array(contacts), pq.Array(pns))
	if err != nil {
		return nil, fmt.Errorf("previous conversations: %w", err)
	}
	defer rows.Close()
	found := map[convKey]*assigner.Previous{}
	for rows.Next() {
		var k convKey
		var p assigner.Previous
		if err := rows.Scan(&k.contact, &k.inbox, &p.ConversationID, &p.ResolvedAt, &p.TeamID, &p.AgentID); err != nil {
			return nil, err
		}
		found[k] = &p
	}
	for i, o := range ops {
		if inboxes[i].StickyDays != nil {
			out[i] = found[convKey{o.c.ID, o.e.PhoneNumberID}]
		}
	}
	return out, rows.Err()
}

// stickyNeeds lists the agent and team a previous conversation's sticky
// check reads.
func stickyNeeds(p *assigner.Previous) ([]int64, *int64) {
	if p == nil || p.AgentID == 0 {
		return nil, nil
	}
	return []int64{p.AgentID}, p.TeamID
}
