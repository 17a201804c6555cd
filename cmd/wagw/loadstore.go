package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/loadtest"
)

// loadStore implements loadtest.Store with read-only SQL on the gateway's
// Postgres.
type loadStore struct{ db *sql.DB }

func openLoadStore(ctx context.Context, dsn string) (*loadStore, error) {
	conn, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(4)
	deadline := time.Now().Add(db.BusyWait) // a Postgres busy for now: wait as the roles do
	for {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = conn.PingContext(pctx)
		cancel()
		if err == nil {
			return &loadStore{db: conn}, nil
		}
		if !db.IsBusy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			conn.Close()
			return nil, fmt.Errorf("loadtest: Postgres %s: %w", redactURL(dsn), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (s *loadStore) Close() error { return s.db.Close() }

// readOnly runs fn in a read-only transaction.
func (s *loadStore) readOnly(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

const sqlLTBaseline = `SELECT COALESCE((SELECT max(id) FROM messages), 0), COALESCE((SELECT max(id) FROM conversations), 0)`

func (s *loadStore) Baseline(ctx context.Context) (loadtest.Baseline, error) {
	var b loadtest.Baseline
	err := s.readOnly(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, sqlLTBaseline).Scan(&b.MessageID, &b.ConversationID)
	})
	return b, err
}

const sqlLTCount = `SELECT count(*) FROM messages WHERE id > $1 AND direction = 'in'`

func (s *loadStore) CountInbound(ctx context.Context, after loadtest.Baseline) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, sqlLTCount, after.MessageID).Scan(&n)
	return n, err
}

const sqlLTMessages = `SELECT m.id, COALESCE(m.wamid, ''), c.key, m.inbox, m.type, COALESCE(m.conversation_id, 0), m.stored_at
	FROM messages m JOIN contacts c ON c.id = m.contact_id
	WHERE m.id > $1 AND m.direction = 'in' ORDER BY m.id`

func (s *loadStore) InboundMessages(ctx context.Context, after loadtest.Baseline) ([]loadtest.StoredMessage, error) {
	var out []loadtest.StoredMessage
	err := s.readOnly(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlLTMessages, after.MessageID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m loadtest.StoredMessage
			if err := rows.Scan(&m.ID, &m.WAMID, &m.ContactKey, &m.Inbox, &m.Type, &m.ConversationID, &m.StoredAt); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	return out, err
}

const sqlLTConversations = `SELECT cv.id, c.key, cv.inbox, cv.status, cv.opened_by, cv.created_at, cv.queued_at IS NOT NULL,
	(SELECT count(*) FROM decisions d WHERE d.conversation_id = cv.id AND d.event_id = cv.opened_by),
	(SELECT min(d.created_at) FROM decisions d WHERE d.conversation_id = cv.id AND d.event_id = cv.opened_by),
	(SELECT count(*) FROM outbox o WHERE o.conversation_id = cv.id AND o.kind = 'welcome'),
	COALESCE((SELECT o.state FROM outbox o WHERE o.conversation_id = cv.id AND o.kind = 'welcome' ORDER BY o.id LIMIT 1), ''),
	COALESCE((SELECT m.status FROM outbox o JOIN messages m ON m.id = o.message_id
		WHERE o.conversation_id = cv.id AND o.kind = 'welcome' ORDER BY o.id LIMIT 1), ''),
	COALESCE(i.welcome_message, '') <> '',
	COALESCE((SELECT json_agg(json_build_object('agent_id', a.agent_id, 'source', a.source) ORDER BY a.added_at, a.agent_id)
		FROM conversation_assignees a WHERE a.conversation_id = cv.id), '[]')
	FROM conversations cv JOIN contacts c ON c.id = cv.contact_id LEFT JOIN inboxes i ON i.phone_number_id = cv.inbox
	WHERE cv.id = ANY($1) ORDER BY cv.id`

func (s *loadStore) Conversations(ctx context.Context, ids []int64) ([]loadtest.StoredConversation, error) {
	var out []loadtest.StoredConversation
	err := s.readOnly(ctx, func(tx *sql.Tx) error {
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 5000)]
			ids = ids[len(chunk):]
			rows, err := tx.QueryContext(ctx, sqlLTConversations, pq.Array(chunk))
			if err != nil {
				return err
			}
			for rows.Next() {
				var c loadtest.StoredConversation
				var decided sql.NullTime
				var assignees []byte
				if err := rows.Scan(&c.ID, &c.ContactKey, &c.Inbox, &c.Status, &c.OpenedBy, &c.CreatedAt, &c.Queued,
					&c.OpenDecisions, &decided, &c.Welcomes, &c.WelcomeState, &c.WelcomeStatus, &c.InboxWelcome, &assignees); err != nil {
					rows.Close()
					return err
				}
				if decided.Valid {
					c.DecidedAt = decided.Time
				}
				if err := json.Unmarshal(assignees, &c.Assignees); err != nil {
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

const sqlLTStatuses = `SELECT wamid, status FROM statuses WHERE wamid = ANY($1)`

func (s *loadStore) Statuses(ctx context.Context, wamids []string) ([]loadtest.StoredStatus, error) {
	var out []loadtest.StoredStatus
	err := s.readOnly(ctx, func(tx *sql.Tx) error {
		for len(wamids) > 0 {
			chunk := wamids[:min(len(wamids), 5000)]
			wamids = wamids[len(chunk):]
			rows, err := tx.QueryContext(ctx, sqlLTStatuses, pq.Array(chunk))
			if err != nil {
				return err
			}
			for rows.Next() {
				var st loadtest.StoredStatus
				if err := rows.Scan(&st.WAMID, &st.Status); err != nil {
					rows.Close()
					return err
				}
				out = append(out, st)
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

const sqlLTAgents = `SELECT id, name, presence FROM agents ORDER BY id`

func (s *loadStore) Agents(ctx context.Context) ([]loadtest.StoredAgent, error) {
	var out []loadtest.StoredAgent
	err := s.readOnly(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sqlLTAgents)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a loadtest.StoredAgent
			if err := rows.Scan(&a.ID, &a.Name, &a.Presence); err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	return out, err
}
