package assigner

import "testing"

// Who sees which conversation: every role against every kind of
// conversation (assigned to the caller, to someone else, unassigned; in a
// "team" team, an "assigned" team, a team the caller is not in, no team).
func TestViewerMaySeeConversation(t *testing.T) {
	const me, other = 1, 2
	const open, closed, foreign = 10, 20, 30 // team ids: visibility team, assigned; not a member
	teams := []TeamAccess{{TeamID: open, Visibility: VisibilityTeam}, {TeamID: closed, Visibility: VisibilityAssigned}}
	conv := func(team int64, assignees ...int64) Conversation {
		c := Conversation{ID: 100, Status: StatusOpen}
		if team != 0 {
			c.TeamID = ptr(team)
		}
		for _, a := range assignees {
			c.Assignees = append(c.Assignees, Assignee{AgentID: a, Source: SourceManual})
		}
		return c
	}
	agent := Viewer{AgentID: me, Role: RoleAgent, Teams: teams}
	legacy := Viewer{AgentID: me, Role: RoleAgent, Teams: []TeamAccess{{TeamID: open}}} // empty visibility: team
	supervisor := Viewer{AgentID: me, Role: RoleSupervisor, Teams: teams}
	adminAgent := Viewer{AgentID: me, Role: RoleAdmin}
	token := Viewer{Admin: true}
	loner := Viewer{AgentID: me, Role: RoleAgent}
	tests := []struct {
		name string
		v    Viewer
		c    Conversation
		want bool
	}{
		{"agent: assigned to me, foreign team", agent, conv(foreign, me), true},
		{"agent: assigned to me and another", agent, conv(closed, other, me), true},
		{"agent: unassigned in my team-visible team", agent, conv(open), true},
		{"agent: unassigned in my assigned-only team", agent, conv(closed), true},
		{"agent: other's in my team-visible team", agent, conv(open, other), true},
		{"agent: other's in my assigned-only team", agent, conv(closed, other), false},
		{"agent: unassigned in a foreign team", agent, conv(foreign), false},
		{"agent: other's in a foreign team", agent, conv(foreign, other), false},
		{"agent: unassigned without team (inbox queue)", agent, conv(0), true},
		{"agent: other's without team", agent, conv(0, other), false},
		{"agent: empty visibility means team", legacy, conv(open, other), true},
		{"agent in no team: own", loner, conv(0, me), true},
		{"agent in no team: inbox queue", loner, conv(0), true},
		{"agent in no team: a team's unassigned", loner, conv(open), false},
		{"supervisor: other's in assigned-only team", supervisor, conv(closed, other), true},
		{"supervisor: other's in team-visible team", supervisor, conv(open, other), true},
		{"supervisor: assigned to me, foreign team", supervisor, conv(foreign, me), true},
		{"supervisor: unassigned in a foreign team", supervisor, conv(foreign), false},
		{"supervisor: other's in a foreign team", supervisor, conv(foreign, other), false},
		{"supervisor: other's without team", supervisor, conv(0, other), false},
		{"supervisor: inbox queue", supervisor, conv(0), true},
		{"agent whose role is admin: anything", adminAgent, conv(foreign, other), true},
		{"admin token: anything", token, conv(0, other), true},
		{"zero viewer: not even the inbox queue", Viewer{}, conv(0), false},
		{"unknown role: nothing", Viewer{AgentID: me, Role: "boss", Teams: teams}, conv(open), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.MaySeeConversation(tt.c); got != tt.want {
				t.Errorf("MaySeeConversation = %v, want %v (scope %+v)", got, tt.want, tt.v.Scope())
			}
		})
	}
}

func TestViewerMayEditTeam(t *testing.T) {
	teams := []TeamAccess{{TeamID: 10}}
	tests := []struct {
		name string
		v    Viewer
		team int64
		want bool
	}{
		{"supervisor, own team", Viewer{AgentID: 1, Role: RoleSupervisor, Teams: teams}, 10, true},
		{"supervisor, other team", Viewer{AgentID: 1, Role: RoleSupervisor, Teams: teams}, 11, false},
		{"agent, own team", Viewer{AgentID: 1, Role: RoleAgent, Teams: teams}, 10, false},
		{"agent whose role is admin", Viewer{AgentID: 1, Role: RoleAdmin}, 11, true},
		{"admin token", Viewer{Admin: true}, 11, true},
	}
	for _, tt := range tests {
		if got := tt.v.MayEditTeam(tt.team); got != tt.want {
			t.Errorf("%s: MayEditTeam(%d) = %v, want %v", tt.name, tt.team, got, tt.want)
		}
	}
}

func TestTeamVisibilityValidates(t *testing.T) {
	for v, ok := range map[Visibility]bool{"": true, VisibilityTeam: true, VisibilityAssigned: true, "everyone": false} {
		err := Team{Name: "t", Strategy: StrategyManual, AgentVisibility: v}.Validate()
		if (err == nil) != ok {
			t.Errorf("visibility %q: Validate() = %v", v, err)
		}
	}
	if err := (Agent{Name: "s", Role: RoleSupervisor}).Validate(); err != nil {
		t.Errorf("supervisor role refused: %v", err)
	}
}
