package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wagw/wagw/assigner"
)

// The admin API: agents, presence, teams and inbox settings. These are
// configuration, not contact state, so the handlers write them through the
// store directly instead of producing commands. Admins read and write
// them all. A supervisor reads the agents, and reads and edits the teams
// they are a member of (members and settings); an agent reads the teams
// they are a member of. A team the caller may not read is 404. Everyone
// reads their own profile (GET /v1/me) and sets their own presence.

// The views of agents and teams are the domain's (assigner.AgentView,
// assigner.TeamView), shared by the store and the API.
type (
	AgentView = assigner.AgentView
	TeamView  = assigner.TeamView
)

// Errors of the stores below: an unknown id is assigner.ErrNotFound;
// invalid settings wrap assigner.ErrInvalid; a refusal caused by other
// rows (duplicate email or team name, unknown member, team or agent) is
// an *assigner.Error with its code.

// AgentStore is what the agent handlers (and /v1/me) need.
type AgentStore interface {
	CreateAgent(ctx context.Context, a assigner.Agent, email string, tokenHash []byte) (AgentView, error)
	ListAgents(ctx context.Context) ([]AgentView, error)
	GetAgent(ctx context.Context, id int64) (AgentView, error)
	// UpdateAgent locks the agent, lets update change name, email, role,
	// active and capacity, validates and writes them.
	UpdateAgent(ctx context.Context, id int64, update func(a *AgentView) error) (AgentView, error)
	SetPresence(ctx context.Context, agentID int64, p assigner.Presence, now time.Time) (AgentView, error)
}

// TeamStore is what the team handlers need.
type TeamStore interface {
	CreateTeam(ctx context.Context, t assigner.Team, memberIDs []int64) (TeamView, error)
	ListTeams(ctx context.Context) ([]TeamView, error)
	GetTeam(ctx context.Context, id int64) (TeamView, error)
	UpdateTeam(ctx context.Context, id int64, t assigner.Team, memberIDs []int64) (TeamView, error)
	// TeamState is the team as its strategy sees it (board.go).
	TeamState(ctx context.Context, id int64) (assigner.TeamState, error)
}

// InboxStore is what the inbox handlers need.
type InboxStore interface {
	ListInboxes(ctx context.Context) ([]assigner.Inbox, error)
	GetInbox(ctx context.Context, phoneNumberID string) (assigner.Inbox, error)
	PutInbox(ctx context.Context, in assigner.Inbox) (assigner.Inbox, error)
}

// adminRoutes registers the admin API on the authenticated /v1 group.
func (s *Server) adminRoutes(v1 fiber.Router) {
	v1.Post("/agents", s.createAgent)
	v1.Get("/agents", s.listAgents)
	v1.Get("/agents/:id", s.getAgent)
	v1.Patch("/agents/:id", s.patchAgent)
	v1.Put("/agents/:id/presence", s.putPresence)
	v1.Post("/teams", s.createTeam)
	v1.Get("/teams", s.listTeams)
	v1.Get("/teams/:id", s.getTeam)
	v1.Put("/teams/:id", s.putTeam)
	v1.Get("/teams/:id/next", s.nextPick)
	v1.Get("/inboxes", s.listInboxes)
	v1.Get("/inboxes/:phone_number_id", s.getInbox)
	v1.Put("/inboxes/:phone_number_id", s.putInbox)
	v1.Get("/me", s.me)
}

// ---- agents ----

// agentJSON is an agent as the API shows it; Token only at creation.
type agentJSON struct {
	ID          int64             `json:"id"`
	Name        string            `json:"name"`
	Email       string            `json:"email"`
	Role        assigner.Role     `json:"role"`
	Active      bool              `json:"active"`
	Capacity    *int              `json:"capacity"`
	Presence    assigner.Presence `json:"presence"`
	HeartbeatAt *time.Time        `json:"heartbeat_at"`
	OpenCount   int               `json:"open_count"`
	Token       string            `json:"token,omitempty"`
}

