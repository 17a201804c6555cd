package db

import (
	"context"
	"database/sql"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// The waiting queue: a conversation no eligible agent could take waits with
// queued_at set (persist, persistOpenings); the scheduler asks which ones an
// agent could take now (DrainCandidates) and produces a drain or expiry
// command onto the contact's partition, applied here (cmdDrain).

const sqlNotifyQueue = `SELECT pg_notify('wagw_queue', '')`

// QueueChannel is the LISTEN channel notified (on commit) whenever an agent
// may have become eligible for queued conversations.
const QueueChannel = "wagw_queue"

// DrainRef is a queued conversation that may be assignable now.
type DrainRef struct {
	ConversationID int64  `db:"id"`
	ContactKey     string `db:"key"`
	Expired        bool   `db:"expired"`
}

// DrainCandidates lists queued conversations, oldest first, that an
// eligible agent could take now (as many per team as its members have free
// slots), and those that waited longer than the queue expiry. Conversations
// of blocked contacts are left out: their commands would only be held, and
// they must not keep the places of the conversations behind them.
func (s *Store) DrainCandidates(ctx context.Context, limit int, now time.Time) ([]DrainRef, error) {
	const q = `WITH free AS (
		SELECT m.team_id, SUM(LEAST(COALESCE(a.capacity, 1000000), COALESCE(t.max_open, 1000000)) - a.open_count) AS slots
		FROM team_members m JOIN agents a ON a.id = m.agent_id JOIN teams t ON t.id = m.team_id
		WHERE a.active AND t.strategy <> 'manual'
		  AND (NOT t.online_only OR (a.presence = 'online' AND a.heartbeat_at > $1))
		  AND a.open_count < LEAST(COALESCE(a.capacity, 1000000), COALESCE(t.max_open, 1000000))
		GROUP BY m.team_id),
	queue AS (
		SELECT c.id, ct.key, c.queued_at < $2 AS expired, c.queued_at, c.team_id,
			row_number() OVER (PARTITION BY c.team_id ORDER BY c.queued_at, c.id) AS n
		FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
		WHERE c.status = 'open' AND c.queued_at IS NOT NULL AND ct.blocked_at IS NULL)
	SELECT queue.id, queue.key, queue.expired FROM queue LEFT JOIN free ON free.team_id = queue.team_id
	WHERE queue.expired OR queue.n <= COALESCE(free.slots, 0)
	ORDER BY queue.queued_at, queue.id LIMIT $3`
	var out []DrainRef
	err := s.db.SelectContext(ctx, &out, q, now.Add(-s.rules.PresenceTimeout), now.Add(-s.rules.QueueExpiry), limit)
	return out, err
}

func (b *batch) cmdDrain(ctx context.Context, id string, cmd event.DrainCommand, expire bool) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	if !conv.Queued || !conv.Open() {
		return assigner.Unchanged{}, nil
	}
	if expire {
		inbox, err := b.inboxSettings(ctx, conv.Inbox)
		if err != nil {
			return nil, err
		}
		in := assigner.ExpireInput{Now: b.now, Conversation: conv.Conversation, Inbox: inbox, QueuedSince: *conv.QueuedAt, Timeout: b.rules.QueueExpiry}
		if in.Fallback, err = b.fallbackAgent(ctx, conv.Inbox); err != nil {
			return nil, err
		}
		d, ok := assigner.ExpireQueued(in)
		if !ok {
			return assigner.Unchanged{}, nil
		}
		return b.decided(ctx, id, conv, d)
	}
	teams, err := b.lockTeams(ctx, conv.TeamID)
	if err != nil {
		return nil, err
	}
	ds := assigner.DrainQueue([]assigner.Conversation{conv.Conversation}, teams, b.now, b.rules.PresenceTimeout)
	if len(ds) == 0 {
		return assigner.Unchanged{}, nil
	}
	return b.decided(ctx, id, conv, ds[0])
}

// QueueStats is the queue of open conversations waiting for an eligible
// agent: how many, and when the one waiting longest was queued (zero when
// none waits).
type QueueStats struct {
	Length int
	Oldest time.Time
}

// QueueStats counts the queued open conversations (the partial index
// conversations_queue answers it).
func (s *Store) QueueStats(ctx context.Context) (QueueStats, error) {
	const q = `SELECT count(*), min(queued_at) FROM conversations WHERE queued_at IS NOT NULL AND status = 'open'`
	var out QueueStats
	var oldest sql.NullTime
	if err := s.db.QueryRowContext(ctx, q).Scan(&out.Length, &oldest); err != nil {
		return out, err
	}
	if oldest.Valid {
		out.Oldest = oldest.Time
	}
	return out, nil
}
