package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

type conversationRow struct {
	ID            int64      `db:"id"`
	ContactID     int64      `db:"contact_id"`
	Inbox         string     `db:"inbox"`
	Status        string     `db:"status"`
	TeamID        *int64     `db:"team_id"`
	OpenedAt      time.Time  `db:"opened_at"`
	FirstReplyAt  *time.Time `db:"first_reply_at"`
	QueuedAt      *time.Time `db:"queued_at"`
	LastMessageAt *time.Time `db:"last_message_at"`
	ResolvedAt    *time.Time `db:"resolved_at"`
	SnoozedUntil  *time.Time `db:"snoozed_until"`
	FirstDueAt    *time.Time `db:"first_response_due_at"`
	SLABreachedAt *time.Time `db:"sla_breached_at"`
	ContactName   string     `db:"contact_name"`
	ContactWaID   *string    `db:"contact_wa_id"`
	ThreadOwner   string     `db:"thread_owner"`
	ThreadRole    string     `db:"thread_owner_role"`
	LastInboundAt *time.Time `db:"last_inbound_at"`
	LastDirection *string    `db:"lm_direction"`
	LastType      *string    `db:"lm_type"`
	LastBody      *string    `db:"lm_body"`
}

func (r conversationRow) view() assigner.ConversationView {
	v := assigner.ConversationView{
		Conversation: assigner.Conversation{
			ID: r.ID, ContactID: r.ContactID, Inbox: r.Inbox, Status: assigner.Status(r.Status),
			TeamID: r.TeamID, OpenedAt: r.OpenedAt, FirstReplyAt: r.FirstReplyAt,
			Queued: r.QueuedAt != nil, Assignees: []assigner.Assignee{}, SnoozedUntil: r.SnoozedUntil,
		},
		ContactName: r.ContactName, LastMessageAt: r.LastMessageAt, ResolvedAt: r.ResolvedAt, QueuedAt: r.QueuedAt,
		FirstResponseDueAt: r.FirstDueAt, SLABreached: r.SLABreachedAt != nil, SLABreachedAt: r.SLABreachedAt,
		ThreadOwner: assigner.ThreadOwner{Owner: assigner.ThreadOwnerKind(r.ThreadOwner), Role: r.ThreadRole},
	}
	if r.ContactWaID != nil {
		v.ContactWaID = *r.ContactWaID
	}
	if v.Snoozed() {
		v.Status = assigner.StatusSnoozed
	}
	if r.LastDirection != nil {
		v.LastMessage = &assigner.MessagePreview{Direction: *r.LastDirection, Type: *r.LastType, Body: *r.LastBody}
	}
	if r.LastInboundAt != nil {
		closes := r.LastInboundAt.Add(assigner.DefaultServiceWindow)
		v.WindowClosesAt = &closes
	}
	return v
}

const sqlConversationSelect = `SELECT c.id, c.contact_id, c.inbox, c.status, c.team_id, c.opened_at,
	c.first_reply_at, c.queued_at, c.last_message_at, c.resolved_at, c.snoozed_until,
	c.first_response_due_at, c.sla_breached_at,
	ct.name AS contact_name, ct.wa_id AS contact_wa_id, ct.thread_owner, ct.thread_owner_role, ct.last_inbound_at,
	lm.direction AS lm_direction, lm.type AS lm_type, lm.body AS lm_body
	FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
	LEFT JOIN LATERAL (SELECT m.direction, m.type, left(m.body, 140) AS body FROM messages m
		WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1) lm ON true`

// ListConversations lists conversations by id (oldest first, or newest
// first with f.Newest), filtered, among those f.Scope allows (none for the
// zero Scope).
func (s *Store) ListConversations(ctx context.Context, f assigner.ConversationFilter) ([]assigner.ConversationView, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	order := " ORDER BY c.id"
	switch {
	case f.Newest && f.BeforeID > 0:
		where, order = append(where, "c.id < "+arg(f.BeforeID)), " ORDER BY c.id DESC"
	case f.Newest:
		where, order = append(where, "true"), " ORDER BY c.id DESC"
	default:
		where = append(where, "c.id > "+arg(f.AfterID))
	}
	if f.Inbox != "" {
		where = append(where, "c.inbox = "+arg(f.Inbox))
	}
	where = append(where, visibleTo(f.Scope, arg))
	if f.Status != "" {
		where = append(where, "c.status = "+arg(f.Status))
	}
	if f.TeamID != nil {
		where = append(where, "c.team_id = "+arg(*f.TeamID))
	}
	if f.ContactID != nil {
		where = append(where, "c.contact_id = "+arg(*f.ContactID))
	}
	if f.IDs != nil {
		where = append(where, "c.id = ANY("+arg(pq.Array(f.IDs))+")")
	}
	if f.AssigneeID != nil {
		where = append(where, "EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = c.id AND a.agent_id = "+arg(*f.AssigneeID)+")")
	}
	if f.Unassigned {
		where = append(where, "NOT EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = c.id)")
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := sqlConversationSelect + " WHERE " + strings.Join(where, " AND ") + order + " LIMIT " + arg(f.Limit)
	var rows []conversationRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	out := make([]assigner.ConversationView, len(rows))
	ids := make([]int64, len(rows))
	for i, r := range rows {
		out[i], ids[i] = r.view(), r.ID
	}
	if err := s.fillAssignees(ctx, out, ids); err != nil {
		return nil, err
	}
	return out, nil
}

const sqlAssigneesOf = `SELECT conversation_id, agent_id, source FROM conversation_assignees
	WHERE conversation_id = ANY($1) ORDER BY conversation_id, added_at, agent_id`

func (s *Store) fillAssignees(ctx context.Context, views []assigner.ConversationView, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, sqlAssigneesOf, pq.Array(ids))
	if err != nil {
		return fmt.Errorf("assignees: %w", err)
	}
	defer rows.Close()
	byID := make(map[int64]int, len(views))
	for i := range views {
		byID[views[i].ID] = i
	}
	for rows.Next() {
		var convID int64
		var a assigner.Assignee
		if err := rows.Scan(&convID, &a.AgentID, &a.Source); err != nil {
			return err
		}
		i := byID[convID]
		views[i].Assignees = append(views[i].Assignees, a)
	}
	return rows.Err()
}

