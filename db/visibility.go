package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

// The SQL side of roles and visibility: the caller's teams, and the list
// filter that is assigner.Scope.Allows written as a WHERE clause (the
// test in visibility_test.go holds the two equal).

const sqlViewerTeams = `SELECT m.team_id, t.agent_visibility FROM team_members m
	JOIN teams t ON t.id = m.team_id WHERE m.agent_id = $1 ORDER BY m.team_id`

// ViewerTeams lists the teams the agent is a member of, each with its
// agent_visibility.
func (s *Store) ViewerTeams(ctx context.Context, agentID int64) ([]assigner.TeamAccess, error) {
	rows, err := s.db.QueryContext(ctx, sqlViewerTeams, agentID)
	if err != nil {
		return nil, fmt.Errorf("viewer teams: %w", err)
	}
	defer rows.Close()
	out := []assigner.TeamAccess{}
	for rows.Next() {
		var t assigner.TeamAccess
		if err := rows.Scan(&t.TeamID, &t.Visibility); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// visibleTo is the WHERE condition on conversations c that selects what
// the scope allows; arg binds a value and returns its placeholder. The
// zero Scope selects nothing.
func visibleTo(sc assigner.Scope, arg func(any) string) string {
	if sc.All {
		return "TRUE"
	}
	unassigned := "NOT EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = c.id)"
	or := []string{"c.team_id = ANY(" + arg(pq.Array(sc.Teams)) + "::bigint[])",
		"(" + unassigned + " AND c.team_id = ANY(" + arg(pq.Array(sc.UnassignedTeams)) + "::bigint[]))"}
	if sc.AgentID != 0 {
		or = append(or, "EXISTS (SELECT 1 FROM conversation_assignees a WHERE a.conversation_id = c.id AND a.agent_id = "+arg(sc.AgentID)+")")
	}
	if sc.UnassignedWithoutTeam {
		or = append(or, "(c.team_id IS NULL AND "+unassigned+")")
	}
	return "(" + strings.Join(or, " OR ") + ")"
}
