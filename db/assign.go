package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

var errNoRows = sql.ErrNoRows

// Rules holds the timing settings of the assignment rules.
type Rules struct {
	// PresenceTimeout: "online" needs a heartbeat this recent. Default 5 min.
	PresenceTimeout time.Duration
	// WelcomeStaleness: no welcome for an opening message older than this. Default 10 min.
	WelcomeStaleness time.Duration
	// QueueExpiry: a queued conversation moves to the inbox fallback after this. Default 7 days.
	QueueExpiry time.Duration
	// ServiceWindow: free-form messages only this long after the contact's
	// last inbound message. Default 24 h.
	ServiceWindow time.Duration
}

func (r Rules) withDefaults() Rules {
	if r.PresenceTimeout <= 0 {
		r.PresenceTimeout = assigner.DefaultPresenceTimeout
	}
	if r.WelcomeStaleness <= 0 {
		r.WelcomeStaleness = assigner.DefaultWelcomeStaleness
	}
	if r.QueueExpiry <= 0 {
		r.QueueExpiry = assigner.DefaultQueueExpiry
	}
	if r.ServiceWindow <= 0 {
		r.ServiceWindow = assigner.DefaultServiceWindow
	}
	return r
}

// SetRules changes the timing settings (before the store is used).
func (s *Store) SetRules(r Rules) { s.rules = r.withDefaults() }

// ---- loading state inside the transaction ----

const sqlConversationLock = `SELECT c.id, c.contact_id, c.inbox, c.status, c.team_id, c.opened_at,
	c.first_reply_at, c.queued_at, c.snoozed_until FROM conversations c WHERE c.id = $1 FOR UPDATE`

type convState struct {
	assigner.Conversation
	QueuedAt *time.Time
}

func (b *batch) lockConversation(ctx context.Context, id int64) (convState, error) {
	var c convState
	var status string
	err := b.tx.QueryRowContext(ctx, sqlConversationLock, id).Scan(&c.ID, &c.ContactID, &c.Inbox, &status,
		&c.TeamID, &c.OpenedAt, &c.FirstReplyAt, &c.QueuedAt, &c.SnoozedUntil)
	if err != nil {
		return c, mapErr(err)
	}
	c.Status = assigner.Status(status)
	c.Queued = c.QueuedAt != nil
	rows, err := b.tx.QueryContext(ctx, `SELECT agent_id, source FROM conversation_assignees
		WHERE conversation_id = $1 ORDER BY added_at, agent_id`, id)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var a assigner.Assignee
		if err := rows.Scan(&a.AgentID, &a.Source); err != nil {
			return c, err
		}
		c.Assignees = append(c.Assignees, a)
	}
	return c, rows.Err()
}

const (
	sqlInboxSettings = `SELECT ` + sqlInboxCols + ` FROM inboxes WHERE phone_number_id = $1`
	// sqlInboxJoinedSettings are sqlInboxCols of the row i, which may be
	// missing (sqlInboxKnown): those that are never NULL have a default
	// (TestInboxColumnListsAgree).
	sqlInboxJoinedSettings = `COALESCE(i.phone_number_id, $1), COALESCE(i.name, ''), COALESCE(i.welcome_message, ''),
		COALESCE(i.first_responder_becomes_owner, false), i.routing, i.default_assign, i.fallback_agent_id,
		i.auto_resolve_after_seconds, COALESCE(i.closing_message, ''), i.sticky_days, i.first_response_sla_seconds, i.business_hours`
)

func scanInbox(row interface{ Scan(...any) error }) (assigner.Inbox, error) {
	var in assigner.Inbox
	var routing, def, hours []byte
	if err := row.Scan(&in.PhoneNumberID, &in.Name, &in.WelcomeMessage, &in.FirstResponderBecomesOwner,
		&routing, &def, &in.FallbackAgentID, &in.AutoResolveAfterSeconds, &in.ClosingMessage, &in.StickyDays,
		&in.FirstResponseSLASeconds, &hours); err != nil {
		return in, mapErr(err)
	}
	if err := decodeHours(&in, hours); err != nil {
		return in, err
	}
	if len(routing) > 0 {
		if err := json.Unmarshal(routing, &in.Routing); err != nil {
			return in, fmt.Errorf("inbox %s routing: %w", in.PhoneNumberID, err)
		}
	}
	if len(def) > 0 && string(def) != "null" {
		in.DefaultAssign = new(assigner.Step)
		if err := json.Unmarshal(def, in.DefaultAssign); err != nil {
			return in, fmt.Errorf("inbox %s default_assign: %w", in.PhoneNumberID, err)
		}
	}
	return in, nil
}