func agentOut(a AgentView) agentJSON {
	out := agentJSON{ID: a.ID, Name: a.Name, Email: a.Email, Role: a.Role, Active: a.Active, Capacity: a.Capacity,
		Presence: a.Presence, OpenCount: a.OpenCount}
	if !a.HeartbeatAt.IsZero() {
		hb := a.HeartbeatAt.UTC()
		out.HeartbeatAt = &hb
	}
	return out
}

// optionalInt tells an absent field (Set false) from null (Value nil).
type optionalInt struct {
	Set   bool
	Value *int
}

func (o *optionalInt) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

func checkEmail(email string) error {
	if len(email) > maxEmailLen {
		return apiError(fiber.StatusUnprocessableEntity, "invalid_agent", fmt.Sprintf("email has %d bytes; the limit is %d", len(email), maxEmailLen))
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return apiError(fiber.StatusUnprocessableEntity, "invalid_agent", fmt.Sprintf("email %q is not a plain email address", email))
	}
	return nil
}

type createAgentRequest struct {
	Name     string        `json:"name"`
	Email    string        `json:"email"`
	Role     assigner.Role `json:"role"`
	Active   *bool         `json:"active"`
	Capacity *int          `json:"capacity"`
}

// createAgent answers 201 with the agent and its bearer token, which is
// shown only here: the store keeps its sha256 hash.
func (s *Server) createAgent(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var req createAgentRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	req.Name, req.Email = strings.TrimSpace(req.Name), strings.TrimSpace(req.Email)
	if req.Role == "" {
		req.Role = assigner.RoleAgent
	}
	a := assigner.Agent{Name: req.Name, Role: req.Role, Active: req.Active == nil || *req.Active, Capacity: req.Capacity}
	if err := errors.Join(checkName("invalid_agent", "name", a.Name), checkLimit("invalid_agent", "capacity", a.Capacity)); err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return adminErr(err, "invalid_agent", "agent")
	}
	if err := checkEmail(req.Email); err != nil {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	tok := hex.EncodeToString(raw)
	hash := sha256.Sum256([]byte(tok)) // as agentPrincipal looks it up
	v, err := s.agents.CreateAgent(c.UserContext(), a, req.Email, hash[:])
	if err != nil {
		return adminErr(err, "invalid_agent", "agent")
	}
	s.gate.valid(hash, false) // no lookup was taken for it
	out := agentOut(v)
	out.Token = tok
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (s *Server) listAgents(c *fiber.Ctx) error {
	if err := requireSupervisor(c); err != nil {
		return err
	}
	list, err := s.agents.ListAgents(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]agentJSON, len(list))
	for i, a := range list {
		out[i] = agentOut(a)
	}
	return c.JSON(fiber.Map{"agents": out})
}

func (s *Server) getAgent(c *fiber.Ctx) error {
	if err := requireSupervisor(c); err != nil {
		return err
	}
	id, err := refParam(c, "id")
	if err != nil {
		return err
	}
	a, err := s.agents.GetAgent(c.UserContext(), id)
	if err != nil {
		return adminErr(err, "invalid_agent", "agent")
	}
	return c.JSON(agentOut(a))
}

type patchAgentRequest struct {
	Name     *string        `json:"name"`
	Email    *string        `json:"email"`
	Role     *assigner.Role `json:"role"`
	Active   *bool          `json:"active"`
	Capacity optionalInt    `json:"capacity"` // null clears the limit
}

// patchAgent changes the fields given; "capacity": null removes the limit.
func (s *Server) patchAgent(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	id, err := refParam(c, "id")
	if err != nil {
		return err
	}
	var req patchAgentRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Email != nil {
		*req.Email = strings.TrimSpace(*req.Email)
		if err := checkEmail(*req.Email); err != nil {
			return err
		}
	}
	if req.Name != nil {
		if err := checkName("invalid_agent", "name", *req.Name); err != nil {
			return err
		}
	}
	if err := checkLimit("invalid_agent", "capacity", req.Capacity.Value); err != nil {
		return err
	}
	v, err := s.agents.UpdateAgent(c.UserContext(), id, func(a *AgentView) error {
		if req.Name != nil {
			a.Name = strings.TrimSpace(*req.Name)
		}
		if req.Email != nil {
			a.Email = *req.Email
		}
		if req.Role != nil {
			a.Role = *req.Role
		}
		if req.Active != nil {
			a.Active = *req.Active
		}
		if req.Capacity.Set {
			a.Capacity = req.Capacity.Value
		}
		return nil
	})
	if err != nil {
		return adminErr(err, "invalid_agent", "agent")
	}
	return c.JSON(agentOut(v))
}

