package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

// Configuration of agents, teams and inboxes: the writes behind the admin
// API. They are not contact state, so they do not go through the
// partitions; a change that may make an agent eligible for queued
// conversations notifies the queue channel on commit.

// The views of agents and teams are the domain's (assigner.AgentView,
// assigner.TeamView), shared by the store and the API.
type (
	AgentView = assigner.AgentView
	TeamView  = assigner.TeamView
)

// A configuration write the store refuses because of other rows is an
// *assigner.Error: a duplicate email or team name (ErrCodeDuplicateEmail,
// ErrCodeDuplicateName; it wraps ErrConflict) or a reference to an agent
// or team that does not exist (ErrCodeUnknownAgent, ErrCodeUnknownTeam; it
// wraps assigner.ErrInvalid).

// ---- agents ----

const sqlAgentViewCols = `id, name, email, role, active, capacity, presence, heartbeat_at, open_count`

func scanAgentView(row interface{ Scan(...any) error }) (AgentView, error) {
	var a AgentView
	var role, presence string
	var heartbeat *time.Time
	if err := row.Scan(&a.ID, &a.Name, &a.Email, &role, &a.Active, &a.Capacity, &presence, &heartbeat, &a.OpenCount); err != nil {
		return a, err
	}
	a.Role, a.Presence = assigner.Role(role), assigner.Presence(presence)
	if heartbeat != nil {
		a.HeartbeatAt = *heartbeat
	}
	return a, nil
}

// agentWriteErr turns a unique violation on the email into ErrCodeDuplicateEmail.
func agentWriteErr(err error, email string) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "agents_email_key" {
		return &assigner.Error{Code: assigner.ErrCodeDuplicateEmail, Message: fmt.Sprintf("an agent with email %q already exists", email), Err: ErrConflict}
	}
	return mapErr(err)
}

const sqlCreateAgent = `INSERT INTO agents (name, email, role, active, capacity, token_hash)
	VALUES ($1, $2, $3, $4, $5, $6) RETURNING ` + sqlAgentViewCols

// CreateAgent stores a new agent (offline, never heartbeated) with the
// sha256 hash of its bearer token. The agent's ID, presence and counters
// are ignored. A duplicate email is an error with ErrCodeDuplicateEmail.
func (s *Store) CreateAgent(ctx context.Context, a assigner.Agent, email string, tokenHash []byte) (AgentView, error) {
	if err := a.Validate(); err != nil {
		return AgentView{}, err
	}
	if len(tokenHash) == 0 {
		return AgentView{}, fmt.Errorf("%w: the token hash is required", assigner.ErrInvalid)
	}
	v, err := scanAgentView(s.db.QueryRowContext(ctx, sqlCreateAgent, a.Name, email, string(a.Role), a.Active, a.Capacity, tokenHash))
	if err != nil {
		return AgentView{}, agentWriteErr(err, email)
	}
	return v, nil
}

const sqlListAgents = `SELECT ` + sqlAgentViewCols + ` FROM agents ORDER BY id`

