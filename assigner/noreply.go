package assigner

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// NoReplyInput is a conversation whose no-reply deadline fell due.
type NoReplyInput struct {
	Now          time.Time
	Conversation Conversation
	// Timer is the deadline that fell due (its Round and Excluded).
	Timer Timer
	// Team is the state of the conversation's team, loaded under its lock;
	// nil when the conversation has no team or the team is gone.
	Team *TeamState
	// Fallback is the state of the inbox's fallback agent, for
	// ExhaustedFallback; nil when the inbox has none.
	Fallback        *Agent
	PresenceTimeout time.Duration // DefaultPresenceTimeout when zero
	// Sent is what the relay recorded of the conversation's sends: an
	// agent reply the Cloud API accepted by the deadline counts, even
	// when its result comes after the deadline's command.
	Sent Sent
}

// DecideNoReply applies the no-reply rule (issue 12, rule 1; Decision.Rule
// "no_reply_reassign"). When no agent has replied, the assignees the team's
// strategy picked (round_robin, least_open) lose the conversation to
// another eligible member picked by the same strategy, excluding everyone
// the rule already took it from (Timer.Excluded); the new assignee gets a
// new window (SetTimers, Round + 1). Owners, manual, claim, flow and first
// responder assignees are never removed. When nobody else is eligible the
// assignee keeps it. After Team.ReassignMax reassignments,
// Team.ReassignExhausted decides: keep, queue (back to the team's queue)
// or fallback (to the inbox's fallback agent, else the queue). Nothing
// changes when an agent replied, the conversation is resolved, nobody the
// strategy picked is left, or the team no longer has the rule.
func DecideNoReply(in NoReplyInput) Decision {
	conv := in.Conversation
	b := newBuilder(conv, in.Now, in.PresenceTimeout)
	b.rule("no_reply_reassign")
	if in.Team != nil {
		b.seeTeam(*in.Team)
		b.teamName = in.Team.Team.Name
	}
	if in.Fallback != nil {
		b.see(*in.Fallback)
	}
	var late []Assignee
	for _, a := range conv.Assignees {
		if a.Source == SourceRoundRobin || a.Source == SourceLeastOpen {
			late = append(late, a)
		}
	}
	var window time.Duration
	on := false
	if in.Team != nil {
		window, on = in.Team.Team.reassignWindow()
	}
	replied := repliedBy(conv, in.Sent, in.Timer.DueAt)
	switch {
	case !conv.Open():
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is resolved."})
		return b.finish()
	case conv.Snoozed() && on && len(late) > 0 && replied == nil:
		// The rule waits for the snooze: the deadline moves past it, with
		// the same round.
		b.reason(Reason{Code: CodeSnoozed, Text: fmt.Sprintf("Nothing was done: the conversation is snoozed until %s; if nobody has replied %s after the snooze ends, it goes to someone else.",
			when(*conv.SnoozedUntil, in.Now), windowText(window))})
		b.setTimer(Timer{Kind: TimerNoReply, DueAt: afterSnooze(*conv.SnoozedUntil, window), Round: in.Timer.Round, Excluded: in.Timer.Excluded})
		return b.finish()
	case conv.Snoozed():
		b.reason(Reason{Code: CodeSnoozed, Text: "Nothing was done: the conversation is snoozed."})
		return b.finish()
	case replied != nil:
		b.reason(Reason{Code: CodeReplied, Text: fmt.Sprintf("Nothing was done: an agent replied at %s.", when(*replied, in.Now))})
		return b.finish()
	case len(late) == 0:
		b.reason(Reason{Code: CodeNotAssigned, Text: "Nothing was done: nobody the team's strategy picked is assigned any more."})
		return b.finish()
	case !on:
		b.reason(Reason{Code: CodeSettingOff, Text: "Nothing was done: the conversation's team no longer reassigns on no reply."})
		return b.finish()
	}
	ts := *in.Team
	names := make([]string, len(late))
	for i, a := range late {
		names[i] = fmt.Sprintf("%s (%s)", b.name(a.AgentID), sourceText(a.Source))
	}
	who := strings.Join(names, " and ")
	if in.Timer.Round >= ts.Team.ReassignMax {
		b.exhausted(in, late, who, window)
		return b.finish()
	}
	excluded := slices.Clone(in.Timer.Excluded)
	for _, a := range late {
		if !slices.Contains(excluded, a.AgentID) {
			excluded = append(excluded, a.AgentID)
		}
	}
	p := Strategy(ts, append(b.ids(), excluded...), in.Now, b.timeout)
	if !p.OK() {
		b.reason(p.Reasons...)
		b.reason(Reason{Code: CodeNobodyEligible, Text: fmt.Sprintf("%s did not reply within %s, but nobody else in %s is eligible, so the conversation stays.",
			capital(who), windowText(window), teamName(ts.Team))})
		return b.finish()
	}
	for _, a := range late {
		b.remove(a.AgentID)
		b.reason(Reason{AgentID: a.AgentID, Code: CodeNoReply, Text: fmt.Sprintf("%s (%s) did not reply within %s, so the conversation goes to someone else in %s (reassignment %d of %d).",
			b.name(a.AgentID), sourceText(a.Source), windowText(window), teamName(ts.Team), in.Timer.Round+1, ts.Team.ReassignMax)})
	}
	b.take(ts, p)
	b.setTimer(Timer{Kind: TimerNoReply, DueAt: in.Now.Add(window), Round: in.Timer.Round + 1, Excluded: excluded})
	return b.finish()
}

