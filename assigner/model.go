package assigner

import (
	"slices"
	"time"
)

// Defaults used when the corresponding duration in an input is zero or
// negative.
const (
	// DefaultPresenceTimeout is how long an agent whose status is online
	// stays online without a heartbeat.
	DefaultPresenceTimeout = 5 * time.Minute
	// DefaultWelcomeStaleness is the maximum age of the opening message for
	// which a welcome message is still sent.
	DefaultWelcomeStaleness = 10 * time.Minute
	// DefaultQueueExpiry is how long a conversation waits in a team queue
	// before ExpireQueued moves it to the inbox fallback agent.
	DefaultQueueExpiry = 7 * 24 * time.Hour
)

// Role is an agent's role.
type Role string

// Roles.
const (
	RoleAdmin      Role = "admin"      // everything
	RoleSupervisor Role = "supervisor" // every conversation of their teams; edits their teams
	RoleAgent      Role = "agent"      // see Viewer.Scope
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleSupervisor || r == RoleAgent }

// Presence is the status an agent sets (or the client sets for them).
type Presence string

// Presences. The empty value is treated as offline.
const (
	PresenceOnline  Presence = "online"
	PresenceAway    Presence = "away"
	PresenceOffline Presence = "offline"
)

// Valid reports whether p is a known presence.
func (p Presence) Valid() bool {
	return p == PresenceOnline || p == PresenceAway || p == PresenceOffline
}

// Agent is a user who can be assigned conversations.
type Agent struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Role   Role   `json:"role"`
	Active bool   `json:"active"` // false: deactivated, never assigned
	// Capacity is the maximum number of open conversations assigned to the
	// agent that strategies respect; nil means no limit.
	Capacity    *int      `json:"capacity,omitempty"`
	Presence    Presence  `json:"presence"`
	HeartbeatAt time.Time `json:"heartbeat_at"` // zero: never
	// OpenCount is the number of open conversations currently assigned to
	// the agent (resolved ones don't count).
	OpenCount int `json:"open_count"`
}

// Online reports whether the agent's status is online and its last
// heartbeat is within timeout of now (DefaultPresenceTimeout when timeout
// is not positive). A heartbeat slightly in the future (clock skew) counts
// as recent.
func (a Agent) Online(now time.Time, timeout time.Duration) bool {
	if a.Presence != PresenceOnline || a.HeartbeatAt.IsZero() {
		return false
	}
	return now.Sub(a.HeartbeatAt) <= orDefault(timeout, DefaultPresenceTimeout)
}

// TeamStrategy is how a team picks an agent for a conversation.
type TeamStrategy string

// Team strategies.
const (
	// StrategyRoundRobin picks the eligible member assigned least recently
	// by the team (DESIGN §6 rule 8).
	StrategyRoundRobin TeamStrategy = "round_robin"
	// StrategyLeastOpen picks the eligible member with the fewest open
	// conversations (rule 9).
	StrategyLeastOpen TeamStrategy = "least_open"
	// StrategyManual picks nobody: conversations wait in the team queue
	// until an agent claims them (rule 6).
	StrategyManual TeamStrategy = "manual"
)

// Valid reports whether s is a known strategy.
func (s TeamStrategy) Valid() bool {
	return s == StrategyRoundRobin || s == StrategyLeastOpen || s == StrategyManual
}

// Team is a group of agents with an assignment strategy.
type Team struct {
	ID       int64        `json:"id"`
	Name     string       `json:"name"`
	Strategy TeamStrategy `json:"strategy"` // empty is treated as round_robin
	// OnlineOnly: only online members are candidates. The store's default
	// is true; note that the zero Team has it false.
	OnlineOnly bool `json:"online_only"`
	// MaxOpen is a per-member limit of open conversations the team's
	// strategy respects, on top of each agent's own Capacity; nil: none.
	MaxOpen *int `json:"max_open,omitempty"`
	// AgentVisibility is which of the team's conversations its agents see
	// (visibility.go); empty is treated as VisibilityTeam.
	AgentVisibility Visibility `json:"agent_visibility,omitempty"`
	// ReassignAfterSeconds turns on the no-reply rule (DecideNoReply): a
	// member the strategy picked who has not replied within this many
	// seconds loses the conversation to another member; nil: off.
	ReassignAfterSeconds *int `json:"reassign_after_seconds,omitempty"`
	// ReassignMax is how many times the no-reply rule reassigns one
	// conversation. The store's default is DefaultReassignMax; note that
	// the zero Team has 0 (ReassignExhausted applies at the first deadline).
	ReassignMax int `json:"reassign_max"`
	// ReassignExhausted says what happens at the deadline after the last
	// reassignment; empty: keep.
	ReassignExhausted ReassignExhausted `json:"reassign_exhausted,omitempty"`
	// ReassignOnAway turns on the away rule (DecideAway): the conversations
	// the strategy gave a member who goes away or offline go back to the
	// strategy while the contact waits for an answer.
	ReassignOnAway bool `json:"reassign_on_away,omitempty"`
}

