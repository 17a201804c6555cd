package assigner

import (
	"fmt"
	"slices"
	"time"
)

// Mode says whether a manual assignment adds to or replaces the assignees.
type Mode string

// Modes. The empty value is treated as add.
const (
	ModeAdd     Mode = "add"
	ModeReplace Mode = "replace"
)

// ManualInput is an assignment made by an agent or admin.
type ManualInput struct {
	Now          time.Time
	Conversation Conversation
	// TeamID sets the conversation's team; nil keeps the current one.
	TeamID *int64
	// AgentIDs are assigned; when empty and TeamID is set, the team's
	// strategy picks someone.
	AgentIDs []int64
	Mode     Mode
	// Agents holds the state of AgentIDs.
	Agents map[int64]Agent
	// Teams holds the state of TeamID (under a row lock) and, for the
	// per-member limit in warnings, of the current team if known.
	Teams map[int64]TeamState
	// By names who assigned, for the reasons ("Rita"); may be empty.
	By              string
	PresenceTimeout time.Duration // DefaultPresenceTimeout when zero
}

// DecideManual applies a manual assignment (rule 3). It bypasses presence
// and capacity and warns about both. Mode add keeps everyone; an agent
// already assigned by automation becomes a manual assignee, so automation
// won't remove them. Mode replace removes every assignee not named except
// owners: owners are removed only by DecideUnassign. A TeamID with no
// agents sets the team and runs its strategy (after the removals of
// replace). Errors: ErrResolved; ErrInvalid for an unknown mode, nothing
// to assign, an unknown team or an unknown or deactivated agent;
// ErrNotMember when TeamID is set and a named agent is not its member.
func DecideManual(in ManualInput) (Decision, error) {
	switch {
	case !in.Conversation.Open():
		return Decision{}, ErrResolved
	case in.Mode != "" && in.Mode != ModeAdd && in.Mode != ModeReplace:
		return Decision{}, fmt.Errorf("%w: mode %q must be add or replace", ErrInvalid, in.Mode)
	case in.TeamID == nil && len(in.AgentIDs) == 0:
		return Decision{}, fmt.Errorf("%w: name a team or at least one agent", ErrInvalid)
	}
	var ts *TeamState
	if in.TeamID != nil {
		t, ok := in.Teams[*in.TeamID]
		if !ok {
			return Decision{}, fmt.Errorf("%w: unknown team %d", ErrInvalid, *in.TeamID)
		}
		ts = &t
	} else if in.Conversation.TeamID != nil {
		if t, ok := in.Teams[*in.Conversation.TeamID]; ok {
			ts = &t
		}
	}
	for _, id := range uniq(in.AgentIDs) {
		a, ok := in.Agents[id]
		switch {
		case !ok:
			return Decision{}, fmt.Errorf("%w: unknown agent %d", ErrInvalid, id)
		case !a.Active:
			return Decision{}, fmt.Errorf("%w: agent %s is deactivated", ErrInvalid, agentName(a))
		}
		if in.TeamID != nil {
			if _, ok := ts.Member(id); !ok {
				return Decision{}, fmt.Errorf("%w: %s is not in %s", ErrNotMember, agentName(a), teamName(ts.Team))
			}
		}
	}

	b := newBuilder(in.Conversation, in.Now, in.PresenceTimeout)
	b.seeAll(in.Agents, in.Teams)
	b.rule("manual")
	by := ""
	if in.By != "" {
		by = " by " + in.By
	}
	if in.Mode == ModeReplace {
		for _, a := range slices.Clone(b.set) {
			switch {
			case slices.Contains(in.AgentIDs, a.AgentID):
			case a.Source == SourceOwner:
				b.reason(Reason{AgentID: a.AgentID, Code: CodeKept,
					Text: fmt.Sprintf("%s stays assigned as the contact's owner: replacing keeps owners, only an unassign removes them.", b.name(a.AgentID))})
			default:
				b.remove(a.AgentID)
				b.reason(Reason{AgentID: a.AgentID, Code: CodeRemoved,
					Text: fmt.Sprintf("%s (%s) was removed: replaced by a manual assignment%s.", b.name(a.AgentID), sourceText(a.Source), by)})
			}
		}
	}
	b.addUsers(in.AgentIDs, in.Agents, SourceManual, ts, by)
	switch {
	case in.TeamID != nil && len(in.AgentIDs) == 0:
		b.applyTeam(*ts)
	case in.TeamID != nil:
		if b.teamID == nil || *b.teamID != ts.Team.ID {
			b.reason(Reason{Code: CodeTeamSet, Text: fmt.Sprintf("The conversation now belongs to %s.", teamName(ts.Team))})
		}
		id := ts.Team.ID
		b.teamID, b.teamName = &id, ts.Team.Name
		b.queued = false
	default:
		if ts != nil {
			b.teamName = ts.Team.Name
		}
		b.queued = false
	}
	if b.queued || b.awaiting {
		return b.finish(), nil
	}
	if b.conv.Queued {
		b.reason(Reason{Code: CodeDequeued, Text: "The conversation left the team queue: it was assigned manually."})
	}
	return b.finish(), nil
}

