package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

// The away rule's deadlines (issue 12, rule 2): an away deadline, due at
// once, is set for a conversation whose strategy-picked assignee went away
// or offline (SetPresence), whose heartbeat lapsed (LapseHeartbeats, driven
// by the scheduler at the next lapse, not a sweep), or whose contact wrote
// while that assignee is away (contactWrote, both apply paths, which also
// ends a snooze). The timer command then lets assigner.DecideAway (or
// DecideWake) decide in partition order.

// sqlAwayMerge merges a new away deadline into an existing one: the
// earlier due time (a command already published for it stays valid) and
// both lists of agents.
const sqlAwayMerge = ` ON CONFLICT (conversation_id, kind) DO UPDATE SET
	due_at = LEAST(conversation_timers.due_at, EXCLUDED.due_at),
	excluded = ARRAY(SELECT DISTINCT x FROM unnest(conversation_timers.excluded || EXCLUDED.excluded) AS x ORDER BY x)`

const (
	// sqlAwayOfAgents sets away deadlines for the open conversations the
	// strategy gave the agents $1, in teams with the rule on.
	sqlAwayOfAgents = `INSERT INTO conversation_timers (conversation_id, kind, due_at, excluded)
		SELECT ca.conversation_id, 'away', $2::timestamptz, array_agg(ca.agent_id ORDER BY ca.agent_id)
		FROM conversation_assignees ca JOIN conversations c ON c.id = ca.conversation_id JOIN teams t ON t.id = c.team_id
		WHERE ca.agent_id = ANY($1) AND c.status = 'open' AND t.reassign_on_away AND ca.source IN ('round_robin', 'least_open')
		GROUP BY ca.conversation_id` + sqlAwayMerge
	// sqlAwayOnReply sets away deadlines for the conversations $1 whose
	// strategy-picked assignee is not online (away, offline, or no
	// heartbeat since $3), in teams with the rule on.
	sqlAwayOnReply = `INSERT INTO conversation_timers (conversation_id, kind, due_at, excluded)
		SELECT ca.conversation_id, 'away', $2::timestamptz, array_agg(ca.agent_id ORDER BY ca.agent_id)
		FROM conversation_assignees ca JOIN conversations c ON c.id = ca.conversation_id JOIN teams t ON t.id = c.team_id
			JOIN agents a ON a.id = ca.agent_id
		WHERE ca.conversation_id = ANY($1) AND c.status = 'open' AND t.reassign_on_away AND ca.source IN ('round_robin', 'least_open')
			AND (a.presence <> 'online' OR a.heartbeat_at IS NULL OR a.heartbeat_at < $3::timestamptz)
		GROUP BY ca.conversation_id` + sqlAwayMerge
	// sqlWroteRulesCols are wroteRules's columns; the batch's first
	// inbox check reads them too (sqlInboxKnown), saving a round trip.
	sqlWroteRulesCols = `EXISTS (SELECT 1 FROM teams WHERE reassign_on_away),
		EXISTS (SELECT 1 FROM conversation_timers WHERE kind = 'snooze'),
		EXISTS (SELECT 1 FROM inboxes WHERE auto_resolve_after_seconds IS NOT NULL)`
	sqlWroteRules = `SELECT ` + sqlWroteRulesCols
	// sqlSnoozeEndsNow moves the snooze deadlines of conversations $1 to $2.
	sqlSnoozeEndsNow = `UPDATE conversation_timers SET due_at = $2::timestamptz
		WHERE kind = 'snooze' AND conversation_id = ANY($1) AND due_at > $2::timestamptz`
)