type presenceRequest struct {
	Status assigner.Presence `json:"status"`
}

// putPresence sets an agent's presence and refreshes its heartbeat. An
// agent may set only their own; an admin anyone's.
func (s *Server) putPresence(c *fiber.Ctx) error {
	id, err := refParam(c, "id")
	if err != nil {
		return err
	}
	if p := who(c); !p.Admin && p.AgentID != id {
		return apiError(fiber.StatusForbidden, "forbidden", "an agent may set only their own presence")
	}
	var req presenceRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if !req.Status.Valid() {
		return apiError(fiber.StatusUnprocessableEntity, "invalid_presence", fmt.Sprintf("status %q must be online, away or offline", req.Status))
	}
	v, err := s.agents.SetPresence(c.UserContext(), id, req.Status, s.cfg.Now())
	if err != nil {
		return adminErr(err, "invalid_presence", "agent")
	}
	return c.JSON(agentOut(v))
}

// ---- teams ----

type teamJSON struct {
	ID         int64                 `json:"id"`
	Name       string                `json:"name"`
	Strategy   assigner.TeamStrategy `json:"strategy"`
	OnlineOnly bool                  `json:"online_only"`
	MaxOpen    *int                  `json:"max_open"`
	// AgentVisibility: "team" (its agents see all its conversations) or
	// "assigned" (theirs and the unassigned ones).
	AgentVisibility assigner.Visibility `json:"agent_visibility"`
	MemberIDs       []int64             `json:"member_ids"`
	teamTimeRules
}

// teamTimeRules are a team's time-based settings (issue 12), as the API
// shows and takes them.
type teamTimeRules struct {
	ReassignAfterSeconds *int                       `json:"reassign_after_seconds"`
	ReassignMax          *int                       `json:"reassign_max"`
	ReassignExhausted    assigner.ReassignExhausted `json:"reassign_exhausted"`
	ReassignOnAway       *bool                      `json:"reassign_on_away"`
}

func teamOut(t TeamView) teamJSON {
	out := teamJSON{ID: t.ID, Name: t.Name, Strategy: t.Strategy, OnlineOnly: t.OnlineOnly, MaxOpen: t.MaxOpen,
		AgentVisibility: t.AgentVisibility, MemberIDs: t.MemberIDs,
		teamTimeRules: teamTimeRules{ReassignAfterSeconds: t.ReassignAfterSeconds, ReassignMax: &t.ReassignMax, ReassignExhausted: t.ReassignExhausted,
			ReassignOnAway: &t.ReassignOnAway}}
	if out.AgentVisibility == "" {
		out.AgentVisibility = assigner.VisibilityTeam
	}
	if out.MemberIDs == nil {
		out.MemberIDs = []int64{}
	}
	return out
}

// teamRequest is the body of POST and PUT: PUT replaces the whole team,
// so absent fields take the defaults (strategy round_robin, online_only
// true, no max_open, agent_visibility team, no reassignment, reassign_max 1,
// reassign_exhausted keep, reassign_on_away false) there too; only
// member_ids is required by PUT.
type teamRequest struct {
	Name            string                `json:"name"`
	MemberIDs       []int64               `json:"member_ids"`
	Strategy        assigner.TeamStrategy `json:"strategy"`
	OnlineOnly      *bool                 `json:"online_only"`
	MaxOpen         *int                  `json:"max_open"`
	AgentVisibility assigner.Visibility   `json:"agent_visibility"`
	teamTimeRules
}