// DecideUnassign removes an agent from the conversation, whatever added
// them: this explicit manual unassign is the only way owners leave a
// conversation (rule 3). The contact keeps its owners: ownership is
// managed separately. Unassigning someone who is not assigned changes
// nothing and is not an error. The strategy does not run again: with
// nobody left, the conversation waits for a claim. Works on resolved
// conversations too (their counts are not affected).
func DecideUnassign(conv Conversation, agent Agent) (Decision, error) {
	if agent.ID <= 0 {
		return Decision{}, fmt.Errorf("%w: agent id %d must be positive", ErrInvalid, agent.ID)
	}
	b := newBuilder(conv, time.Time{}, 0)
	b.see(agent)
	b.rule("unassign")
	src := b.source(agent.ID)
	if src == "" {
		b.reason(Reason{AgentID: agent.ID, Code: CodeNotAssigned,
			Text: fmt.Sprintf("%s is not assigned to this conversation; nothing changed.", agentName(agent))})
		return b.finish(), nil
	}
	b.remove(agent.ID)
	b.reason(Reason{AgentID: agent.ID, Code: CodeRemoved,
		Text: fmt.Sprintf("%s (%s) was unassigned manually.", agentName(agent), sourceText(src))})
	if len(b.set) == 0 && conv.Open() && !conv.Queued {
		b.reason(Reason{Code: CodeAwaitingClaim,
			Text: "Nobody is assigned any more: the conversation waits until an agent claims it."})
	}
	return b.finish(), nil
}

// ClaimInput is an agent claiming a conversation (pick-and-assign).
type ClaimInput struct {
	Now          time.Time
	Conversation Conversation
	Agent        Agent
	// Teams holds the state of the conversation's team, if it has one, for
	// the membership check; when absent the check is skipped.
	Teams map[int64]TeamState
}

// DecideClaim lets an agent take a waiting conversation (rule 6); it
// leaves the queue. A conversation is claimable while its only assignees
// are owners (owners are attached whatever their presence, so they don't
// mean someone is working on it); any other assignee means it is taken:
// ErrAlreadyClaimed. The first claim in partition order wins. Claiming a
// conversation one already has is idempotent: no change, no error.
// Errors: ErrResolved; ErrInvalid for a deactivated agent; ErrNotMember
// when the conversation has a team, its state is given, and the agent (not
// an admin) is not a member.
func DecideClaim(in ClaimInput) (Decision, error) {
	conv, a := in.Conversation, in.Agent
	if !conv.Open() {
		return Decision{}, ErrResolved
	}
	if !a.Active {
		return Decision{}, fmt.Errorf("%w: agent %s is deactivated", ErrInvalid, agentName(a))
	}
	b := newBuilder(conv, in.Now, 0)
	b.see(a)
	b.rule("claim")
	if b.has(a.ID) {
		b.reason(Reason{AgentID: a.ID, Code: CodeAlreadyAssigned,
			Text: fmt.Sprintf("%s already has this conversation (%s); nothing changed.", agentName(a), sourceText(b.source(a.ID)))})
		return b.finish(), nil
	}
	for _, as := range conv.Assignees {
		if as.Source != SourceOwner {
			return Decision{}, fmt.Errorf("%w: assigned to agent %d (%s)", ErrAlreadyClaimed, as.AgentID, as.Source)
		}
	}
	if conv.TeamID != nil && a.Role != RoleAdmin {
		if ts, ok := in.Teams[*conv.TeamID]; ok {
			if _, member := ts.Member(a.ID); !member {
				return Decision{}, fmt.Errorf("%w: %s is not in %s", ErrNotMember, agentName(a), teamName(ts.Team))
			}
		}
	}
	if conv.TeamID != nil {
		if ts, ok := in.Teams[*conv.TeamID]; ok {
			b.teamName = ts.Team.Name
		}
	}
	b.add(a, SourceClaim)
	b.queued = false
	b.reason(Reason{AgentID: a.ID, Code: CodeClaimed, Text: fmt.Sprintf("%s claimed the conversation.", agentName(a))})
	return b.finish(), nil
}
