package db_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/wagw/wagw/assigner"
)

// The list filter and assigner's Scope.Allows agree: every kind of
// conversation (no team, a team-visible team, an assigned-only team, a
// team the caller is not in; unassigned, assigned to the caller, to
// someone else, to both) is listed for a viewer exactly when Allows says
// the viewer may see it.
func TestListConversationsFollowsScope(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	me, other := f.agent("me"), f.agent("other")
	mkTeam := func(name string, vis assigner.Visibility, members ...int64) int64 {
		tv, err := f.store.CreateTeam(ctx, assigner.Team{Name: name, Strategy: assigner.StrategyManual, AgentVisibility: vis}, members)
		if err != nil {
			t.Fatal(err)
		}
		return tv.ID
	}
	open := mkTeam("open", assigner.VisibilityTeam, me, other)
	closed := mkTeam("closed", assigner.VisibilityAssigned, me, other)
	foreign := mkTeam("foreign", "", other)
	n := 0
	for _, team := range []*int64{nil, &open, &closed, &foreign} {
		for _, as := range [][]int64{nil, {me}, {other}, {me, other}} {
			n++
			wamid := fmt.Sprintf("wamid.vis%02d", n)
			f.apply(f.message(who{wa: fmt.Sprintf("1555000%04d", n)}, wamid, "hi"))
			conv := f.conversationOf(wamid)
			if _, err := f.conn.Exec(`UPDATE conversations SET team_id = $2 WHERE id = $1`, conv, team); err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if _, err := f.conn.Exec(`INSERT INTO conversation_assignees (conversation_id, agent_id, source) VALUES ($1, $2, 'manual')`, conv, a); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	all, err := f.store.ListConversations(ctx, assigner.ConversationFilter{Scope: assigner.Scope{All: true}, Limit: 100})
	if err != nil || len(all) != n {
		t.Fatalf("all: %d conversations, %v; want %d", len(all), err, n)
	}
	teams, err := f.store.ViewerTeams(ctx, me)
	if err != nil {
		t.Fatal(err)
	}
	want := []assigner.TeamAccess{{TeamID: open, Visibility: assigner.VisibilityTeam}, {TeamID: closed, Visibility: assigner.VisibilityAssigned}}
	if !slices.Equal(teams, want) {
		t.Fatalf("ViewerTeams = %+v, want %+v", teams, want)
	}
	for _, v := range []assigner.Viewer{
		{AgentID: me, Role: assigner.RoleAgent, Teams: teams},
		{AgentID: me, Role: assigner.RoleSupervisor, Teams: teams},
		{AgentID: me, Role: assigner.RoleAgent},
		{Admin: true},
		{}, // the zero viewer sees nothing
	} {
		sc := v.Scope()
		got, err := f.store.ListConversations(ctx, assigner.ConversationFilter{Scope: sc, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs, wantIDs []int64
		for _, c := range got {
			gotIDs = append(gotIDs, c.ID)
		}
		for _, c := range all {
			if sc.Allows(c.Conversation) {
				wantIDs = append(wantIDs, c.ID)
			}
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("viewer %+v: listed %v, Allows says %v", v, gotIDs, wantIDs)
		}
		if v.Role == assigner.RoleAgent && len(v.Teams) > 0 && (len(wantIDs) == 0 || len(wantIDs) == n) {
			t.Errorf("the agent's case should see some but not all: %v", wantIDs)
		}
	}
}
