package assigner

import (
	"fmt"
	"slices"
	"time"
)

// AwayInput is a conversation whose away deadline fell due: an assignee
// went away or offline, or the contact wrote while they are.
type AwayInput struct {
	Now          time.Time
	Conversation Conversation
	// Timer is the deadline; its Excluded are the agents who went away.
	Timer Timer
	// Agents holds the current state of Timer.Excluded.
	Agents map[int64]Agent
	// Team is the state of the conversation's team, loaded under its lock;
	// nil when it has none.
	Team *TeamState
	// Waiting: the contact waits for an answer, that is no agent reply was
	// accepted by the Cloud API yet, or the contact wrote after the last
	// one (in the order the store applied them).
	Waiting         bool
	PresenceTimeout time.Duration // DefaultPresenceTimeout when zero
}

// DecideAway applies the away rule (issue 12, rule 2; Decision.Rule
// "away_reassign"). When the team has ReassignOnAway and the contact waits
// for an answer (Waiting), the assignees the strategy picked
// (round_robin, least_open) who are still away or offline leave the
// conversation and the team's strategy picks someone else, never them;
// nobody eligible: the conversation waits in the team's queue. A
// conversation whose agent answered and whose contact has not written
// since stays with them (when the contact writes again while they are
// still away, the store sets a new away deadline: Intercom's "reassign
// replies"). Owners, manual and claim assignees are never removed.
func DecideAway(in AwayInput) Decision {
	conv := in.Conversation
	b := newBuilder(conv, in.Now, in.PresenceTimeout)
	b.rule("away_reassign")
	for _, a := range in.Agents {
		b.see(a)
	}
	if in.Team != nil {
		b.seeTeam(*in.Team)
		b.teamName = in.Team.Team.Name
	}
	switch {
	case !conv.Open():
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is resolved."})
		return b.finish()
	case in.Team == nil || !in.Team.Team.ReassignOnAway:
		b.reason(Reason{Code: CodeSettingOff, Text: "Nothing was done: the conversation's team does not reassign when agents go away."})
		return b.finish()
	}
	var gone []int64
	for _, id := range in.Timer.Excluded {
		src := b.source(id)
		a, known := in.Agents[id]
		switch {
		case src != SourceRoundRobin && src != SourceLeastOpen:
			continue
		case known && a.Online(in.Now, b.timeout):
			b.reason(Reason{AgentID: id, Code: CodeBackOnline, Text: fmt.Sprintf("%s is online again, so the conversation stays with them.", b.name(id))})
		case !in.Waiting:
			b.reason(Reason{AgentID: id, Code: CodeAnswered, Text: fmt.Sprintf("%s is %s, but answered and the contact has not written since, so the conversation stays with them.",
				b.name(id), presenceReason(a, in.Now, b.timeout).Text)})
		default:
			gone = append(gone, id)
			b.remove(id)
			b.reason(Reason{AgentID: id, Code: CodeAwayReassign, Text: fmt.Sprintf("%s (%s) is %s while the contact waits for an answer, so the conversation goes back to %s.",
				b.name(id), sourceText(src), presenceReason(a, in.Now, b.timeout).Text, teamName(in.Team.Team))})
		}
	}
	if len(gone) == 0 {
		if len(b.d.Reasons) == 0 {
			b.reason(Reason{Code: CodeNotAssigned, Text: "Nothing was done: nobody who went away is assigned by the team's strategy any more."})
		}
		return b.finish()
	}
	ts := *in.Team
	p := Strategy(ts, append(b.ids(), gone...), in.Now, b.timeout)
	switch {
	case p.OK():
		b.take(ts, p)
		b.queued = false
		b.armNoReply(ts.Team)
	case p.Manual:
		b.reason(p.Reasons...)
		b.awaiting = true
	case slices.ContainsFunc(b.set, func(a Assignee) bool { _, m := ts.Member(a.AgentID); return m }):
		b.reason(p.Reasons...) // a member still assigned (an owner) keeps it
	default:
		b.reason(p.Reasons...)
		b.rule("queue")
		b.queued = true
		b.reason(Reason{Code: CodeQueued, Text: fmt.Sprintf("The conversation waits in the queue of %s and is assigned as soon as a member becomes eligible.", teamName(ts.Team))})
	}
	return b.finish()
}
