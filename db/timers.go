package db

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// Conversation deadlines (issue 12, DESIGN §6 rule 12): rows of
// conversation_timers, created, moved and deleted by the decisions that
// set or clear them (Decision.SetTimers, CancelTimers), in the same
// transaction. The scheduler lists the due ones (DueTimers) and produces
// a timer command onto the contact's partition; cmdTimer applies it only
// if the row is still there with the same due time, so whatever the
// partition applied first (a reply, a resolve) wins.

// TimerChannel is the LISTEN channel notified (on commit) whenever a
// deadline was set: it may be nearer than the one the scheduler waits for.
const TimerChannel = "wagw_timer"

// sqlTimerParts are the data-modifying parts that apply timerRows ($1–$7):
// deletes, then creates or replaces. A decision never sets and cancels one
// kind (the assigner's setTimer and cancelTimer keep them apart), so the
// two touch different rows and need not see each other's writes. sqlTimerNotifyIfSet follows them: the scheduler is notified when a
// deadline was set.
const (
	sqlTimerParts = `tc AS (DELETE FROM conversation_timers t USING unnest($1::bigint[], $2::text[]) AS u(c, k)
		WHERE t.conversation_id = u.c AND t.kind = u.k),
	ts AS (INSERT INTO conversation_timers (conversation_id, kind, due_at, round, excluded)
		SELECT c, k, d::timestamptz, r, e::bigint[] FROM unnest($3::bigint[], $4::text[], $5::text[], $6::int[], $7::text[]) AS u(c, k, d, r, e)
		ON CONFLICT (conversation_id, kind) DO UPDATE SET due_at = EXCLUDED.due_at, round = EXCLUDED.round,
			excluded = EXCLUDED.excluded, created_at = now()
		RETURNING 1)`
	sqlTimerNotifyIfSet = `SELECT pg_notify('` + TimerChannel + `', '') FROM (SELECT 1 FROM ts LIMIT 1) x`
	sqlTimersWrite      = `WITH ` + sqlTimerParts + ` ` + sqlTimerNotifyIfSet
	sqlTimerNotify      = `SELECT pg_notify('` + TimerChannel + `', '')`
)

// timerRows are the timer changes of decisions as statement arrays:
// deletes (cConv, cKind) and creates or replaces (the s columns).
type timerRows struct {
	cConv, sConv, sRound      []int64
	cKind, sKind, sDue, sExcl []string
}

// args are r as sqlTimerParts's $1–$7.
func (r timerRows) args() []any {
	return []any{pq.Array(r.cConv), texts(r.cKind),
		pq.Array(r.sConv), texts(r.sKind), texts(r.sDue), pq.Array(r.sRound), texts(r.sExcl)}
}

// timerRowsOf lists the timer changes of decisions (ds[i] about
// conversation convIDs[i]).
func timerRowsOf(convIDs []int64, ds []assigner.Decision) (timerRows, error) {
	var r timerRows
	for i, d := range ds {
		for _, k := range d.CancelTimers {
			r.cConv, r.cKind = append(r.cConv, convIDs[i]), append(r.cKind, string(k))
		}
		for _, t := range d.SetTimers {
			r.sConv, r.sKind = append(r.sConv, convIDs[i]), append(r.sKind, string(t.Kind))
			r.sDue, r.sRound = append(r.sDue, t.DueAt.UTC().Format(time.RFC3339Nano)), append(r.sRound, int64(t.Round))
			excl, err := pq.Array(append([]int64{}, t.Excluded...)).Value()
			if err != nil {
				return r, err
			}
			r.sExcl = append(r.sExcl, excl.(string))
		}
	}
	return r, nil
}

// writeTimers applies the timer changes of decisions (ds[i] about
// conversation convIDs[i]) with one statement, which notifies the
// scheduler when a deadline was set.
func (b *batch) writeTimers(ctx context.Context, convIDs []int64, ds []assigner.Decision) error {
	r, err := timerRowsOf(convIDs, ds)
	if err != nil {
		return err
	}
	if len(r.cConv) == 0 && len(r.sConv) == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(ctx, sqlTimersWrite, r.args()...); err != nil {
		return fmt.Errorf("timers: %w", err)
	}
	// A snooze set now: the batch's later messages must end it, though
	// messageRules read no snoozed conversation before.
	if b.wrote != nil && slices.Contains(r.sKind, string(assigner.TimerSnooze)) {
		b.wrote.snooze = true
	}
	return nil
}

// TimerRef is a deadline that fell due, with the key of its contact's
// partition.
type TimerRef struct {
	ConversationID int64              `db:"conversation_id"`
	Kind           assigner.TimerKind `db:"kind"`
	DueAt          time.Time          `db:"due_at"`
	ContactKey     string             `db:"key"`
}

