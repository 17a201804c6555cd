package assigner

import (
	"fmt"
	"slices"
)

// Roles and visibility (DESIGN §6 rule 13, issue 12 item 6). Who may see
// and act on a conversation is decided here, once: Viewer.Scope turns the
// caller into a Scope, Scope.Allows answers for one conversation, and the
// store turns the same Scope into its SQL filter for lists (db's
// visibleTo). A conversation the caller may not see is "not found" to
// them, so ids cannot be probed.

// Visibility is a team's agent_visibility setting: which of the team's
// conversations its agents (role agent) see.
type Visibility string

// Visibilities. The empty value is treated as VisibilityTeam.
const (
	// VisibilityTeam: the team's agents see all of its conversations.
	VisibilityTeam Visibility = "team"
	// VisibilityAssigned: the team's agents see its conversations assigned
	// to them and its unassigned ones (to claim), nothing else.
	VisibilityAssigned Visibility = "assigned"
)

// Valid reports whether v is a known visibility (the empty value is).
func (v Visibility) Valid() bool { return v == "" || v == VisibilityTeam || v == VisibilityAssigned }

// TeamAccess is one team of the caller with its visibility setting.
type TeamAccess struct {
	TeamID     int64      `json:"team_id"`
	Visibility Visibility `json:"agent_visibility"`
}

// Viewer is the caller of the API as visibility needs it: the bootstrap
// admin token (Admin without an agent), or an agent with their role and
// the teams they are a member of.
type Viewer struct {
	Admin   bool // the bootstrap admin token
	AgentID int64
	Role    Role
	Teams   []TeamAccess
}

// Scope is what a viewer may see, in the terms both Allows and the
// store's SQL filter use. A conversation is visible when All is set, or
// when any of these holds:
//   - AgentID is one of its assignees;
//   - its team is in Teams (all of that team's conversations);
//   - it has no assignee and its team is in UnassignedTeams, or it has no
//     team and UnassignedWithoutTeam is set (the inbox queue of rule 6,
//     which any agent may claim).
type Scope struct {
	All                   bool
	AgentID               int64
	Teams                 []int64
	UnassignedTeams       []int64
	UnassignedWithoutTeam bool
}

// Scope is what v may see and act on: admins everything; a supervisor
// every conversation of their teams; an agent the conversations assigned
// to them, the unassigned ones of their teams and of no team, and the
// other conversations of their teams whose agent_visibility is "team";
// a viewer without an agent or with an unknown role nothing.
func (v Viewer) Scope() Scope {
	if v.Admin || v.Role == RoleAdmin {
		return Scope{All: true}
	}
	if v.AgentID == 0 || (v.Role != RoleAgent && v.Role != RoleSupervisor) {
		return Scope{} // nobody known: nothing
	}
	s := Scope{AgentID: v.AgentID, UnassignedWithoutTeam: true, Teams: []int64{}, UnassignedTeams: []int64{}}
	for _, t := range v.Teams {
		if v.Role == RoleSupervisor || t.Visibility != VisibilityAssigned {
			s.Teams = append(s.Teams, t.TeamID)
		} else {
			s.UnassignedTeams = append(s.UnassignedTeams, t.TeamID)
		}
	}
	return s
}

// Allows reports whether the scope covers the conversation.
func (s Scope) Allows(c Conversation) bool {
	switch {
	case s.All:
		return true
	case s.AgentID != 0 && c.Assigned(s.AgentID):
		return true
	case c.TeamID != nil && slices.Contains(s.Teams, *c.TeamID):
		return true
	case len(c.Assignees) > 0:
		return false
	case c.TeamID == nil:
		return s.UnassignedWithoutTeam
	}
	return slices.Contains(s.UnassignedTeams, *c.TeamID)
}

// MaySeeConversation reports whether the viewer may list, read and act on
// the conversation: Scope().Allows(c).
func (v Viewer) MaySeeConversation(c Conversation) bool { return v.Scope().Allows(c) }

// MayEditTeam reports whether the viewer may change the team's members
// and settings: admins any team, supervisors the teams they belong to.
func (v Viewer) MayEditTeam(teamID int64) bool {
	if v.Admin || v.Role == RoleAdmin {
		return true
	}
	return v.Role == RoleSupervisor && slices.ContainsFunc(v.Teams, func(t TeamAccess) bool { return t.TeamID == teamID })
}

// MayReadTeam reports whether the viewer may read the team's settings
// and members: admins any team, others the teams they belong to.
func (v Viewer) MayReadTeam(teamID int64) bool {
	if v.Admin || v.Role == RoleAdmin {
		return true
	}
	return v.AgentID != 0 && slices.ContainsFunc(v.Teams, func(t TeamAccess) bool { return t.TeamID == teamID })
}

// checkVisibility validates a team's agent_visibility.
func checkVisibility(v Visibility) error {
	if !v.Valid() {
		return fmt.Errorf("%w: agent_visibility %q must be team or assigned", ErrInvalid, v)
	}
	return nil
}
