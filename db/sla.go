package db

import (
	"context"
	"fmt"

	"github.com/wagw/wagw/assigner"
)

// First-response SLA (issue 12, rule 4): the opening decision stores the
// conversation's first_response_due_at and an 'sla' timer
// (persistOpenings, writeTimers); the first agent reply deletes the timer;
// when it falls due slaBreached records the breach on the conversation
// and in the decision log, and counts it for the metric after the commit
// (InstrumentSLA). Nobody is reassigned.

const (
	sqlTeamName    = `SELECT name FROM teams WHERE id = $1`
	sqlSLABreached = `UPDATE conversations SET sla_breached_at = $2 WHERE id = $1`
)

// slaBreached applies a first-response deadline that fell due.
func (b *batch) slaBreached(ctx context.Context, id string, conv convState, t assigner.Timer) (assigner.Outcome, error) {
	ids := make([]int64, len(conv.Assignees))
	for i, a := range conv.Assignees {
		ids[i] = a.AgentID
	}
	agents, err := b.agents(ctx, ids)
	if err != nil {
		return nil, err
	}
	in := assigner.SLAInput{Now: b.now, Conversation: conv.Conversation, Timer: t, Agents: agents}
	if in.Sent, err = b.sent(ctx, conv); err != nil {
		return nil, err
	}
	if conv.TeamID != nil {
		team := assigner.Team{ID: *conv.TeamID}
		err := b.tx.QueryRowContext(ctx, sqlTeamName, team.ID).Scan(&team.Name)
		switch {
		case err == nil:
			in.Team = &team
		case err != errNoRows:
			return nil, fmt.Errorf("team name: %w", err)
		}
	}
	d := assigner.DecideSLA(in)
	if d.SLABreach != nil {
		if _, err := b.tx.ExecContext(ctx, sqlSLABreached, conv.ID, b.now); err != nil {
			return nil, fmt.Errorf("record SLA breach: %w", err)
		}
		team := ""
		if in.Team != nil {
			team = in.Team.Name
		}
		b.breaches = append(b.breaches, [2]string{conv.Inbox, team})
	}
	return b.decided(ctx, id, conv, d)
}
