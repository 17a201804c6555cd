package assigner

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Pick is the outcome of running a team's strategy.
type Pick struct {
	// AgentID is the chosen member; 0 when nobody was chosen.
	AgentID int64
	// Source is SourceRoundRobin or SourceLeastOpen when someone was chosen.
	Source Source
	// Manual: the team's strategy is manual, so nobody is picked on
	// purpose: the conversation waits for a claim (rule 6). This is not
	// the same as queued (rule 10), where the strategy would pick someone
	// but nobody is eligible yet.
	Manual bool
	// Reasons list every member skipped and why, and the choice.
	Reasons []Reason
}

// OK reports whether someone was chosen.
func (p Pick) OK() bool { return p.AgentID != 0 }

// Strategy runs the team's strategy: round_robin (also for an empty
// strategy), least_open, or manual (nobody, Pick.Manual set). assigned
// lists agents already on the conversation; they are never picked.
func Strategy(ts TeamState, assigned []int64, now time.Time, timeout time.Duration) Pick {
	switch ts.Team.Strategy {
	case StrategyRoundRobin, "":
		id, ok, rs := PickRoundRobin(ts, assigned, now, timeout)
		return pickOf(id, ok, SourceRoundRobin, rs)
	case StrategyLeastOpen:
		id, ok, rs := PickLeastOpen(ts, assigned, now, timeout)
		return pickOf(id, ok, SourceLeastOpen, rs)
	case StrategyManual:
		return Pick{Manual: true, Reasons: []Reason{{Code: CodeAwaitingClaim,
			Text: fmt.Sprintf("%s assigns manually: the conversation waits in the team queue until an agent claims it.", capital(teamName(ts.Team)))}}}
	}
	return Pick{Reasons: []Reason{{Code: CodeNobodyEligible,
		Text: fmt.Sprintf("%s has the unknown strategy %q, so nobody was picked.", capital(teamName(ts.Team)), ts.Team.Strategy)}}}
}

func pickOf(id int64, ok bool, src Source, rs []Reason) Pick {
	if !ok {
		return Pick{Reasons: rs}
	}
	return Pick{AgentID: id, Source: src, Reasons: rs}
}

// PickRoundRobin picks, among the eligible members (see candidates), the
// one the team assigned least recently (never assigned first); ties go to
// member order (Position), then agent id (rule 8).
func PickRoundRobin(ts TeamState, assigned []int64, now time.Time, timeout time.Duration) (chosen int64, ok bool, reasons []Reason) {
	cands, reasons := candidates(ts, assigned, now, timeout)
	if len(cands) == 0 {
		return 0, false, append(reasons, nobodyReason(ts, reasons))
	}
	slices.SortStableFunc(cands, rrCompare)
	c := cands[0]
	last := "never assigned by this team"
	if !c.LastAssignedAt.IsZero() {
		last = "last assigned by this team at " + when(c.LastAssignedAt, now)
	}
	text := fmt.Sprintf("%s was chosen by round robin in %s: the only eligible member.", agentName(c.Agent), teamName(ts.Team))
	if len(cands) > 1 {
		text = fmt.Sprintf("%s was chosen by round robin in %s: %s, the least recent of %d eligible members.",
			agentName(c.Agent), teamName(ts.Team), last, len(cands))
	}
	if len(cands) > 1 && cands[1].LastAssignedAt.Equal(c.LastAssignedAt) {
		text += fmt.Sprintf(" Tied with %s; member order decides.", agentName(cands[1].Agent))
	}
	return c.ID, true, append(reasons, Reason{AgentID: c.ID, Code: CodeChosen, Text: text})
}

// PickLeastOpen picks, among the eligible members (see candidates), the
// one with the fewest open conversations; ties go to the least recently
// assigned by the team, then member order, then agent id (rule 9).
func PickLeastOpen(ts TeamState, assigned []int64, now time.Time, timeout time.Duration) (chosen int64, ok bool, reasons []Reason) {
	cands, reasons := candidates(ts, assigned, now, timeout)
	if len(cands) == 0 {
		return 0, false, append(reasons, nobodyReason(ts, reasons))
	}
	slices.SortStableFunc(cands, func(a, b Member) int {
		if a.OpenCount != b.OpenCount {
			return a.OpenCount - b.OpenCount
		}
		return rrCompare(a, b)
	})
	c := cands[0]
	text := fmt.Sprintf("%s was chosen by least open in %s: the only eligible member (%s).",
		agentName(c.Agent), teamName(ts.Team), plural(c.OpenCount, "open conversation"))
	if len(cands) > 1 {
		text = fmt.Sprintf("%s was chosen by least open in %s: %s, the fewest of %d eligible members.",
			agentName(c.Agent), teamName(ts.Team), plural(c.OpenCount, "open conversation"), len(cands))
	}
	if len(cands) > 1 && cands[1].OpenCount == c.OpenCount {
		text += fmt.Sprintf(" Tied with %s; the one assigned less recently wins.", agentName(cands[1].Agent))
	}
	return c.ID, true, append(reasons, Reason{AgentID: c.ID, Code: CodeChosen, Text: text})
}

// NextAssignedAt is the LastAssignedAt to record for a member the team
// picks at now: now truncated to the microsecond (what Postgres keeps),
// but strictly after every LastAssignedAt in the team. Picks made in one
// transaction (where now() does not move) or on hosts with skewed clocks
// thus keep their order, and round robin keeps rotating.
func (ts TeamState) NextAssignedAt(now time.Time) time.Time {
	at := now.Truncate(time.Microsecond)
	for _, m := range ts.Members {
		if !m.LastAssignedAt.Before(at) {
			at = m.LastAssignedAt.Truncate(time.Microsecond).Add(time.Microsecond)
		}
	}
	return at
}