// awayOfAgents sets the away deadlines of agents who went away or offline
// at now, in tx, and notifies the scheduler when it set any.
func awayOfAgents(ctx context.Context, tx *sqlx.Tx, agentIDs []int64, now time.Time) error {
	res, err := tx.ExecContext(ctx, sqlAwayOfAgents, pq.Array(agentIDs), now)
	if err != nil {
		return fmt.Errorf("away deadlines: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		_, err = tx.ExecContext(ctx, sqlTimerNotify)
	}
	return err
}

// contactWrote runs what a contact's message in existing conversations
// starts: an away deadline for each whose strategy-picked assignee is not
// online, and the end of each one's snooze (its deadline moves to now).
// Each asks Postgres only when some team has the away rule on, or some
// conversation is snoozed (both read once per batch).
func (b *batch) contactWrote(ctx context.Context, convIDs []int64) error {
	if len(convIDs) == 0 {
		return nil
	}
	on, err := b.messageRules(ctx)
	if err != nil {
		return err
	}
	var set int64
	if on.away {
		if set, err = b.awayOf(ctx, convIDs); err != nil {
			return err
		}
	}
	if on.snooze {
		res, err := b.tx.ExecContext(ctx, sqlSnoozeEndsNow, pq.Array(convIDs), b.now)
		if err != nil {
			return fmt.Errorf("snooze deadlines: %w", err)
		}
		n, _ := res.RowsAffected()
		set += n
	}
	if set == 0 {
		return nil
	}
	_, err = b.tx.ExecContext(ctx, sqlTimerNotify)
	return err
}

// awayOf sets an away deadline, due now, for each open conversation of
// convIDs whose strategy-picked assignee is not online, in teams with the
// away rule on; it returns how many it set or moved.
func (b *batch) awayOf(ctx context.Context, convIDs []int64) (int64, error) {
	res, err := b.tx.ExecContext(ctx, sqlAwayOnReply, pq.Array(convIDs), b.now, b.now.Add(-b.rules.PresenceTimeout))
	if err != nil {
		return 0, fmt.Errorf("away deadlines: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// armAway is the away deadline of contactWrote alone, for conversations
// whose thread came back to wagw (handedBack): it notifies the scheduler
// when it set one.
func (b *batch) armAway(ctx context.Context, convIDs []int64) error {
	on, err := b.messageRules(ctx)
	if err != nil || !on.away {
		return err
	}
	n, err := b.awayOf(ctx, convIDs)
	if err != nil || n == 0 {
		return err
	}
	_, err = b.tx.ExecContext(ctx, sqlTimerNotify)
	return err
}

// wroteRules says which rules a message may start (contactWrote,
// armQuiet): some team has the away rule on, some conversation is
// snoozed, some inbox auto-resolves.
type wroteRules struct{ away, snooze, quiet bool }

// messageRules reads, once per batch, which rules a message may start
// (unless the batch's first inbox check read them: inbox).
func (b *batch) messageRules(ctx context.Context) (*wroteRules, error) {
	if b.wrote == nil {
		w := &wroteRules{}
		if err := b.tx.QueryRowContext(ctx, sqlWroteRules).Scan(&w.away, &w.snooze, &w.quiet); err != nil {
			return nil, err
		}
		b.wrote = w
	}
	return b.wrote, nil
}

const (
	sqlLapse = `UPDATE agents SET lapsed_at = $1 WHERE presence = 'online' AND lapsed_at IS NULL AND heartbeat_at < $2
		RETURNING id`
	sqlNextLapse = `SELECT min(heartbeat_at) FROM agents WHERE presence = 'online' AND lapsed_at IS NULL`
)

// LapseHeartbeats handles the agents whose status is online but whose
// last heartbeat is older than the presence timeout at now: once per
// lapse (until their next heartbeat), their conversations get away
// deadlines. It returns when the next heartbeat lapses (nil: no online
// agent), for the scheduler to wake then.
func (s *Store) LapseHeartbeats(ctx context.Context, now time.Time) (*time.Time, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, sqlLapse, now, now.Add(-s.rules.PresenceTimeout)); err != nil {
		return nil, fmt.Errorf("lapsed heartbeats: %w", err)
	}
	if len(ids) > 0 {
		if err := awayOfAgents(ctx, tx, ids, now); err != nil {
			return nil, err
		}
	}
	var oldest *time.Time
	if err := tx.QueryRowContext(ctx, sqlNextLapse).Scan(&oldest); err != nil {
		return nil, fmt.Errorf("next lapse: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if oldest == nil {
		return nil, nil
	}
	next := oldest.Add(s.rules.PresenceTimeout)
	return &next, nil
}

// sqlContactWaits: the conversation's latest message, among the
// contact's and the agents' replies the Cloud API accepted, in the order
// they were stored, is the contact's (or there is no agent reply). A
// reply counts once its result was applied (its wamid) or once the relay
// recorded it sent by the deadline ($3), as the result may come after the
// deadline's command; one accepted after the deadline counts only when
// its result came first, in partition order, as for the no-reply rule.
const sqlContactWaits = `SELECT COALESCE((SELECT m.direction = 'in' FROM messages m
	WHERE m.conversation_id = $1 AND (m.direction = 'in' OR (m.author_agent_id IS NOT NULL AND (m.wamid IS NOT NULL
		OR m.id IN (SELECT o.message_id FROM outbox o WHERE o.contact_id = $2 AND o.kind = 'reply' AND o.state = 'sent'
			AND o.sent_at <= $3))))
	ORDER BY m.id DESC LIMIT 1), true)`

// away applies the away rule to a conversation whose deadline fell due.
func (b *batch) away(ctx context.Context, id string, conv convState, t assigner.Timer) (assigner.Outcome, error) {
	agents, err := b.agents(ctx, t.Excluded)
	if err != nil {
		return nil, err
	}
	teams, err := b.lockTeams(ctx, conv.TeamID)
	if err != nil {
		return nil, err
	}
	in := assigner.AwayInput{Now: b.now, Conversation: conv.Conversation, Timer: t, Agents: agents, PresenceTimeout: b.rules.PresenceTimeout}
	if conv.TeamID != nil {
		if ts, ok := teams[*conv.TeamID]; ok {
			in.Team = &ts
		}
	}
	if err := b.tx.QueryRowContext(ctx, sqlContactWaits, conv.ID, conv.ContactID, t.DueAt).Scan(&in.Waiting); err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, assigner.DecideAway(in))
}