// Member is one member of a team with the team's per-member state.
type Member struct {
	Agent
	// LastAssignedAt is when the team's strategy last picked this member;
	// zero means never.
	LastAssignedAt time.Time `json:"last_assigned_at"`
	// Position is the member's place in the team order, lower first. Ties
	// are broken by agent id; the order of TeamState.Members is not used.
	Position int `json:"position"`
}

// TeamState is a team with its members, as loaded by the store (under a
// row lock on the team when a strategy may run).
type TeamState struct {
	Team    Team     `json:"team"`
	Members []Member `json:"members"`
}

// Member returns the member with the agent id.
func (ts TeamState) Member(agentID int64) (Member, bool) {
	for _, m := range ts.Members {
		if m.ID == agentID {
			return m, true
		}
	}
	return Member{}, false
}

// MemberIDs returns the member agent ids in team order (Position, then id).
func (ts TeamState) MemberIDs() []int64 {
	ms := slices.Clone(ts.Members)
	slices.SortStableFunc(ms, func(a, b Member) int {
		if a.Position != b.Position {
			return a.Position - b.Position
		}
		return cmpInt64(a.ID, b.ID)
	})
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// Source says what added an assignee to a conversation.
type Source string

// Sources.
const (
	SourceOwner          Source = "owner"           // default assignee of the contact (rule 2)
	SourceManual         Source = "manual"          // assigned by an agent or admin (rule 3)
	SourceFlow           Source = "flow"            // automation step or routing rule naming users (rule 4)
	SourceRoundRobin     Source = "round_robin"     // picked by a round-robin team (rule 8)
	SourceLeastOpen      Source = "least_open"      // picked by a least-open team (rule 9)
	SourceFirstResponder Source = "first_responder" // first agent to reply (rule 5)
	SourceClaim          Source = "claim"           // claimed from the queue (rule 6)
	SourceSticky         Source = "sticky"          // the agent of the contact's previous conversation (issue 12 rule 3)
)

// Automatic reports whether the assignee was added by automation (flow,
// round_robin, least_open, sticky): only those are replaced by a later
// automation step. Owners, manual, claim and first_responder assignees
// are kept.
func (s Source) Automatic() bool {
	return s == SourceFlow || s == SourceRoundRobin || s == SourceLeastOpen || s == SourceSticky
}

// Assignee is an agent assigned to a conversation and what added it.
type Assignee struct {
	AgentID int64  `json:"agent_id"`
	Source  Source `json:"source"`
}

// Status is a conversation's status.
type Status string

// Statuses. The empty value is treated as open.
const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
	// StatusSnoozed is how the API shows an open conversation that is
	// snoozed (Conversation.SnoozedUntil); the store keeps it open.
	StatusSnoozed Status = "snoozed"
)

// Conversation is the assignment state of one conversation.
type Conversation struct {
	ID        int64      `json:"id"`
	ContactID int64      `json:"contact_id"`
	Inbox     string     `json:"inbox"` // phone_number_id
	Status    Status     `json:"status"`
	TeamID    *int64     `json:"team_id,omitempty"`
	Assignees []Assignee `json:"assignees"`
	OpenedAt  time.Time  `json:"opened_at"`
	// FirstReplyAt is when the first agent reply was accepted by the Cloud
	// API; nil while no agent has replied.
	FirstReplyAt *time.Time `json:"first_reply_at,omitempty"`
	// Queued: waiting in the team queue for an eligible agent (rule 10);
	// DrainQueue assigns it.
	Queued bool `json:"queued"`
	// SnoozedUntil: the conversation is snoozed until then, or until the
	// contact writes (DecideSnooze, DecideWake); it does not count toward
	// its assignees' open conversations meanwhile. nil: not snoozed.
	SnoozedUntil *time.Time `json:"snoozed_until,omitempty"`
}

// Snoozed reports whether the conversation is snoozed.
func (c Conversation) Snoozed() bool { return c.SnoozedUntil != nil && c.Open() }

// Open reports whether the conversation is open (status open or empty).
func (c Conversation) Open() bool { return c.Status != StatusResolved }

// Assigned reports whether the agent is an assignee.
func (c Conversation) Assigned(agentID int64) bool {
	return indexOf(c.Assignees, agentID) >= 0
}