// check refuses names, limits and member ids out of range.
func (r teamRequest) check() error {
	if err := checkRefs("member_ids", r.MemberIDs); err != nil {
		return err
	}
	if err := checkName("invalid_team", "name", r.Name); err != nil {
		return err
	}
	if err := checkWindow("invalid_team", "reassign_after_seconds", r.ReassignAfterSeconds); err != nil {
		return err
	}
	if err := checkLimit("invalid_team", "reassign_max", r.ReassignMax); err != nil {
		return err
	}
	return checkLimit("invalid_team", "max_open", r.MaxOpen)
}

func (r teamRequest) team() assigner.Team {
	t := assigner.Team{Name: strings.TrimSpace(r.Name), Strategy: r.Strategy, OnlineOnly: r.OnlineOnly == nil || *r.OnlineOnly, MaxOpen: r.MaxOpen,
		AgentVisibility:      r.AgentVisibility,
		ReassignAfterSeconds: r.ReassignAfterSeconds, ReassignMax: assigner.DefaultReassignMax, ReassignExhausted: r.ReassignExhausted,
		ReassignOnAway: r.ReassignOnAway != nil && *r.ReassignOnAway}
	if t.Strategy == "" {
		t.Strategy = assigner.StrategyRoundRobin
	}
	if t.AgentVisibility == "" {
		t.AgentVisibility = assigner.VisibilityTeam
	}
	if r.ReassignMax != nil {
		t.ReassignMax = *r.ReassignMax
	}
	return t
}

func (s *Server) createTeam(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var req teamRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	if req.MemberIDs == nil {
		req.MemberIDs = []int64{}
	}
	v, err := s.teams.CreateTeam(c.UserContext(), req.team(), req.MemberIDs)
	if err != nil {
		return adminErr(err, "invalid_team", "team")
	}
	return c.Status(fiber.StatusCreated).JSON(teamOut(v))
}

// listTeams lists every team to admins, and their own teams to others.
func (s *Server) listTeams(c *fiber.Ctx) error {
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	list, err := s.teams.ListTeams(c.UserContext())
	if err != nil {
		return err
	}
	out := []teamJSON{}
	for _, t := range list {
		if v.MayReadTeam(t.ID) {
			out = append(out, teamOut(t))
		}
	}
	return c.JSON(fiber.Map{"teams": out})
}

func (s *Server) getTeam(c *fiber.Ctx) error {
	id, err := s.readableTeam(c)
	if err != nil {
		return err
	}
	t, err := s.teams.GetTeam(c.UserContext(), id)
	if err != nil {
		return adminErr(err, "invalid_team", "team")
	}
	return c.JSON(teamOut(t))
}

// readableTeam parses :id; a team the caller may not read is 404.
func (s *Server) readableTeam(c *fiber.Ctx) (int64, error) {
	id, err := refParam(c, "id")
	if err != nil {
		return 0, err
	}
	v, err := s.viewer(c)
	if err != nil {
		return 0, err
	}
	if !v.MayReadTeam(id) {
		return 0, apiError(fiber.StatusNotFound, string(assigner.ErrCodeNotFound), "no such team")
	}
	return id, nil
}

// putTeam replaces a team's settings and members; members that stay keep
// their round-robin position. Admins and the team's supervisors may.
func (s *Server) putTeam(c *fiber.Ctx) error {
	id, err := s.readableTeam(c)
	if err != nil {
		return err
	}
	if v, _ := s.viewer(c); !v.MayEditTeam(id) {
		return apiError(fiber.StatusForbidden, "forbidden", "only an admin or the team's supervisor edits a team")
	}
	var req teamRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.MemberIDs == nil {
		return apiError(fiber.StatusBadRequest, "bad_json", "member_ids is required: PUT replaces the whole team (send [] for no members)")
	}
	if err := req.check(); err != nil {
		return err
	}
	v, err := s.teams.UpdateTeam(c.UserContext(), id, req.team(), req.MemberIDs)
	if err != nil {
		return adminErr(err, "invalid_team", "team")
	}
	return c.JSON(teamOut(v))
}

// ---- inboxes ----