// ListAgents lists every agent, deactivated ones included, by id.
func (s *Store) ListAgents(ctx context.Context) ([]AgentView, error) {
	rows, err := s.db.QueryContext(ctx, sqlListAgents)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	out := []AgentView{}
	for rows.Next() {
		a, err := scanAgentView(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

const sqlGetAgent = `SELECT ` + sqlAgentViewCols + ` FROM agents WHERE id = $1`

// GetAgent reads one agent; ErrNotFound when there is none.
func (s *Store) GetAgent(ctx context.Context, id int64) (AgentView, error) {
	a, err := scanAgentView(s.db.QueryRowContext(ctx, sqlGetAgent, id))
	return a, mapErr(err)
}

const (
	sqlAgentForUpdate = `SELECT ` + sqlAgentViewCols + ` FROM agents WHERE id = $1 FOR UPDATE`
	sqlUpdateAgent    = `UPDATE agents SET name = $2, email = $3, role = $4, active = $5, capacity = $6, updated_at = now()
		WHERE id = $1 RETURNING ` + sqlAgentViewCols
)

// UpdateAgent changes an agent's name, email, role, active flag and
// capacity: it locks the row, lets update change the view, validates and
// writes the result. Presence, heartbeat and counters are not written
// here. When the agent was activated or its capacity changed, the queue
// drainer is notified on commit.
func (s *Store) UpdateAgent(ctx context.Context, id int64, update func(a *AgentView) error) (AgentView, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return AgentView{}, err
	}
	defer tx.Rollback()
	before, err := scanAgentView(tx.QueryRowContext(ctx, sqlAgentForUpdate, id))
	if err != nil {
		return AgentView{}, mapErr(err)
	}
	after := before
	if before.Capacity != nil {
		c := *before.Capacity
		after.Capacity = &c
	}
	if err := update(&after); err != nil {
		return AgentView{}, err
	}
	if err := after.Agent.Validate(); err != nil {
		return AgentView{}, err
	}
	v, err := scanAgentView(tx.QueryRowContext(ctx, sqlUpdateAgent, id, after.Name, after.Email, string(after.Role), after.Active, after.Capacity))
	if err != nil {
		return AgentView{}, agentWriteErr(err, after.Email)
	}
	if (v.Active && !before.Active) || !equalIntPtr(v.Capacity, before.Capacity) {
		if _, err := tx.ExecContext(ctx, sqlNotifyQueue); err != nil {
			return AgentView{}, err
		}
	}
	return v, tx.Commit()
}

func equalIntPtr(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

const sqlAgentByToken = `SELECT ` + sqlAgentViewCols + ` FROM agents WHERE token_hash = $1`

// AgentByTokenHash finds the agent whose bearer token hashes (sha256) to
// hash, deactivated or not; ErrNotFound when none does.
func (s *Store) AgentByTokenHash(ctx context.Context, hash []byte) (assigner.Agent, error) {
	v, err := scanAgentView(s.db.QueryRowContext(ctx, sqlAgentByToken, hash))
	return v.Agent, mapErr(err)
}

const sqlSetPresence = `UPDATE agents SET presence = $2, heartbeat_at = $3, lapsed_at = NULL, updated_at = now()
	WHERE id = $1 RETURNING ` + sqlAgentViewCols

// SetPresence sets an agent's presence and refreshes its heartbeat to now.
// Setting online notifies the queue drainer on commit, so that
// conversations waiting for an eligible agent are assigned at once;
// setting away or offline sets the away deadlines of the agent's
// conversations in teams with reassign_on_away (away.go).
func (s *Store) SetPresence(ctx context.Context, agentID int64, p assigner.Presence, now time.Time) (AgentView, error) {
	if !p.Valid() {
		return AgentView{}, fmt.Errorf("%w: presence %q must be online, away or offline", assigner.ErrInvalid, p)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return AgentView{}, err
	}
	defer tx.Rollback()
	v, err := scanAgentView(tx.QueryRowContext(ctx, sqlSetPresence, agentID, string(p), now))
	if err != nil {
		return AgentView{}, mapErr(err)
	}
	if p == assigner.PresenceOnline {
		if _, err := tx.ExecContext(ctx, sqlNotifyQueue); err != nil {
			return AgentView{}, err
		}
	} else if err := awayOfAgents(ctx, tx, []int64{agentID}, now); err != nil {
		return AgentView{}, err
	}
	return v, tx.Commit()
}

// ---- teams ----

const sqlTeamViewCols = `id, name, strategy, online_only, max_open, agent_visibility, reassign_after_seconds, reassign_max, reassign_exhausted, reassign_on_away`

func scanTeamView(row interface{ Scan(...any) error }) (TeamView, error) {
	var t TeamView
	var strategy, visibility, exhausted string
	if err := row.Scan(&t.ID, &t.Name, &strategy, &t.OnlineOnly, &t.MaxOpen, &visibility, &t.ReassignAfterSeconds, &t.ReassignMax, &exhausted, &t.ReassignOnAway); err != nil {
		return t, err
	}
	t.Strategy, t.AgentVisibility, t.ReassignExhausted = assigner.TeamStrategy(strategy), assigner.Visibility(visibility), assigner.ReassignExhausted(exhausted)
	t.MemberIDs = []int64{}
	return t, nil
}

// checkTeam validates a team and its member list before a write.
func checkTeam(t *assigner.Team, memberIDs []int64) error {
	if t.Strategy == "" {
		t.Strategy = assigner.StrategyRoundRobin
	}
	if t.AgentVisibility == "" {
		t.AgentVisibility = assigner.VisibilityTeam
	}
	if t.ReassignExhausted == "" {
		t.ReassignExhausted = assigner.ExhaustedKeep
	}
	errs := []error{t.Validate()}
	seen := map[int64]bool{}
	for _, id := range memberIDs {
		if seen[id] {
			errs = append(errs, fmt.Errorf("%w: agent %d is listed twice", assigner.ErrInvalid, id))
		}
		seen[id] = true
	}
	return errors.Join(errs...)
}

// teamWriteErr turns a unique violation on the name into ErrCodeDuplicateName.
func teamWriteErr(err error, name string) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "teams_name_key" {
		return &assigner.Error{Code: assigner.ErrCodeDuplicateName, Message: fmt.Sprintf("a team named %q already exists", name), Err: ErrConflict}
	}
	return mapErr(err)
}

const sqlExistingAgents = `SELECT id FROM agents WHERE id = ANY($1)`

// checkAgentsExist returns an ErrCodeUnknownAgent error naming the ids
// that are not agents. Rows it saw are kept by the foreign keys of the
// caller's writes (agents are never deleted).
func checkAgentsExist(ctx context.Context, q sqlx.QueryerContext, ids []int64) error {
	return checkExist(ctx, q, sqlExistingAgents, ids, assigner.ErrCodeUnknownAgent, "agent")
}

const sqlExistingTeams = `SELECT id FROM teams WHERE id = ANY($1)`

func checkTeamsExist(ctx context.Context, q sqlx.QueryerContext, ids []int64) error {
	return checkExist(ctx, q, sqlExistingTeams, ids, assigner.ErrCodeUnknownTeam, "team")
}

func checkExist(ctx context.Context, q sqlx.QueryerContext, query string, ids []int64, code assigner.ErrorCode, noun string) error {
	if len(ids) == 0 {
		return nil
	}
	var found []int64
	if err := sqlx.SelectContext(ctx, q, &found, query, pq.Array(ids)); err != nil {
		return err
	}
	var missing []string
	for _, id := range ids {
		if !slices.Contains(found, id) && !slices.Contains(missing, fmt.Sprint(id)) {
			missing = append(missing, fmt.Sprint(id))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	plural := ""
	if len(missing) > 1 {
		plural = "s"
	}
	return &assigner.Error{Code: code, Message: fmt.Sprintf("no %s with id%s %s", noun, plural, strings.Join(missing, ", ")), Err: assigner.ErrInvalid}
}

const (
	sqlCreateTeam = `INSERT INTO teams (name, strategy, online_only, max_open, agent_visibility, reassign_after_seconds, reassign_max,
		reassign_exhausted, reassign_on_away) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		RETURNING ` + sqlTeamViewCols
	// sqlPutTeamMembers makes the listed agents the team's members, in the
	// order given; members that stay keep their last_assigned_at.
	sqlPutTeamMembers = `INSERT INTO team_members (team_id, agent_id, position)
		SELECT $1, m.agent_id, m.position FROM unnest($2::bigint[]) WITH ORDINALITY AS m(agent_id, position)
		ON CONFLICT (team_id, agent_id) DO UPDATE SET position = EXCLUDED.position`
	sqlDropTeamMembers = `DELETE FROM team_members WHERE team_id = $1 AND NOT (agent_id = ANY($2::bigint[]))`
	sqlTeamMemberIDs   = `SELECT agent_id FROM team_members WHERE team_id = $1 ORDER BY position, agent_id`
)

// CreateTeam stores a new team with its members in the order given. An
// empty strategy is round_robin; note that the caller decides online_only
// (the API's default is true). A duplicate name is an error with
// ErrCodeDuplicateName, an unknown member one with ErrCodeUnknownAgent.
func (s *Store) CreateTeam(ctx context.Context, t assigner.Team, memberIDs []int64) (TeamView, error) {
	if err := checkTeam(&t, memberIDs); err != nil {
		return TeamView{}, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return TeamView{}, err
	}
	defer tx.Rollback()
	if err := checkAgentsExist(ctx, tx, memberIDs); err != nil {
		return TeamView{}, err
	}
	v, err := scanTeamView(tx.QueryRowContext(ctx, sqlCreateTeam, t.Name, string(t.Strategy), t.OnlineOnly, t.MaxOpen, string(t.AgentVisibility),
		t.ReassignAfterSeconds, t.ReassignMax, string(t.ReassignExhausted), t.ReassignOnAway))
	if err != nil {
		return TeamView{}, teamWriteErr(err, t.Name)
	}
	if err := putTeamMembers(ctx, tx, &v, memberIDs); err != nil {
		return TeamView{}, err
	}
	return v, tx.Commit()
}

// putTeamMembers replaces the members of v's team, reads them back into v
// and notifies the queue drainer: a new member or a new limit may make
// someone eligible.
func putTeamMembers(ctx context.Context, tx *sqlx.Tx, v *TeamView, memberIDs []int64) error {
	ids := pq.Array(append([]int64{}, memberIDs...))
	if _, err := tx.ExecContext(ctx, sqlDropTeamMembers, v.ID, ids); err != nil {
		return fmt.Errorf("team members: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlPutTeamMembers, v.ID, ids); err != nil {
		return fmt.Errorf("team members: %w", mapErr(err))
	}
	v.MemberIDs = []int64{}
	if err := tx.SelectContext(ctx, &v.MemberIDs, sqlTeamMemberIDs, v.ID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, sqlNotifyQueue)
	return err
}

const (
	sqlListTeams      = `SELECT ` + sqlTeamViewCols + ` FROM teams ORDER BY id`
	sqlAllTeamMembers = `SELECT team_id, agent_id FROM team_members ORDER BY team_id, position, agent_id`
)

// ListTeams lists every team by id, each with its member ids in order.
func (s *Store) ListTeams(ctx context.Context) ([]TeamView, error) {
	rows, err := s.db.QueryContext(ctx, sqlListTeams)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	out := []TeamView{}
	byID := map[int64]int{}
	for rows.Next() {
		t, err := scanTeamView(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		byID[t.ID] = len(out)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	members, err := s.db.QueryContext(ctx, sqlAllTeamMembers)
	if err != nil {
		return nil, fmt.Errorf("team members: %w", err)
	}
	defer members.Close()
	for members.Next() {
		var teamID, agentID int64
		if err := members.Scan(&teamID, &agentID); err != nil {
			return nil, err
		}
		if i, ok := byID[teamID]; ok { // a team created after the first query is left out
			out[i].MemberIDs = append(out[i].MemberIDs, agentID)
		}
	}
	return out, members.Err()
}

const sqlGetTeam = `SELECT ` + sqlTeamViewCols + ` FROM teams WHERE id = $1`

// GetTeam reads one team with its member ids in order; ErrNotFound when
// there is none.
func (s *Store) GetTeam(ctx context.Context, id int64) (TeamView, error) {
	t, err := scanTeamView(s.db.QueryRowContext(ctx, sqlGetTeam, id))
	if err != nil {
		return t, mapErr(err)
	}
	return t, s.db.SelectContext(ctx, &t.MemberIDs, sqlTeamMemberIDs, id)
}

const (
	// The strategies lock the team row too (FOR UPDATE), so a membership
	// change never interleaves with a decision of the same team.
	sqlTeamForUpdate = `SELECT id FROM teams WHERE id = $1 FOR UPDATE`
	sqlUpdateTeam    = `UPDATE teams SET name = $2, strategy = $3, online_only = $4, max_open = $5, agent_visibility = $6,
		reassign_after_seconds = $7, reassign_max = $8, reassign_exhausted = $9, reassign_on_away = $10, updated_at = now()
		WHERE id = $1 RETURNING ` + sqlTeamViewCols
)

// UpdateTeam replaces a team's settings and members. Members that stay
// keep their round-robin state (last_assigned_at); positions follow the
// order given. Errors are those of CreateTeam, and ErrNotFound.
func (s *Store) UpdateTeam(ctx context.Context, id int64, t assigner.Team, memberIDs []int64) (TeamView, error) {
	if err := checkTeam(&t, memberIDs); err != nil {
		return TeamView{}, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return TeamView{}, err
	}
	defer tx.Rollback()
	var locked int64
	if err := tx.QueryRowContext(ctx, sqlTeamForUpdate, id).Scan(&locked); err != nil {
		return TeamView{}, mapErr(err)
	}
	if err := checkAgentsExist(ctx, tx, memberIDs); err != nil {
		return TeamView{}, err
	}
	v, err := scanTeamView(tx.QueryRowContext(ctx, sqlUpdateTeam, id, t.Name, string(t.Strategy), t.OnlineOnly, t.MaxOpen, string(t.AgentVisibility),
		t.ReassignAfterSeconds, t.ReassignMax, string(t.ReassignExhausted), t.ReassignOnAway))
	if err != nil {
		return TeamView{}, teamWriteErr(err, t.Name)
	}
	if err := putTeamMembers(ctx, tx, &v, memberIDs); err != nil {
		return TeamView{}, err
	}
	return v, tx.Commit()
}

// ---- inboxes ----

const sqlInboxCols = `phone_number_id, name, welcome_message, first_responder_becomes_owner, routing, default_assign, fallback_agent_id,
	auto_resolve_after_seconds, closing_message, sticky_days, first_response_sla_seconds, business_hours`

func scanInboxConfig(row interface{ Scan(...any) error }) (assigner.Inbox, error) {
	var in assigner.Inbox
	var routing, def, hours []byte
	if err := row.Scan(&in.PhoneNumberID, &in.Name, &in.WelcomeMessage, &in.FirstResponderBecomesOwner,
		&routing, &def, &in.FallbackAgentID, &in.AutoResolveAfterSeconds, &in.ClosingMessage, &in.StickyDays,
		&in.FirstResponseSLASeconds, &hours); err != nil {
		return in, err
	}
	if err := decodeHours(&in, hours); err != nil {
		return in, err
	}
	if len(routing) > 0 {
		if err := json.Unmarshal(routing, &in.Routing); err != nil {
			return in, fmt.Errorf("inbox %s routing: %w", in.PhoneNumberID, err)
		}
	}
	if len(in.Routing) == 0 {
		in.Routing = nil
	}
	if len(def) > 0 && string(def) != "null" {
		in.DefaultAssign = new(assigner.Step)
		if err := json.Unmarshal(def, in.DefaultAssign); err != nil {
			return in, fmt.Errorf("inbox %s default_assign: %w", in.PhoneNumberID, err)
		}
	}
	return in, nil
}

const sqlListInboxes = `SELECT ` + sqlInboxCols + ` FROM inboxes ORDER BY phone_number_id`

// ListInboxes lists every inbox, configured or only seen in webhooks, by
// phone_number_id.
func (s *Store) ListInboxes(ctx context.Context) ([]assigner.Inbox, error) {
	rows, err := s.db.QueryContext(ctx, sqlListInboxes)
	if err != nil {
		return nil, fmt.Errorf("list inboxes: %w", err)
	}
	defer rows.Close()
	out := []assigner.Inbox{}
	for rows.Next() {
		in, err := scanInboxConfig(rows)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

const sqlGetInbox = `SELECT ` + sqlInboxCols + ` FROM inboxes WHERE phone_number_id = $1`

// GetInbox reads one inbox; ErrNotFound when the number was neither
// configured nor seen in a webhook.
func (s *Store) GetInbox(ctx context.Context, phoneNumberID string) (assigner.Inbox, error) {
	in, err := scanInboxConfig(s.db.QueryRowContext(ctx, sqlGetInbox, phoneNumberID))
	return in, mapErr(err)
}

// InboxSettings reads the assignment settings of an inbox; a number that
// has no row yet has the defaults (no welcome message, no routing, first
// responder off).
func (s *Store) InboxSettings(ctx context.Context, phoneNumberID string) (assigner.Inbox, error) {
	in, err := s.GetInbox(ctx, phoneNumberID)
	if errors.Is(err, ErrNotFound) {
		return assigner.Inbox{PhoneNumberID: phoneNumberID}, nil
	}
	return in, err
}

const sqlPutInbox = `INSERT INTO inboxes (phone_number_id, name, welcome_message, first_responder_becomes_owner,
		routing, default_assign, fallback_agent_id, auto_resolve_after_seconds, closing_message, sticky_days,
		first_response_sla_seconds, business_hours)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
	ON CONFLICT (phone_number_id) DO UPDATE SET
		name = EXCLUDED.name,
		welcome_message = EXCLUDED.welcome_message,
		first_responder_becomes_owner = EXCLUDED.first_responder_becomes_owner,
		routing = EXCLUDED.routing,
		default_assign = EXCLUDED.default_assign,
		fallback_agent_id = EXCLUDED.fallback_agent_id,
		first_response_sla_seconds = EXCLUDED.first_response_sla_seconds,
		business_hours = EXCLUDED.business_hours,
		auto_resolve_after_seconds = EXCLUDED.auto_resolve_after_seconds,
		closing_message = EXCLUDED.closing_message,
		sticky_days = EXCLUDED.sticky_days,
		updated_at = now()
	RETURNING ` + sqlInboxCols

// PutInbox creates or replaces the settings of the inbox with
// in.PhoneNumberID; a number may be configured before any webhook for it
// arrived (what webhooks learn, display number and WABA, is kept). The
// settings are validated, and every team and agent they name must exist
// (else an error with ErrCodeUnknownTeam or ErrCodeUnknownAgent).
func (s *Store) PutInbox(ctx context.Context, in assigner.Inbox) (assigner.Inbox, error) {
	if err := in.Validate(); err != nil {
		return assigner.Inbox{}, err
	}
	routing := in.Routing
	if routing == nil {
		routing = []assigner.Rule{}
	}
	routingJSON, err := json.Marshal(routing)
	if err != nil {
		return assigner.Inbox{}, err
	}
	var defJSON any // NULL when there is no default
	if in.DefaultAssign != nil {
		b, err := json.Marshal(in.DefaultAssign)
		if err != nil {
			return assigner.Inbox{}, err
		}
		defJSON = string(b)
	}
	var hoursJSON any // NULL: always open
	if in.BusinessHours != nil {
		b, err := json.Marshal(in.BusinessHours)
		if err != nil {
			return assigner.Inbox{}, err
		}
		hoursJSON = string(b)
	}
	var teamIDs, agentIDs []int64
	for _, step := range inboxSteps(in) {
		if step.TeamID != nil {
			teamIDs = append(teamIDs, *step.TeamID)
		}
		agentIDs = append(agentIDs, step.AgentIDs...)
	}
	if in.FallbackAgentID != nil {
		agentIDs = append(agentIDs, *in.FallbackAgentID)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return assigner.Inbox{}, err
	}
	defer tx.Rollback()
	if err := checkTeamsExist(ctx, tx, teamIDs); err != nil {
		return assigner.Inbox{}, err
	}
	if err := checkAgentsExist(ctx, tx, agentIDs); err != nil {
		return assigner.Inbox{}, err
	}
	out, err := scanInboxConfig(tx.QueryRowContext(ctx, sqlPutInbox, in.PhoneNumberID, in.Name, in.WelcomeMessage,
		in.FirstResponderBecomesOwner, string(routingJSON), defJSON, in.FallbackAgentID,
		in.AutoResolveAfterSeconds, in.ClosingMessage, in.StickyDays, in.FirstResponseSLASeconds, hoursJSON))
	if err != nil {
		return assigner.Inbox{}, mapErr(err)
	}
	return out, tx.Commit()
}

// decodeHours reads the inbox's business_hours column (NULL: always open).
func decodeHours(in *assigner.Inbox, raw []byte) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	in.BusinessHours = new(assigner.Hours)
	if err := json.Unmarshal(raw, in.BusinessHours); err != nil {
		return fmt.Errorf("inbox %s business_hours: %w", in.PhoneNumberID, err)
	}
	return nil
}

// inboxSteps returns every assignment step of the inbox: each rule's, then
// the default.
func inboxSteps(in assigner.Inbox) []assigner.Step {
	var steps []assigner.Step
	for _, r := range in.Routing {
		steps = append(steps, r.Assign)
	}
	if in.DefaultAssign != nil {
		steps = append(steps, *in.DefaultAssign)
	}
	return steps
}