const (
	sqlDueTimers = `SELECT t.conversation_id, t.kind, t.due_at, ct.key
		FROM conversation_timers t JOIN conversations c ON c.id = t.conversation_id JOIN contacts ct ON ct.id = c.contact_id
		WHERE t.due_at <= $1 AND ct.blocked_at IS NULL ORDER BY t.due_at, t.conversation_id LIMIT $2`
	sqlNextTimer = `SELECT min(due_at) FROM conversation_timers WHERE due_at > $1`
)

// DueTimers lists up to limit deadlines due at now, oldest first, and the
// next one after now (nil: none). Deadlines of blocked contacts are left
// out: their commands would only be held.
func (s *Store) DueTimers(ctx context.Context, now time.Time, limit int) ([]TimerRef, *time.Time, error) {
	var due []TimerRef
	if err := s.db.SelectContext(ctx, &due, sqlDueTimers, now, limit); err != nil {
		return nil, nil, fmt.Errorf("due timers: %w", err)
	}
	var next *time.Time
	if err := s.db.QueryRowContext(ctx, sqlNextTimer, now).Scan(&next); err != nil {
		return nil, nil, fmt.Errorf("next timer: %w", err)
	}
	return due, next, nil
}

const sqlTimerTake = `DELETE FROM conversation_timers WHERE conversation_id = $1 AND kind = $2 AND due_at = $3
	RETURNING round, excluded`

// cmdTimer applies a deadline that fell due, if the conversation still has
// it: the row is taken (deleted) and the rule of its kind decides.
func (b *batch) cmdTimer(ctx context.Context, id string, cmd event.TimerCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	t := assigner.Timer{Kind: cmd.Kind, DueAt: cmd.DueAt}
	var excluded pq.Int64Array
	err = b.tx.QueryRowContext(ctx, sqlTimerTake, conv.ID, string(cmd.Kind), cmd.DueAt).Scan(&t.Round, &excluded)
	if err == errNoRows {
		return assigner.Unchanged{}, nil // cancelled or moved by an event applied before
	}
	if err != nil {
		return nil, fmt.Errorf("take timer: %w", err)
	}
	t.Excluded = excluded
	switch cmd.Kind {
	case assigner.TimerNoReply:
		return b.noReply(ctx, id, conv, t)
	case assigner.TimerAway:
		return b.away(ctx, id, conv, t)
	case assigner.TimerSnooze:
		return b.wake(ctx, id, conv, t)
	case assigner.TimerSLA:
		return b.slaBreached(ctx, id, conv, t)
	case assigner.TimerAutoResolve:
		return b.autoResolve(ctx, id, conv, t)
	}
	return nil, assigner.NewError(assigner.ErrCodeInvalidCommand, fmt.Sprintf("unknown timer kind %q", cmd.Kind))
}

// sqlSent reads what the relay recorded of a conversation's messages the
// Cloud API accepted whose results are not applied yet (assigner.Sent):
// the first agent reply and the latest message of any kind. An applied
// result (accepted or failed) moved its message out of pending, and the
// deadlines by the windows of its time. The pending messages are found
// by the conversation first: the outbox has no index by message, and a
// conversation without one (nearly always) reads none of the contact's
// sends.
const sqlSent = `WITH p AS (SELECT array_agg(m.id) AS ids FROM messages m WHERE m.conversation_id = $2 AND m.status = 'pending')
	SELECT min(o.sent_at) FILTER (WHERE o.kind = 'reply' AND o.agent_id IS NOT NULL), max(o.sent_at)
	FROM p JOIN outbox o ON o.message_id = ANY(p.ids)
	WHERE p.ids IS NOT NULL AND o.contact_id = $1 AND o.state = 'sent' AND o.kind IN ('reply', 'welcome', 'closing')`

// sent reads what the relay recorded of an open conversation's sends,
// for a deadline that fell due: the relay records a send before it
// reports it on the contact's partition, so a send the Cloud API accepted
// in time can have its result applied after the deadline's command.
func (b *batch) sent(ctx context.Context, conv convState) (assigner.Sent, error) {
	var s assigner.Sent
	if !conv.Open() {
		return s, nil
	}
	if err := b.tx.QueryRowContext(ctx, sqlSent, conv.ContactID, conv.ID).Scan(&s.FirstAgentReply, &s.Latest); err != nil {
		return s, fmt.Errorf("sends: %w", err)
	}
	return s, nil
}