// inboxSettings reads an inbox's settings once per batch (unless the
// batch's inbox check read them: inbox).
func (b *batch) inboxSettings(ctx context.Context, pnid string) (assigner.Inbox, error) {
	if in, ok := b.settings[pnid]; ok {
		return in, nil
	}
	in, err := scanInbox(b.tx.QueryRowContext(ctx, sqlInboxSettings, pnid))
	if err == nil {
		b.cacheSettings(in)
	}
	return in, err
}

// cacheSettings keeps an inbox's settings for the rest of the batch.
func (b *batch) cacheSettings(in assigner.Inbox) {
	if b.settings == nil {
		b.settings = map[string]assigner.Inbox{}
	}
	b.settings[in.PhoneNumberID] = in
}

const sqlAgentsByID = `SELECT id, name, role, active, capacity, presence, COALESCE(heartbeat_at, 'epoch'), open_count
	FROM agents WHERE id = ANY($1) ORDER BY id`

func scanAgent(row interface{ Scan(...any) error }) (assigner.Agent, error) {
	var a assigner.Agent
	var role, presence string
	err := row.Scan(&a.ID, &a.Name, &role, &a.Active, &a.Capacity, &presence, &a.HeartbeatAt, &a.OpenCount)
	a.Role, a.Presence = assigner.Role(role), assigner.Presence(presence)
	if a.HeartbeatAt.Unix() == 0 {
		a.HeartbeatAt = time.Time{}
	}
	return a, err
}