// take adds the member the team's strategy picked (p.OK()), with its reasons.
func (b *builder) take(ts TeamState, p Pick) {
	b.reason(p.Reasons...)
	m, _ := ts.Member(p.AgentID)
	b.add(m.Agent, p.Source)
	b.d.Chosen = append(b.d.Chosen, p.AgentID)
	b.d.ChosenAt = ts.NextAssignedAt(b.now)
	b.rule(string(p.Source))
}

// exhausted applies Team.ReassignExhausted once the reassignments are used up.
func (b *builder) exhausted(in NoReplyInput, late []Assignee, who string, window time.Duration) {
	ts := in.Team
	used := fmt.Sprintf("%s did not reply within %s, and the conversation was already reassigned %s (the most %s allows)",
		capital(who), windowText(window), plural(in.Timer.Round, "time"), teamName(ts.Team))
	mode := ts.Team.ReassignExhausted
	fb := in.Fallback
	if mode == ExhaustedKeep || mode == "" {
		b.reason(Reason{Code: CodeReassignExhausted, Text: used + ": the assignment stays."})
		return
	}
	for _, a := range late {
		b.remove(a.AgentID)
	}
	if mode == ExhaustedFallback && fb != nil && fb.Active {
		b.reason(Reason{AgentID: fb.ID, Code: CodeReassignExhausted, Text: used + fmt.Sprintf(": the conversation goes to the inbox's fallback agent %s.", agentName(*fb))})
		b.addUsers([]int64{fb.ID}, map[int64]Agent{fb.ID: *fb}, SourceManual, ts, " as the inbox fallback")
		b.queued = false
		return
	}
	b.rule("queue")
	if mode == ExhaustedFallback {
		b.warn(Reason{Code: CodeAwaitingClaim, Text: "The inbox has no active fallback agent, so the conversation goes back to the team's queue instead."})
	}
	b.reason(Reason{Code: CodeReassignExhausted, Text: used + fmt.Sprintf(": the conversation goes back to the queue of %s.", teamName(ts.Team))})
	b.queued = true
}

// windowText formats a rule's window: seconds below ten minutes when it is
// not whole minutes ("90 s"), else like duration.
func windowText(d time.Duration) string {
	if d < 10*time.Minute && d%time.Minute != 0 {
		return fmt.Sprintf("%d s", int(d/time.Second))
	}
	return duration(d)
}
