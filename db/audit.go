package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Audit reads, read only, what the load tester's verifier compares with
// the traffic it sent: the rows a run added after a baseline, the
// decisions and welcome messages of the conversations it opened, statuses
// and agents. Each call runs in one read-only transaction.
type Audit struct{ db *sqlx.DB }

// NewAudit wraps an open connection pool.
func NewAudit(conn *sqlx.DB) *Audit { return &Audit{db: conn} }

// auditChunk bounds the ids or wamids sent in one query.
const auditChunk = 5000

// AuditMessage is one stored inbound message.
type AuditMessage struct {
	ID             int64
	WAMID          string
	ContactKey     string
	Inbox          string
	Type           string
	ConversationID int64 // 0: not in a conversation
	StoredAt       time.Time
}

// AuditConversation is one conversation with what was decided for it.
type AuditConversation struct {
	ID         int64
	ContactKey string
	Inbox      string
	Status     string
	OpenedBy   string // wamid of the opening message
	CreatedAt  time.Time
	Queued     bool
	Assignees  []AuditAssignee
	// OpenDecisions is how many decisions were logged for the opening
	// event.
	OpenDecisions int
	// Welcomes is how many welcome messages were queued; WelcomeState is
	// the outbox state of the first ("" none) and WelcomeStatus the last
	// status Meta reported for it.
	Welcomes      int
	WelcomeState  string
	WelcomeStatus string
	// InboxWelcome: the inbox has a welcome text.
	InboxWelcome bool
}

// AuditAssignee is one assignee of a conversation.
type AuditAssignee struct {
	AgentID int64  `json:"agent_id"`
	Source  string `json:"source"`
}

// AuditStatus is one stored status of an outbound message.
type AuditStatus struct {
	WAMID  string
	Status string
}

// AuditAgent is one agent.
type AuditAgent struct {
	ID       int64
	Name     string
	Presence string
}

// readOnly runs fn in a read-only transaction.
func (a *Audit) readOnly(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := a.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

const sqlAuditBaseline = `SELECT COALESCE((SELECT max(id) FROM messages), 0), COALESCE((SELECT max(id) FROM conversations), 0)`

// Baseline returns the highest message and conversation ids: taken before
// a run, it marks where the run's rows begin.
func (a *Audit) Baseline(ctx context.Context) (messageID, conversationID int64, err error) {
	err = a.readOnly(ctx, func(tx *sqlx.Tx) error {
		return tx.QueryRowContext(ctx, sqlAuditBaseline).Scan(&messageID, &conversationID)
	})
	return messageID, conversationID, err
}

const sqlAuditCountInbound = `SELECT count(*) FROM messages WHERE id > $1 AND direction = 'in'`

// CountInbound counts the inbound messages stored after afterMessageID.
func (a *Audit) CountInbound(ctx context.Context, afterMessageID int64) (int64, error) {
	var n int64
	err := a.db.QueryRowContext(ctx, sqlAuditCountInbound, afterMessageID).Scan(&n)
	return n, err
}

const sqlAuditInbound = `SELECT m.id, COALESCE(m.wamid, ''), c.key, m.inbox, m.type, COALESCE(m.conversation_id, 0), m.stored_at
	FROM messages m JOIN contacts c ON c.id = m.contact_id
	WHERE m.id > $1 AND m.direction = 'in' ORDER BY m.id`

// InboundMessages returns the inbound messages stored after
// afterMessageID, in id order.
func (a *Audit) InboundMessages(ctx context.Context, afterMessageID int64) ([]AuditMessage, error) {
	var out []AuditMessage
	err := a.readOnly(ctx, func(tx *sqlx.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlAuditInbound, afterMessageID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m AuditMessage
			if err := rows.Scan(&m.ID, &m.WAMID, &m.ContactKey, &m.Inbox, &m.Type, &m.ConversationID, &m.StoredAt); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

const sqlAuditConversations = `SELECT cv.id, c.key, cv.inbox, cv.status, cv.opened_by, cv.created_at, cv.queued_at IS NOT NULL,
	(SELECT count(*) FROM decisions d WHERE d.conversation_id = cv.id AND d.event_id = cv.opened_by),
	(SELECT count(*) FROM outbox o WHERE o.conversation_id = cv.id AND o.kind = 'welcome'),
	COALESCE((SELECT o.state FROM outbox o WHERE o.conversation_id = cv.id AND o.kind = 'welcome' ORDER BY o.id LIMIT 1), ''),
	COALESCE((SELECT m.status FROM outbox o JOIN messages m ON m.id = o.message_id
		WHERE o.conversation_id = cv.id AND o.kind = 'welcome' ORDER BY o.id LIMIT 1), ''),
	COALESCE(i.welcome_message, '') <> '',
	COALESCE((SELECT json_agg(json_build_object('agent_id', a.agent_id, 'source', a.source) ORDER BY a.added_at, a.agent_id)
		FROM conversation_assignees a WHERE a.conversation_id = cv.id), '[]')
	FROM conversations cv JOIN contacts c ON c.id = cv.contact_id LEFT JOIN inboxes i ON i.phone_number_id = cv.inbox
	WHERE cv.id = ANY($1) ORDER BY cv.id`

// Conversations returns the conversations with these ids, in id order
// within each chunk of ids.
func (a *Audit) Conversations(ctx context.Context, ids []int64) ([]AuditConversation, error) {
	var out []AuditConversation
	err := a.readOnly(ctx, func(tx *sqlx.Tx) error {
		for chunk := range slices.Chunk(ids, auditChunk) {
			rows, err := tx.QueryContext(ctx, sqlAuditConversations, pq.Array(chunk))
			if err != nil {
				return err
			}
			for rows.Next() {
				c, err := scanAuditConversation(rows)
				if err != nil {
					rows.Close()
					return err
				}
				out = append(out, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func scanAuditConversation(rows *sql.Rows) (AuditConversation, error) {
	var c AuditConversation
	var assignees []byte
	if err := rows.Scan(&c.ID, &c.ContactKey, &c.Inbox, &c.Status, &c.OpenedBy, &c.CreatedAt, &c.Queued,
		&c.OpenDecisions, &c.Welcomes, &c.WelcomeState, &c.WelcomeStatus, &c.InboxWelcome, &assignees); err != nil {
		return c, err
	}
	return c, json.Unmarshal(assignees, &c.Assignees)
}

const sqlAuditStatuses = `SELECT wamid, status FROM statuses WHERE wamid = ANY($1)`

// Statuses returns the stored statuses of these outbound wamids.
func (a *Audit) Statuses(ctx context.Context, wamids []string) ([]AuditStatus, error) {
	var out []AuditStatus
	err := a.readOnly(ctx, func(tx *sqlx.Tx) error {
		for chunk := range slices.Chunk(wamids, auditChunk) {
			var got []AuditStatus
			if err := sqlx.SelectContext(ctx, tx, &got, sqlAuditStatuses, pq.Array(chunk)); err != nil {
				return err
			}
			out = append(out, got...)
		}
		return nil
	})
	return out, err
}

const sqlAuditAgents = `SELECT id, name, presence FROM agents ORDER BY id`

// Agents returns every agent.
func (a *Audit) Agents(ctx context.Context) ([]AuditAgent, error) {
	var out []AuditAgent
	err := a.readOnly(ctx, func(tx *sqlx.Tx) error {
		return sqlx.SelectContext(ctx, tx, &out, sqlAuditAgents)
	})
	return out, err
}