func (b *batch) agents(ctx context.Context, ids []int64) (map[int64]assigner.Agent, error) {
	out := map[int64]assigner.Agent{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := b.tx.QueryContext(ctx, sqlAgentsByID, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out[a.ID] = a
	}
	return out, rows.Err()
}

const (
	// The team lock serialises every strategy decision of one team, so
	// two conversations decided at once never pick the same "next" agent.
	//
	// It is an advisory lock keyed by the team, not the team row: the
	// foreign keys to teams take share locks on that row, which would
	// queue behind and deadlock with a row lock.
	sqlTeamLock = `WITH l AS (SELECT pg_advisory_xact_lock(727378, $1::int))
		SELECT id, name, strategy, online_only, max_open, reassign_after_seconds, reassign_max, reassign_exhausted, reassign_on_away
		FROM teams, l WHERE id = $1`
	sqlTeamMembers = `SELECT a.id, a.name, a.role, a.active, a.capacity, a.presence, COALESCE(a.heartbeat_at, 'epoch'), a.open_count,
		COALESCE(m.last_assigned_at, 'epoch'), m.position
		FROM team_members m JOIN agents a ON a.id = m.agent_id WHERE m.team_id = $1 ORDER BY m.position, a.id`
)

// lockTeams locks and loads the named teams (in id order, to avoid deadlocks).
func (b *batch) lockTeams(ctx context.Context, ids ...*int64) (map[int64]assigner.TeamState, error) {
	out := map[int64]assigner.TeamState{}
	var want []int64
	for _, id := range ids {
		if id != nil && !slices.Contains(want, *id) {
			want = append(want, *id)
		}
	}
	slices.Sort(want)
	if b.teams == nil {
		b.teams = map[int64]assigner.TeamState{}
	}
	for _, id := range want {
		if ts, ok := b.teams[id]; ok { // locked earlier in this transaction
			out[id] = ts
			continue
		}
		ts, err := loadTeamState(ctx, b.tx, sqlTeamLock, id)
		if errors.Is(err, errNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = ts
		b.teams[id] = ts
	}
	return out, nil
}

// sqlTeamState reads a team's strategy settings without locking them.
const sqlTeamState = `SELECT id, name, strategy, online_only, max_open, reassign_after_seconds, reassign_max, reassign_exhausted, reassign_on_away
	FROM teams WHERE id = $1`

// TeamState reads a team with its members as a strategy sees them, without
// locking anything (the console's "who is picked next"); ErrNotFound when
// there is no such team.
func (s *Store) TeamState(ctx context.Context, id int64) (assigner.TeamState, error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return assigner.TeamState{}, err
	}
	defer tx.Rollback()
	ts, err := loadTeamState(ctx, tx, sqlTeamState, id)
	if errors.Is(err, errNoRows) {
		return ts, ErrNotFound
	}
	return ts, err
}

// loadTeamState reads a team with teamSQL (one of its id, its strategy
// settings) and its members, in one snapshot of q.
func loadTeamState(ctx context.Context, q sqlx.QueryerContext, teamSQL string, id int64) (assigner.TeamState, error) {
	var ts assigner.TeamState
	var strategy, exhausted string
	err := q.QueryRowxContext(ctx, teamSQL, id).Scan(&ts.Team.ID, &ts.Team.Name, &strategy, &ts.Team.OnlineOnly, &ts.Team.MaxOpen,
		&ts.Team.ReassignAfterSeconds, &ts.Team.ReassignMax, &exhausted, &ts.Team.ReassignOnAway)
	if err != nil {
		return ts, err
	}
	ts.Team.Strategy, ts.Team.ReassignExhausted = assigner.TeamStrategy(strategy), assigner.ReassignExhausted(exhausted)
	rows, err := q.QueryContext(ctx, sqlTeamMembers, id)
	if err != nil {
		return ts, err
	}
	defer rows.Close()
	for rows.Next() {
		var m assigner.Member
		var role, presence string
		if err := rows.Scan(&m.ID, &m.Name, &role, &m.Active, &m.Capacity, &presence, &m.HeartbeatAt, &m.OpenCount, &m.LastAssignedAt, &m.Position); err != nil {
			return ts, err
		}
		m.Role, m.Presence = assigner.Role(role), assigner.Presence(presence)
		if m.HeartbeatAt.Unix() == 0 {
			m.HeartbeatAt = time.Time{}
		}
		if m.LastAssignedAt.Unix() == 0 {
			m.LastAssignedAt = time.Time{}
		}
		ts.Members = append(ts.Members, m)
	}
	return ts, rows.Err()
}

// remember keeps the locked teams' cached state equal to what persist
// wrote: picks move LastAssignedAt, assignments move open counts.
func (b *batch) remember(d assigner.Decision) {
	for tid, ts := range b.teams {
		changed := false
		for i := range ts.Members {
			m := &ts.Members[i]
			if delta, ok := d.OpenCountDelta[m.ID]; ok {
				m.OpenCount = max(0, m.OpenCount+delta)
				changed = true
			}
			if d.TeamID != nil && *d.TeamID == tid && slices.Contains(d.Chosen, m.ID) {
				m.LastAssignedAt = d.ChosenAt
				changed = true
			}
		}
		if changed {
			ts.Members = slices.Clone(ts.Members)
			b.teams[tid] = ts
		}
	}
}

// ---- persisting a decision ----

const (
	sqlOwnerAdd = `INSERT INTO contact_owners (contact_id, agent_id, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
)

// sqlPersist writes every effect of a decision and logs it, in one
// statement: data-modifying WITH clauses run exactly once whether or not the
// final INSERT reads them.
const sqlPersist = `WITH
	conv AS (UPDATE conversations SET team_id = $2::bigint,
		queued_at = CASE WHEN $3::boolean THEN COALESCE(queued_at, $6::timestamptz) ELSE NULL END,
		first_reply_at = COALESCE(first_reply_at, $4::timestamptz),
		status = CASE WHEN $5::boolean THEN 'resolved' ELSE status END,
		resolved_at = CASE WHEN $5::boolean THEN $6::timestamptz ELSE resolved_at END,
		snoozed_until = CASE WHEN $21::boolean THEN NULL ELSE COALESCE($22::timestamptz, snoozed_until) END
		WHERE id = $1),
	removed AS (DELETE FROM conversation_assignees WHERE conversation_id = $1 AND agent_id = ANY($7::bigint[])),
	added AS (INSERT INTO conversation_assignees (conversation_id, agent_id, source, added_at)
		SELECT $1, a, s, $6::timestamptz FROM unnest($8::bigint[], $9::text[]) AS u(a, s)
		ON CONFLICT (conversation_id, agent_id) DO UPDATE SET source = EXCLUDED.source),
	counts AS (UPDATE agents SET open_count = GREATEST(0, open_count + u.d)
		FROM unnest($10::bigint[], $11::int[]) AS u(id, d) WHERE agents.id = u.id),
	picked AS (UPDATE team_members SET last_assigned_at = $14::timestamptz
		WHERE team_id = $12::bigint AND agent_id = ANY($13::bigint[])),
	owner AS (INSERT INTO contact_owners (contact_id, agent_id, source)
		SELECT $15::bigint, $16::bigint, 'first_responder' WHERE $16::bigint IS NOT NULL ON CONFLICT DO NOTHING)
	INSERT INTO decisions (conversation_id, event_id, rule, summary, decision, created_at)
	VALUES ($1, $17, $18, $19, $20::jsonb, $6::timestamptz)`

// persist writes a decision's effects and logs it with its reasons.
func (b *batch) persist(ctx context.Context, eventID string, conv convState, d assigner.Decision) error {
	d.ConversationID = conv.ID
	removed := make([]int64, 0, len(d.Removed))
	for _, a := range d.Removed {
		removed = append(removed, a.AgentID)
	}
	var addIDs []int64
	var addSources []string
	for _, a := range append(slices.Clone(d.Added), d.Updated...) {
		addIDs = append(addIDs, a.AgentID)
		addSources = append(addSources, string(a.Source))
	}
	ids := make([]int64, 0, len(d.OpenCountDelta))
	for id := range d.OpenCountDelta {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	deltas := make([]int64, len(ids))
	for i, id := range ids {
		deltas[i] = int64(d.OpenCountDelta[id])
	}
	var pickTeam *int64
	if len(d.Chosen) > 0 {
		pickTeam = d.TeamID
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := b.tx.ExecContext(ctx, sqlPersist, conv.ID, d.TeamID, d.Queued, d.FirstReplyAt, d.Resolved, b.now,
		pq.Array(removed), pq.Array(addIDs), pq.Array(addSources), pq.Array(ids), pq.Array(deltas),
		pickTeam, pq.Array(d.Chosen), d.ChosenAt, conv.ContactID, d.NewOwnerID,
		eventID, d.Rule, d.Summary(), string(raw), d.Unsnoozed, d.SnoozedUntil); err != nil {
		return fmt.Errorf("persist decision: %w", err)
	}
	if err := b.writeTimers(ctx, []int64{conv.ID}, []assigner.Decision{d}); err != nil {
		return err
	}
	// Capacity freed: an agent may now take a queued conversation.
	if d.Resolved || len(d.Removed) > 0 {
		if _, err := b.tx.ExecContext(ctx, sqlNotifyQueue); err != nil {
			return err
		}
	}
	b.remember(d)
	if len(conv.Assignees) == 0 && len(d.Added) > 0 {
		b.noteAssigned(conv.OpenedAt)
	}
	return nil
}

// ---- rules ----

// openedAt is the opening message's time as stored on the conversation.
func openedAt(e *event.Envelope) time.Time {
	if e.Message == nil {
		return e.OccurredAt
	}
	if t := e.Message.Time(); !t.IsZero() {
		return t
	}
	return e.OccurredAt
}

// conversationOpened runs the assignment and welcome rules for a
// conversation the contact just opened (DESIGN §6 rules 1, 2, 4, 6–11),
// right away: the one-by-one path's use of decideOpenings. handover is
// set when control of the contact's thread came to wagw with it.
func (b *batch) conversationOpened(ctx context.Context, e *event.Envelope, c contactRow, convID int64, handover *assigner.RoutingChange) error {
	b.openings = append(b.openings, opening{e: e, c: c, convID: convID, handover: handover})
	return b.decideOpenings(ctx)
}

const (
	sqlOutboundInsert = `WITH m AS (
			INSERT INTO messages (direction, contact_id, conversation_id, inbox, type, body, context_wamid,
				sent_at, received_at, status, author_agent_id)
			VALUES ('out', $1, $2, $3, $4, $5, $6, $7, $7, 'pending', $8) RETURNING id)
		INSERT INTO outbox (contact_id, contact_key, conversation_id, message_id, phone_number_id, recipient, kind, agent_id, payload)
		SELECT $1, ct.key, $2, m.id, $3, $11, $9, $8, $10 FROM m, contacts ct WHERE ct.id = $1
		ON CONFLICT DO NOTHING RETURNING message_id`
	sqlContactIdentity = `SELECT key, COALESCE(wa_id, ''), COALESCE(user_id, ''), last_inbound_at FROM contacts WHERE id = $1`
)

func (b *batch) contactIdentity(ctx context.Context, contactID int64) (key, waID, userID string, lastInbound *time.Time, err error) {
	err = b.tx.QueryRowContext(ctx, sqlContactIdentity, contactID).Scan(&key, &waID, &userID, &lastInbound)
	return key, waID, userID, lastInbound, mapErr(err)
}

// queueOutbound stores an outbound message and its outbox row in one
// statement. It returns ok=false when the outbox already had the row (a
// second welcome for a conversation), and then stores nothing.
func (b *batch) queueOutbound(ctx context.Context, contactID, convID int64, pnid, kind string,
	agentID *int64, msg whatsapp.OutboundMessage, body, contextWAMID string) (messageID int64, ok bool, err error) {
	payload, err := json.Marshal(msg)
	if err != nil {
		return 0, false, err
	}
	err = b.tx.QueryRowContext(ctx, sqlOutboundInsert, contactID, convID, pnid, msg.Type, body, contextWAMID, b.now, agentID,
		kind, string(payload), msg.To).Scan(&messageID)
	if errors.Is(err, errNoRows) {
		// The outbox refused the row: drop the message row it was for.
		_, err = b.tx.ExecContext(ctx, `DELETE FROM messages m WHERE m.conversation_id = $1 AND m.direction = 'out'
			AND m.status = 'pending' AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id)`, convID)
		return 0, false, err
	}
	if err != nil {
		return 0, false, fmt.Errorf("outbound message: %w", err)
	}
	return messageID, true, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