// rrCompare orders by last assignment (never first), then Position, then id.
func rrCompare(a, b Member) int {
	if c := a.LastAssignedAt.Compare(b.LastAssignedAt); c != 0 {
		return c
	}
	if a.Position != b.Position {
		return a.Position - b.Position
	}
	return cmpInt64(a.ID, b.ID)
}

// candidates returns the members a strategy may pick: active, not already
// assigned, online when the team is online-only, and under their capacity
// (the smaller of Agent.Capacity and Team.MaxOpen). Every other member gets
// a reason saying why it was skipped.
func candidates(ts TeamState, assigned []int64, now time.Time, timeout time.Duration) ([]Member, []Reason) {
	var cands []Member
	var reasons []Reason
	for _, m := range ts.Members {
		if r, ok := skip(ts.Team, m.Agent, assigned, now, timeout); !ok {
			reasons = append(reasons, r)
			continue
		}
		cands = append(cands, m)
	}
	return cands, reasons
}

// skip returns why a member can't be picked, or ok.
func skip(t Team, a Agent, assigned []int64, now time.Time, timeout time.Duration) (Reason, bool) {
	name := agentName(a)
	switch {
	case slices.Contains(assigned, a.ID):
		return Reason{AgentID: a.ID, Code: CodeAlreadyAssigned,
			Text: fmt.Sprintf("%s was skipped: already assigned to this conversation.", name)}, false
	case !a.Active:
		return Reason{AgentID: a.ID, Code: CodeInactive,
			Text: fmt.Sprintf("%s was skipped: deactivated.", name)}, false
	case t.OnlineOnly && !a.Online(now, timeout):
		r := presenceReason(a, now, timeout)
		r.Text = fmt.Sprintf("%s was skipped: %s.", name, r.Text)
		return r, false
	}
	if limit, ok := capacity(t, a); ok && a.OpenCount >= limit {
		return Reason{AgentID: a.ID, Code: CodeAtCapacity,
			Text: fmt.Sprintf("%s was skipped: at capacity (%d open, limit %s).", name, a.OpenCount, limitText(t, a, limit))}, false
	}
	return Reason{}, true
}

// capacity returns the smaller of the agent's capacity and the team's
// per-member limit, if either is set.
func capacity(t Team, a Agent) (int, bool) {
	switch {
	case a.Capacity != nil && t.MaxOpen != nil:
		return min(*a.Capacity, *t.MaxOpen), true
	case a.Capacity != nil:
		return *a.Capacity, true
	case t.MaxOpen != nil:
		return *t.MaxOpen, true
	}
	return 0, false
}

func limitText(t Team, a Agent, limit int) string {
	if t.MaxOpen != nil && *t.MaxOpen == limit && (a.Capacity == nil || *a.Capacity > limit) {
		return fmt.Sprintf("%d per member in %s", limit, teamName(t))
	}
	return fmt.Sprint(limit)
}

// presenceReason describes why an agent is not online: the Code is
// CodeAway or CodeOffline and the Text a fragment ("offline since 10:02 (no
// heartbeat for 7 min)").
func presenceReason(a Agent, now time.Time, timeout time.Duration) Reason {
	switch {
	case a.Presence == PresenceAway:
		return Reason{AgentID: a.ID, Code: CodeAway, Text: "away"}
	case a.HeartbeatAt.IsZero():
		return Reason{AgentID: a.ID, Code: CodeOffline, Text: "offline (no heartbeat yet)"}
	case a.Presence == PresenceOnline:
		return Reason{AgentID: a.ID, Code: CodeOffline, Text: fmt.Sprintf("offline since %s (no heartbeat for %s)",
			when(a.HeartbeatAt, now), duration(now.Sub(a.HeartbeatAt)))}
	}
	return Reason{AgentID: a.ID, Code: CodeOffline, Text: fmt.Sprintf("offline (last heartbeat at %s)", when(a.HeartbeatAt, now))}
}

// nobodyReason summarises why nobody in the team could be picked.
func nobodyReason(ts TeamState, skipped []Reason) Reason {
	team := teamName(ts.Team)
	if len(ts.Members) == 0 {
		return Reason{Code: CodeNoMembers, Text: fmt.Sprintf("Nobody was picked: %s has no members.", team)}
	}
	counts := map[string]int{}
	for _, r := range skipped {
		counts[r.Code]++
	}
	if counts[CodeAtCapacity] > 0 && counts[CodeAtCapacity]+counts[CodeAlreadyAssigned]+counts[CodeInactive] == len(skipped) {
		return Reason{Code: CodeTeamFull, Text: fmt.Sprintf("Nobody was picked: every available member of %s is at capacity.", team)}
	}
	var parts []string
	for _, c := range []struct{ code, label string }{
		{CodeOffline, "offline"}, {CodeAway, "away"}, {CodeAtCapacity, "at capacity"},
		{CodeAlreadyAssigned, "already assigned"}, {CodeInactive, "deactivated"},
	} {
		if n := counts[c.code]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c.label))
		}
	}
	return Reason{Code: CodeNobodyEligible, Text: fmt.Sprintf("Nobody in %s is eligible: %s.", team, strings.Join(parts, ", "))}
}