// Conversation reads one conversation with its assignees.
func (s *Store) Conversation(ctx context.Context, id int64) (assigner.ConversationView, error) {
	var r conversationRow
	if err := s.db.GetContext(ctx, &r, sqlConversationSelect+" WHERE c.id = $1", id); err != nil {
		return assigner.ConversationView{}, mapErr(err)
	}
	v := []assigner.ConversationView{r.view()}
	if err := s.fillAssignees(ctx, v, []int64{id}); err != nil {
		return assigner.ConversationView{}, err
	}
	return v[0], nil
}

const sqlLastTake = `SELECT state, error_code, error_message, created_at FROM outbox
	WHERE contact_id = $1 AND conversation_id = $2 AND kind = 'take' ORDER BY id DESC LIMIT 1`

// LastTake reads the latest take of the thread asked from a conversation
// of the contact (nil: none): for one conversation's read only, not for the
// visibility check every command makes.
func (s *Store) LastTake(ctx context.Context, contactID, convID int64) (*assigner.TakeView, error) {
	var state string
	var t assigner.TakeView
	err := s.db.QueryRowContext(ctx, sqlLastTake, contactID, convID).Scan(&state, &t.ErrorCode, &t.Error, &t.At)
	if errors.Is(err, errNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last take: %w", err)
	}
	switch state {
	case "sent":
		t.Status = "accepted"
	case "pending":
		t.Status = "pending"
	default:
		t.Status = "refused"
	}
	return &t, nil
}

const sqlMessages = `SELECT id, wamid, direction, conversation_id, type, body, context_wamid, sent_at,
	received_at, status, status_at, error_code, error_title, author_agent_id, raw
	FROM messages WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3`

// Messages lists a conversation's messages in the order they were applied
// (partition order), both directions, with their statuses.
func (s *Store) Messages(ctx context.Context, conversationID, afterID int64, limit int) ([]assigner.MessageView, error) {
	rows, err := s.db.QueryContext(ctx, sqlMessages, conversationID, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	defer rows.Close()
	out := []assigner.MessageView{}
	for rows.Next() {
		var m assigner.MessageView
		var raw []byte
		if err := rows.Scan(&m.ID, &m.WAMID, &m.Direction, &m.ConversationID, &m.Type, &m.Body, &m.ContextWAMID,
			&m.SentAt, &m.ReceivedAt, &m.Status, &m.StatusAt, &m.ErrorCode, &m.ErrorTitle, &m.AuthorAgentID, &raw); err != nil {
			return nil, err
		}
		m.Raw = raw
		out = append(out, m)
	}
	return out, rows.Err()
}

const (
	sqlContactSelect = `SELECT id, wa_id, user_id, name, last_inbound_at, blocked_at, blocked_reason, created_at FROM contacts`
	sqlOwnersOf      = `SELECT agent_id FROM contact_owners WHERE contact_id = $1 ORDER BY added_at, agent_id`
)

// ContactBy finds a contact by wa_id or by business-scoped user id.
func (s *Store) ContactBy(ctx context.Context, waID, userID string) (assigner.ContactView, error) {
	var c assigner.ContactView
	var err error
	if waID != "" {
		err = s.db.GetContext(ctx, &c, sqlContactSelect+" WHERE wa_id = $1", waID)
	} else {
		err = s.db.GetContext(ctx, &c, sqlContactSelect+" WHERE user_id = $1", userID)
	}
	if err != nil {
		return c, mapErr(err)
	}
	return c, s.fillOwners(ctx, &c)
}

// Contact reads a contact by id.
func (s *Store) Contact(ctx context.Context, id int64) (assigner.ContactView, error) {
	var c assigner.ContactView
	if err := s.db.GetContext(ctx, &c, sqlContactSelect+" WHERE id = $1", id); err != nil {
		return c, mapErr(err)
	}
	return c, s.fillOwners(ctx, &c)
}

func (s *Store) fillOwners(ctx context.Context, c *assigner.ContactView) error {
	c.OwnerIDs = []int64{}
	return s.db.SelectContext(ctx, &c.OwnerIDs, sqlOwnersOf, c.ID)
}