// Reason codes: stable identifiers of a Reason, for filtering and metrics.
const (
	CodeOwner               = "owner"                 // an owner was added (rule 2)
	CodeOffline             = "offline"               // skipped: offline or no recent heartbeat
	CodeAway                = "away"                  // skipped: away
	CodeAtCapacity          = "at_capacity"           // skipped: at capacity
	CodeTeamFull            = "team_full"             // nobody picked: every possible member is at capacity
	CodeNoMembers           = "no_members"            // nobody picked: the team has no members
	CodeNobodyEligible      = "nobody_eligible"       // nobody picked: mixed reasons
	CodeNotMember           = "not_member"            // not a member of the team
	CodeAlreadyAssigned     = "already_assigned"      // skipped: already assigned
	CodeInactive            = "inactive"              // skipped: deactivated
	CodeUnknownAgent        = "unknown_agent"         // an agent id the input has no state for
	CodeUnknownTeam         = "unknown_team"          // a team id the input has no state for
	CodeChosen              = "chosen"                // picked by a team strategy
	CodeAdded               = "added"                 // added by a flow step or manually
	CodeRemoved             = "removed"               // removed
	CodeKept                = "kept"                  // kept although the command could have removed it
	CodeRuleMatched         = "rule_matched"          // a routing rule matched (rule 7)
	CodeNoRuleMatched       = "no_rule_matched"       // no routing rule matched
	CodeInvalidRule         = "invalid_rule"          // a stored routing rule could not be evaluated
	CodeTeamSet             = "team_set"              // the conversation's team was set
	CodeTeamSatisfied       = "team_satisfied"        // someone assigned is an eligible member: nobody picked
	CodeBypassedPresence    = "bypassed_presence"     // assigned although not online
	CodeOverCapacityWarning = "over_capacity_warning" // assigned although at capacity
	CodeQueued              = "queued"                // waits in the team queue (rule 10)
	CodeAwaitingClaim       = "awaiting_claim"        // waits for an agent to claim it (rule 6)
	CodeClaimed             = "claimed"               // claimed (rule 6)
	CodeFirstResponder      = "first_responder"       // first responder added (rule 5)
	CodeNewOwner            = "new_owner"             // first responder became the contact's owner
	CodeHasOwner            = "has_owner"             // the contact already has an owner
	CodeNotFirstReply       = "not_first_reply"       // an agent had already replied
	CodeSystemReply         = "system_reply"          // sent by the system: doesn't count
	CodeSettingOff          = "setting_off"           // the inbox setting is off
	CodeWelcome             = "welcome"               // welcome message queued (rule 11)
	CodeWelcomeStale        = "welcome_stale"         // no welcome: opening message too old
	CodeWelcomeReplied      = "welcome_replied"       // no welcome: an agent already replied
	CodeResolved            = "resolved"              // the conversation was resolved
	CodeNotOpen             = "not_open"              // nothing done: the conversation is resolved
	CodeNotAssigned         = "not_assigned"          // nothing to unassign
	CodeDequeued            = "dequeued"              // left the team queue
	CodeQueueExpired        = "queue_expired"         // waited too long in the queue
	CodeFallback            = "fallback"              // assigned to the inbox fallback agent
	CodeNoReply             = "no_reply"              // the assignee did not reply in time: reassigned (issue 12 rule 1)
	CodeReassignExhausted   = "reassign_exhausted"    // no reply after the last reassignment
	CodeReplied             = "replied"               // nothing to do: an agent replied
	CodeAwayReassign        = "away_reassign"         // the assignee is away or offline: reassigned (issue 12 rule 2)
	CodeAnswered            = "answered"              // stays: answered, and the contact has not written since
	CodeBackOnline          = "back_online"           // stays: the assignee is online again
	CodeSnoozed             = "snoozed"               // snoozed until a time (issue 12 rule 5)
	CodeSnoozeEnded         = "snooze_ended"          // the snooze ended: its time came, or the contact wrote
	CodeAutoResolved        = "auto_resolved"         // resolved after a quiet period (issue 12 rule 3)
	CodeNotQuiet            = "not_quiet"             // not resolved: a message the Cloud API accepted within the window
	CodeClosing             = "closing"               // closing message queued
	CodeClosingSkipped      = "closing_skipped"       // no closing message: outside the service window, or the thread is elsewhere
	CodeSticky              = "sticky"                // the previous conversation's agent takes the new one
	CodeStickySkipped       = "sticky_skipped"        // sticky did not apply: why, then routing as usual
)

// Reason explains one step of a decision.
type Reason struct {
	AgentID int64  `json:"agent_id,omitempty"` // 0 when not about one agent
	Code    string `json:"code"`               // one of the Code constants
	Text    string `json:"text"`               // a sentence for an admin
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func indexOf(as []Assignee, agentID int64) int {
	return slices.IndexFunc(as, func(a Assignee) bool { return a.AgentID == agentID })
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