// inboxJSON is an inbox as the API shows it: every field present.
type inboxJSON struct {
	PhoneNumberID              string          `json:"phone_number_id"`
	Name                       string          `json:"name"`
	WelcomeMessage             string          `json:"welcome_message"`
	FirstResponderBecomesOwner bool            `json:"first_responder_becomes_owner"`
	Routing                    []assigner.Rule `json:"routing"`
	DefaultAssign              *assigner.Step  `json:"default_assign"`
	FallbackAgentID            *int64          `json:"fallback_agent_id"`
	AutoResolveAfterSeconds    *int            `json:"auto_resolve_after_seconds"`
	ClosingMessage             string          `json:"closing_message"`
	StickyDays                 *int            `json:"sticky_days"`
	FirstResponseSLASeconds    *int            `json:"first_response_sla_seconds"`
	BusinessHours              *assigner.Hours `json:"business_hours"`
}

func inboxOut(in assigner.Inbox) inboxJSON {
	out := inboxJSON{PhoneNumberID: in.PhoneNumberID, Name: in.Name, WelcomeMessage: in.WelcomeMessage,
		FirstResponderBecomesOwner: in.FirstResponderBecomesOwner, Routing: in.Routing,
		DefaultAssign: in.DefaultAssign, FallbackAgentID: in.FallbackAgentID,
		AutoResolveAfterSeconds: in.AutoResolveAfterSeconds, ClosingMessage: in.ClosingMessage, StickyDays: in.StickyDays,
		FirstResponseSLASeconds: in.FirstResponseSLASeconds, BusinessHours: in.BusinessHours}
	if out.Routing == nil {
		out.Routing = []assigner.Rule{}
	}
	return out
}

// inboxRequest is the body of PUT /v1/inboxes/{phone_number_id}, which
// replaces the inbox's settings.
type inboxRequest struct {
	Name                       string         `json:"name"`
	WelcomeMessage             string         `json:"welcome_message"`
	FirstResponderBecomesOwner bool           `json:"first_responder_becomes_owner"`
	Routing                    []ruleRequest  `json:"routing"`
	DefaultAssign              *assigner.Step `json:"default_assign"`
	FallbackAgentID            *int64         `json:"fallback_agent_id"`
	AutoResolveAfterSeconds    *int           `json:"auto_resolve_after_seconds"`
	ClosingMessage             string         `json:"closing_message"`
	StickyDays                 *int           `json:"sticky_days"`
	// FirstResponseSLASeconds and BusinessHours: the first-response SLA
	// (null: none) and the hours it counts in (null: always open).
	FirstResponseSLASeconds *int            `json:"first_response_sla_seconds"`
	BusinessHours           *assigner.Hours `json:"business_hours"`
}

// check refuses names, lists and ids out of range.
func (r inboxRequest) check() error {
	if err := checkName("invalid_inbox", "name", r.Name); err != nil {
		return err
	}
	if len(r.Routing) > maxRoutingRules {
		return apiError(fiber.StatusUnprocessableEntity, "invalid_inbox", fmt.Sprintf("routing has %d rules; the limit is %d", len(r.Routing), maxRoutingRules))
	}
	steps := []*assigner.Step{r.DefaultAssign}
	for i := range r.Routing {
		steps = append(steps, &r.Routing[i].Assign)
	}
	for _, st := range steps {
		if st == nil {
			continue
		}
		if err := errors.Join(checkOptRef("team_id", st.TeamID), checkRefs("agent_ids", st.AgentIDs)); err != nil {
			return err
		}
	}
	return checkOptRef("fallback_agent_id", r.FallbackAgentID)
}

type ruleRequest struct {
	When   conditionRequest `json:"when"`
	Assign assigner.Step    `json:"assign"`
}

// conditionRequest is assigner.Condition that also takes a single
// "keyword" (the shape) beside the "keywords" list.
type conditionRequest struct {
	Keyword          string          `json:"keyword"`
	Keywords         []string        `json:"keywords"`
	Regex            string          `json:"regex"`
	ReplyID          string          `json:"reply_id"`
	Referral         bool            `json:"referral"`
	ReferralSourceID string          `json:"referral_source_id"`
	CountryPrefixes  []string        `json:"country_prefixes"`
	BusinessHours    *assigner.Hours `json:"business_hours"`
}