// noReply applies the no-reply rule to a conversation whose deadline fell due.
func (b *batch) noReply(ctx context.Context, id string, conv convState, t assigner.Timer) (assigner.Outcome, error) {
	teams, err := b.lockTeams(ctx, conv.TeamID)
	if err != nil {
		return nil, err
	}
	in := assigner.NoReplyInput{Now: b.now, Conversation: conv.Conversation, Timer: t, PresenceTimeout: b.rules.PresenceTimeout}
	if in.Sent, err = b.sent(ctx, conv); err != nil {
		return nil, err
	}
	if conv.TeamID != nil {
		if ts, ok := teams[*conv.TeamID]; ok {
			in.Team = &ts
		}
	}
	if in.Team != nil && in.Team.Team.ReassignExhausted == assigner.ExhaustedFallback {
		if in.Fallback, err = b.fallbackAgent(ctx, conv.Inbox); err != nil {
			return nil, err
		}
	}
	return b.decided(ctx, id, conv, assigner.DecideNoReply(in))
}

// fallbackAgent reads the inbox's fallback agent; nil when it has none.
func (b *batch) fallbackAgent(ctx context.Context, inbox string) (*assigner.Agent, error) {
	settings, err := b.inboxSettings(ctx, inbox)
	if err != nil || settings.FallbackAgentID == nil {
		return nil, err
	}
	agents, err := b.agents(ctx, []int64{*settings.FallbackAgentID})
	if err != nil {
		return nil, err
	}
	if a, ok := agents[*settings.FallbackAgentID]; ok {
		return &a, nil
	}
	return nil, nil
}

// sqlWakeDeadlines reads the conversation's last message time, in either
// direction as the auto-resolve rule counts them (Meta's timestamp of its
// latest received message, or when the Cloud API accepted its latest
// outbound one, as the relay recorded it), and its no-reply and
// auto-resolve deadlines (a row each, or one row without a deadline).
const sqlWakeDeadlines = `SELECT GREATEST(c.last_message_at, (SELECT max(o.sent_at) FROM outbox o JOIN messages m ON m.id = o.message_id
		WHERE o.contact_id = c.contact_id AND m.conversation_id = c.id AND m.direction = 'out')),
		t.kind, t.due_at, t.round, t.excluded
	FROM conversations c LEFT JOIN conversation_timers t ON t.conversation_id = c.id AND t.kind IN ('no_reply', 'auto_resolve')
	WHERE c.id = $1`

// wake ends the snooze of a conversation whose snooze deadline fell due.
// When the contact ended it early, it reads what DecideWake needs to bring
// in the deadlines that waited past the snooze: those deadlines, the last
// message time, the team's no-reply window and the inbox's auto-resolve
// window, each of the last two only when the conversation has that
// deadline.
func (b *batch) wake(ctx context.Context, id string, conv convState, t assigner.Timer) (assigner.Outcome, error) {
	in := assigner.WakeInput{Now: b.now, Conversation: conv.Conversation, Timer: t}
	if in.EndedEarly() {
		if err := b.wakeDeadlines(ctx, &in); err != nil {
			return nil, err
		}
	}
	if in.NoReply != nil && conv.TeamID != nil {
		team, err := b.teamSettings(ctx, *conv.TeamID)
		if err != nil {
			return nil, err
		}
		in.Team = team
		if in.Sent, err = b.sent(ctx, conv); err != nil {
			return nil, err
		}
	}
	if in.AutoResolve != nil {
		inbox, err := b.inboxSettings(ctx, conv.Inbox)
		if err != nil {
			return nil, err
		}
		in.Inbox = inbox
	}
	return b.decided(ctx, id, conv, assigner.DecideWake(in))
}

// wakeDeadlines fills in's LastMessageAt, NoReply and AutoResolve.
func (b *batch) wakeDeadlines(ctx context.Context, in *assigner.WakeInput) error {
	rows, err := b.tx.QueryContext(ctx, sqlWakeDeadlines, in.Conversation.ID)
	if err != nil {
		return fmt.Errorf("wake deadlines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind *string
		var due *time.Time
		var round *int
		var excluded pq.Int64Array
		if err := rows.Scan(&in.LastMessageAt, &kind, &due, &round, &excluded); err != nil {
			return err
		}
		if kind == nil {
			continue
		}
		tm := &assigner.Timer{Kind: assigner.TimerKind(*kind), DueAt: *due, Round: *round, Excluded: excluded}
		if tm.Kind == assigner.TimerNoReply {
			in.NoReply = tm
		} else {
			in.AutoResolve = tm
		}
	}
	return rows.Err()
}

// teamSettings is the team's settings, as locked earlier in this
// transaction or else read without the team lock: the wake decides no
// strategy pick, and taking the lock here, before the agents' rows it
// updates, would order the two locks against other batches; nil when the
// team is gone.
func (b *batch) teamSettings(ctx context.Context, id int64) (*assigner.Team, error) {
	if ts, ok := b.teams[id]; ok {
		return &ts.Team, nil
	}
	ts, err := loadTeamState(ctx, b.tx, sqlTeamState, id)
	if errors.Is(err, errNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &ts.Team, nil
}
