package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

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

const sqlNotifyQueue = `SELECT pg_notify('wagw_queue', '')`

// QueueChannel is the LISTEN channel notified (on commit) whenever an agent
// may have become eligible for queued conversations.
const QueueChannel = "wagw_queue"

// ---- loading state inside the transaction ----

const sqlConversationLock = `SELECT c.id, c.contact_id, c.inbox, c.status, c.team_id, c.opened_at,
	c.first_reply_at, c.queued_at FROM conversations c WHERE c.id = $1 FOR UPDATE`

type convState struct {
	assigner.Conversation
	QueuedAt *time.Time
}

func (b *batch) lockConversation(ctx context.Context, id int64) (convState, error) {
	var c convState
	var status string
	err := b.tx.QueryRowContext(ctx, sqlConversationLock, id).Scan(&c.ID, &c.ContactID, &c.Inbox, &status,
		&c.TeamID, &c.OpenedAt, &c.FirstReplyAt, &c.QueuedAt)
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

const sqlInboxSettings = `SELECT phone_number_id, name, welcome_message, first_responder_becomes_owner,
	routing, default_assign, fallback_agent_id FROM inboxes WHERE phone_number_id = $1`

func scanInbox(row interface{ Scan(...any) error }) (assigner.Inbox, error) {
	var in assigner.Inbox
	var routing, def []byte
	if err := row.Scan(&in.PhoneNumberID, &in.Name, &in.WelcomeMessage, &in.FirstResponderBecomesOwner,
		&routing, &def, &in.FallbackAgentID); err != nil {
		return in, mapErr(err)
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

// inboxSettings reads an inbox's settings once per batch.
func (b *batch) inboxSettings(ctx context.Context, pnid string) (assigner.Inbox, error) {
	if in, ok := b.settings[pnid]; ok {
		return in, nil
	}
	in, err := scanInbox(b.tx.QueryRowContext(ctx, sqlInboxSettings, pnid))
	if err == nil {
		if b.settings == nil {
			b.settings = map[string]assigner.Inbox{}
		}
		b.settings[pnid] = in
	}
	return in, err
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
		SELECT id, name, strategy, online_only, max_open FROM teams, l WHERE id = $1`
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
		var ts assigner.TeamState
		var strategy string
		err := b.tx.QueryRowContext(ctx, sqlTeamLock, id).Scan(&ts.Team.ID, &ts.Team.Name, &strategy, &ts.Team.OnlineOnly, &ts.Team.MaxOpen)
		if errors.Is(err, errNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ts.Team.Strategy = assigner.TeamStrategy(strategy)
		rows, err := b.tx.QueryContext(ctx, sqlTeamMembers, id)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var m assigner.Member
			var role, presence string
			if err := rows.Scan(&m.ID, &m.Name, &role, &m.Active, &m.Capacity, &presence, &m.HeartbeatAt, &m.OpenCount, &m.LastAssignedAt, &m.Position); err != nil {
				rows.Close()
				return nil, err
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
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		out[id] = ts
		b.teams[id] = ts
	}
	return out, nil
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
		resolved_at = CASE WHEN $5::boolean THEN $6::timestamptz ELSE resolved_at END
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
		eventID, d.Rule, d.Summary(), string(raw)); err != nil {
		return fmt.Errorf("persist decision: %w", err)
	}
	// Capacity freed: an agent may now take a queued conversation.
	if d.Resolved || len(d.Removed) > 0 {
		if _, err := b.tx.ExecContext(ctx, sqlNotifyQueue); err != nil {
			return err
		}
	}
	b.remember(d)
	return nil
}

// ---- rules ----

// openedAt is the opening message's time as stored on the conversation.
func openedAt(e *event.Envelope) time.Time {
	if t := e.Message.Time(); !t.IsZero() {
		return t
	}
	return e.OccurredAt
}

// conversationOpened runs the assignment and welcome rules for a
// conversation the contact just opened (DESIGN §6 rules 1, 2, 4, 6–11),
// right away: the one-by-one path's use of decideOpenings.
func (b *batch) conversationOpened(ctx context.Context, e *event.Envelope, c contactRow, convID int64) error {
	b.openings = append(b.openings, opening{e: e, c: c, convID: convID})
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

// ---- commands ----

const (
	sqlOutcomeInsert = `INSERT INTO command_results (command_id, kind, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
	sqlRefusedInsert = `INSERT INTO command_results (command_id, error_code, error_message) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`
	sqlResultNotify = `SELECT pg_notify('wagw_result', $1)`
)

// applyCommand applies one command from the API or the relay and stores its
// result for the caller: its outcome, or the domain error that refused it
// (a rule it breaks, something it names that does not exist). Only other
// errors fail the batch.
func (b *batch) applyCommand(ctx context.Context, e *event.Envelope, c contactRow) (Outcome, error) {
	first, err := b.firstTime(ctx, e)
	if err != nil || !first {
		return Outcome{Duplicate: !first}, err
	}
	out, err := b.runCommand(ctx, e)
	if derr, ok := assigner.AsError(err); ok {
		return Outcome{}, b.storeRefused(ctx, e.ID, derr)
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{}, b.storeOutcome(ctx, e.ID, out)
}

// runCommand decodes a command and runs its handler.
func (b *batch) runCommand(ctx context.Context, e *event.Envelope) (assigner.Outcome, error) {
	cmd, err := event.DecodeCommand(e)
	if err != nil {
		return nil, err
	}
	switch c := cmd.(type) {
	case event.AssignCommand:
		return b.cmdAssign(ctx, e.ID, c)
	case event.UnassignCommand:
		return b.cmdUnassign(ctx, e.ID, c)
	case event.ClaimCommand:
		return b.cmdClaim(ctx, e.ID, c)
	case event.ResolveCommand:
		return b.cmdResolve(ctx, e.ID, c)
	case event.SetOwnersCommand:
		return b.cmdSetOwners(ctx, c)
	case event.DrainCommand:
		return b.cmdDrain(ctx, e.ID, c, c.Expire)
	case event.ReplyCommand:
		return b.cmdReply(ctx, c)
	case event.MarkReadCommand:
		return b.cmdMarkRead(ctx, c)
	case event.SendResultCommand:
		return b.cmdSendResult(ctx, e.ID, c)
	case event.ReleaseCommand:
		return b.cmdRelease(ctx, c)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownCommand, e.Command.Type)
}

// commandConversation locks the conversation a command names.
func (b *batch) commandConversation(ctx context.Context, id int64) (convState, error) {
	conv, err := b.lockConversation(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return conv, assigner.NotFound("conversation")
	}
	return conv, err
}

// commandAgent reads the agent a command names.
func (b *batch) commandAgent(ctx context.Context, id int64) (assigner.Agent, error) {
	agents, err := b.agents(ctx, []int64{id})
	if err != nil {
		return assigner.Agent{}, err
	}
	a, ok := agents[id]
	if !ok {
		return a, assigner.NotFound("agent")
	}
	return a, nil
}

// storeOutcome stores what an applied command did.
func (b *batch) storeOutcome(ctx context.Context, id string, o assigner.Outcome) error {
	value, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return b.storeResult(ctx, sqlOutcomeInsert, id, string(o.Kind()), string(value))
}

// storeRefused stores why a command was refused.
func (b *batch) storeRefused(ctx context.Context, id string, e *assigner.Error) error {
	return b.storeResult(ctx, sqlRefusedInsert, id, string(e.Code), e.Message)
}

// storeResult stores a command's result with insert and tells the API
// (pg_notify on commit) that it is there.
func (b *batch) storeResult(ctx context.Context, insert, id string, fields ...any) error {
	if _, err := b.tx.ExecContext(ctx, insert, append([]any{id}, fields...)...); err != nil {
		return fmt.Errorf("command result: %w", err)
	}
	_, err := b.tx.ExecContext(ctx, sqlResultNotify, id)
	return err
}

// decided persists d and returns the conversation as it now is.
func (b *batch) decided(ctx context.Context, eventID string, conv convState, d assigner.Decision) (assigner.Outcome, error) {
	if err := b.persist(ctx, eventID, conv, d); err != nil {
		return nil, err
	}
	after, err := b.lockConversation(ctx, conv.ID)
	if err != nil {
		return nil, err
	}
	return assigner.NewDecided(after.Conversation, d), nil
}

func (b *batch) actorName(ctx context.Context, a assigner.Actor) string {
	if a.AgentID == 0 {
		return "an admin"
	}
	var name string
	b.tx.QueryRowContext(ctx, `SELECT name FROM agents WHERE id = $1`, a.AgentID).Scan(&name)
	return name
}

func (b *batch) cmdAssign(ctx context.Context, id string, cmd event.AssignCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	// The current assignees too, so that the reasons name whoever is kept or removed.
	load := slices.Clone(cmd.AgentIDs)
	for _, a := range conv.Assignees {
		load = append(load, a.AgentID)
	}
	agents, err := b.agents(ctx, load)
	if err != nil {
		return nil, err
	}
	teams, err := b.lockTeams(ctx, cmd.TeamID, conv.TeamID)
	if err != nil {
		return nil, err
	}
	d, err := assigner.DecideManual(assigner.ManualInput{Now: b.now, Conversation: conv.Conversation, TeamID: cmd.TeamID,
		AgentIDs: cmd.AgentIDs, Mode: cmd.Mode, Agents: agents, Teams: teams, By: b.actorName(ctx, cmd.By),
		PresenceTimeout: b.rules.PresenceTimeout})
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, d)
}

func (b *batch) cmdUnassign(ctx context.Context, id string, cmd event.UnassignCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	a, err := b.commandAgent(ctx, cmd.AgentID)
	if err != nil {
		return nil, err
	}
	d, err := assigner.DecideUnassign(conv.Conversation, a)
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, d)
}

func (b *batch) cmdClaim(ctx context.Context, id string, cmd event.ClaimCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	a, err := b.commandAgent(ctx, cmd.AgentID)
	if err != nil {
		return nil, err
	}
	teams, err := b.lockTeams(ctx, conv.TeamID)
	if err != nil {
		return nil, err
	}
	d, err := assigner.DecideClaim(assigner.ClaimInput{Now: b.now, Conversation: conv.Conversation, Agent: a, Teams: teams})
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, d)
}

func (b *batch) cmdResolve(ctx context.Context, id string, cmd event.ResolveCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, assigner.DecideResolve(conv.Conversation))
}

const (
	sqlOwnersDelete = `DELETE FROM contact_owners WHERE contact_id = $1 AND NOT (agent_id = ANY($2))`
	sqlContactExist = `SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1)`
)

func (b *batch) cmdSetOwners(ctx context.Context, cmd event.SetOwnersCommand) (assigner.Outcome, error) {
	var exists bool
	if err := b.tx.QueryRowContext(ctx, sqlContactExist, cmd.ContactID).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, assigner.NotFound("contact")
	}
	agents, err := b.agents(ctx, cmd.AgentIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range cmd.AgentIDs {
		if _, ok := agents[id]; !ok {
			return nil, assigner.NewError(assigner.ErrCodeUnknownAgent, fmt.Sprintf("agent %d does not exist", id))
		}
	}
	if _, err := b.tx.ExecContext(ctx, sqlOwnersDelete, cmd.ContactID, pq.Array(cmd.AgentIDs)); err != nil {
		return nil, err
	}
	for _, id := range cmd.AgentIDs {
		if _, err := b.tx.ExecContext(ctx, sqlOwnerAdd, cmd.ContactID, id, "manual"); err != nil {
			return nil, err
		}
	}
	ids := slices.Clone(cmd.AgentIDs)
	if ids == nil {
		ids = []int64{}
	}
	return assigner.OwnersSet{ContactID: cmd.ContactID, OwnerIDs: ids}, nil
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
		if inbox.FallbackAgentID != nil {
			agents, err := b.agents(ctx, []int64{*inbox.FallbackAgentID})
			if err != nil {
				return nil, err
			}
			if a, ok := agents[*inbox.FallbackAgentID]; ok {
				in.Fallback = &a
			}
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