func (r conditionRequest) condition() assigner.Condition {
	c := assigner.Condition{Keywords: r.Keywords, Regex: r.Regex, ReplyID: r.ReplyID, Referral: r.Referral,
		ReferralSourceID: r.ReferralSourceID, CountryPrefixes: r.CountryPrefixes, BusinessHours: r.BusinessHours}
	if r.Keyword != "" {
		c.Keywords = append([]string{r.Keyword}, r.Keywords...)
	}
	return c
}

func (s *Server) listInboxes(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	list, err := s.inboxes.ListInboxes(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]inboxJSON, len(list))
	for i, in := range list {
		out[i] = inboxOut(in)
	}
	return c.JSON(fiber.Map{"inboxes": out})
}

func phoneNumberID(c *fiber.Ctx) (string, error) {
	id := c.Params("phone_number_id")
	if len(id) > 64 || strings.Contains(id, " ") || !plainToken(id) {
		return "", apiError(fiber.StatusBadRequest, "bad_id", "phone_number_id must be 1 to 64 characters without spaces")
	}
	return id, nil
}

func (s *Server) getInbox(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	id, err := phoneNumberID(c)
	if err != nil {
		return err
	}
	in, err := s.inboxes.GetInbox(c.UserContext(), id)
	if err != nil {
		return adminErr(err, "invalid_inbox", "inbox")
	}
	return c.JSON(inboxOut(in))
}

// putInbox creates or replaces an inbox's settings; a number may be
// configured before any webhook for it arrived.
func (s *Server) putInbox(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	id, err := phoneNumberID(c)
	if err != nil {
		return err
	}
	var req inboxRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	in := assigner.Inbox{PhoneNumberID: id, Name: strings.TrimSpace(req.Name), WelcomeMessage: req.WelcomeMessage,
		FirstResponderBecomesOwner: req.FirstResponderBecomesOwner, DefaultAssign: req.DefaultAssign, FallbackAgentID: req.FallbackAgentID,
		AutoResolveAfterSeconds: req.AutoResolveAfterSeconds, ClosingMessage: req.ClosingMessage, StickyDays: req.StickyDays,
		FirstResponseSLASeconds: req.FirstResponseSLASeconds, BusinessHours: req.BusinessHours}
	for _, r := range req.Routing {
		in.Routing = append(in.Routing, assigner.Rule{When: r.When.condition(), Assign: r.Assign})
	}
	if err := in.Validate(); err != nil {
		return adminErr(err, "invalid_inbox", "inbox")
	}
	out, err := s.inboxes.PutInbox(c.UserContext(), in)
	if err != nil {
		return adminErr(err, "invalid_inbox", "inbox")
	}
	return c.JSON(inboxOut(out))
}

// meJSON is the caller as GET /v1/me shows them: their agent profile and
// the teams they are a member of with each team's agent_visibility.
type meJSON struct {
	agentJSON
	Teams []assigner.TeamAccess `json:"teams"`
}

// me answers the caller's own profile: an agent's (an agent whose role is
// admin included), or for the bootstrap admin token an identity that says
// so and belongs to no agent.
func (s *Server) me(c *fiber.Ctx) error {
	p := who(c)
	if p.AgentID == 0 {
		return c.JSON(fiber.Map{"id": nil, "name": "admin token", "role": assigner.RoleAdmin, "active": true, "admin_token": true, "teams": []any{}})
	}
	a, err := s.agents.GetAgent(c.UserContext(), p.AgentID)
	if err != nil {
		return adminErr(err, "invalid_agent", "agent")
	}
	teams, err := s.tokens.ViewerTeams(c.UserContext(), p.AgentID)
	if err != nil {
		return err
	}
	return c.JSON(meJSON{agentJSON: agentOut(a), Teams: teams})
}
