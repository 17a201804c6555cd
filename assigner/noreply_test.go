package assigner

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// reassigning returns a round-robin team with the no-reply rule on.
func reassigning(after, maxN int, exhausted ReassignExhausted, ms ...Member) TeamState {
	ts := team(1, "Support", StrategyRoundRobin, ms...)
	ts.Team.ReassignAfterSeconds, ts.Team.ReassignMax, ts.Team.ReassignExhausted = ptr(after), maxN, exhausted
	return ts
}

// A strategy pick starts the no-reply window; a manual pick, a team
// without the rule, or a conversation already answered does not.
func TestNoReplyTimerArmedByStrategyOnly(t *testing.T) {
	ms := []Member{member(online(1, "Ana"), 0), member(online(2, "Bob"), 1)}
	with := reassigning(120, 1, "", ms...)
	without := team(1, "Support", StrategyRoundRobin, ms...)
	answered := openConv()
	answered.FirstReplyAt = ptr(t0.Add(-time.Minute))
	step := Inbox{DefaultAssign: &Step{TeamID: ptr(int64(1))}}
	for _, tc := range []struct {
		name string
		d    Decision
		want []Timer
	}{
		{"open, rule on", DecideOpen(OpenInput{Now: t0, Inbox: step, Conversation: openConv(), Teams: map[int64]TeamState{1: with}}),
			[]Timer{{Kind: TimerNoReply, DueAt: t0.Add(2 * time.Minute)}}},
		{"open, rule off", DecideOpen(OpenInput{Now: t0, Inbox: step, Conversation: openConv(), Teams: map[int64]TeamState{1: without}}), nil},
		{"drain, rule on", DrainQueue([]Conversation{queued(5, 1)}, map[int64]TeamState{1: with}, t0, 0)[0],
			[]Timer{{Kind: TimerNoReply, DueAt: t0.Add(2 * time.Minute)}}},
		{"manual team-only assignment runs the strategy", mustManual(t, ManualInput{Now: t0, Conversation: openConv(), TeamID: ptr(int64(1)),
			Teams: map[int64]TeamState{1: with}}), []Timer{{Kind: TimerNoReply, DueAt: t0.Add(2 * time.Minute)}}},
		{"manual named agent", mustManual(t, ManualInput{Now: t0, Conversation: openConv(), AgentIDs: []int64{1},
			Agents: map[int64]Agent{1: online(1, "Ana")}}), nil},
		{"already answered", mustManual(t, ManualInput{Now: t0, Conversation: answered, TeamID: ptr(int64(1)),
			Teams: map[int64]TeamState{1: with}}), nil},
	} {
		if !slices.EqualFunc(tc.d.SetTimers, tc.want, timerEqual) {
			t.Errorf("%s: SetTimers = %+v, want %+v", tc.name, tc.d.SetTimers, tc.want)
		}
	}
}

func mustManual(t *testing.T, in ManualInput) Decision {
	t.Helper()
	d, err := DecideManual(in)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func timerEqual(a, b Timer) bool {
	return a.Kind == b.Kind && a.DueAt.Equal(b.DueAt) && a.Round == b.Round && slices.Equal(a.Excluded, b.Excluded)
}

// What cancels the no-reply timer: a reply, resolving, and the strategy's
// assignee leaving (unassigned, or made manual). A reply and resolving
// cancel the SLA timer too.
func TestNoReplyTimerCancelled(t *testing.T) {
	conv := openConv(Assignee{AgentID: 1, Source: SourceRoundRobin})
	ana := online(1, "Ana")
	unassigned, _ := DecideUnassign(conv, ana)
	for _, tc := range []struct {
		name string
		d    Decision
		want []TimerKind
	}{
		{"first reply", DecideFirstResponder(FirstResponderInput{Now: t0, Conversation: conv, Agent: ana}), []TimerKind{TimerNoReply, TimerSLA}},
		{"resolve", DecideResolve(conv), []TimerKind{TimerNoReply, TimerAway, TimerSnooze, TimerAutoResolve, TimerSLA}},
		{"unassign", unassigned, []TimerKind{TimerNoReply}},
		{"made manual", mustManual(t, ManualInput{Now: t0, Conversation: conv, AgentIDs: []int64{1}, Agents: map[int64]Agent{1: ana}}), []TimerKind{TimerNoReply}},
		{"another agent added", mustManual(t, ManualInput{Now: t0, Conversation: conv, AgentIDs: []int64{2}, Agents: map[int64]Agent{2: online(2, "Bob")}}), nil},
		{"system reply", DecideFirstResponder(FirstResponderInput{Now: t0, Conversation: conv, Agent: ana, BySystem: true}), nil},
	} {
		if !slices.Equal(tc.d.CancelTimers, tc.want) {
			t.Errorf("%s: CancelTimers = %v, want %v", tc.name, tc.d.CancelTimers, tc.want)
		}
	}
}

func TestDecideNoReply(t *testing.T) {
	ana, bob, cid := online(1, "Ana"), online(2, "Bob"), online(3, "Cid")
	rr := func(id int64) Assignee { return Assignee{AgentID: id, Source: SourceRoundRobin} }
	fallback := online(9, "Fay")
	due := Timer{Kind: TimerNoReply, DueAt: t0}
	type want struct {
		assignees []Assignee
		code      string
		text      string
		timer     *Timer // the new deadline, if any
		queued    bool
		delta     map[int64]int
		rule      string
	}
	for _, tc := range []struct {
		name string
		in   NoReplyInput
		want want
	}{
		{
			name: "reassigned by the same strategy, the late one excluded",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(1)), Timer: due,
				Team: ptr(reassigning(90, 2, "", member(ana, 0), member(bob, 1), member(cid, 2)))},
			want: want{assignees: []Assignee{rr(2)}, code: CodeNoReply,
				text:  "Ana (round robin) did not reply within 90 s, so the conversation goes to someone else in team Support (reassignment 1 of 2).",
				timer: &Timer{Kind: TimerNoReply, DueAt: t0.Add(90 * time.Second), Round: 1, Excluded: []int64{1}},
				delta: map[int64]int{1: -1, 2: 1}, rule: "no_reply_reassign, round_robin"},
		},
		{
			name: "second round skips everyone already tried",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(2)), Timer: Timer{Kind: TimerNoReply, DueAt: t0, Round: 1, Excluded: []int64{1}},
				Team: ptr(reassigning(60, 2, "", member(ana, 0), member(bob, 1), member(cid, 2)))},
			want: want{assignees: []Assignee{rr(3)}, code: CodeNoReply,
				timer: &Timer{Kind: TimerNoReply, DueAt: t0.Add(time.Minute), Round: 2, Excluded: []int64{1, 2}},
				delta: map[int64]int{2: -1, 3: 1}, rule: "no_reply_reassign, round_robin"},
		},
		{
			name: "owners and manual assignees stay",
			in: NoReplyInput{Now: t0, Conversation: openConv(Assignee{AgentID: 7, Source: SourceOwner}, Assignee{AgentID: 8, Source: SourceManual}, rr(1)),
				Timer: due, Team: ptr(reassigning(60, 1, "", member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{{AgentID: 7, Source: SourceOwner}, {AgentID: 8, Source: SourceManual}, rr(2)}, code: CodeNoReply,
				timer: &Timer{Kind: TimerNoReply, DueAt: t0.Add(time.Minute), Round: 1, Excluded: []int64{1}},
				delta: map[int64]int{1: -1, 2: 1}, rule: "no_reply_reassign, round_robin"},
		},
		{
			name: "nobody else eligible: stays",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(1)), Timer: due,
				Team: ptr(reassigning(60, 1, "", member(ana, 0), member(offline(2, "Bob"), 1)))},
			want: want{assignees: []Assignee{rr(1)}, code: CodeNobodyEligible,
				text: "Ana (round robin) did not reply within 1 min, but nobody else in team Support is eligible, so the conversation stays.",
				rule: "no_reply_reassign"},
		},
		{
			name: "exhausted, keep",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(2)), Timer: Timer{Kind: TimerNoReply, Round: 1, Excluded: []int64{1}},
				Team: ptr(reassigning(60, 1, ExhaustedKeep, member(ana, 0), member(bob, 1), member(cid, 2)))},
			want: want{assignees: []Assignee{rr(2)}, code: CodeReassignExhausted,
				text: "Bob (round robin) did not reply within 1 min, and the conversation was already reassigned 1 time (the most team Support allows): the assignment stays.",
				rule: "no_reply_reassign"},
		},
		{
			name: "exhausted, queue",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(2)), Timer: Timer{Kind: TimerNoReply, Round: 1},
				Team: ptr(reassigning(60, 1, ExhaustedQueue, member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{}, code: CodeReassignExhausted, queued: true, delta: map[int64]int{2: -1}, rule: "no_reply_reassign, queue"},
		},
		{
			name: "exhausted, fallback",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(2)), Timer: Timer{Kind: TimerNoReply, Round: 1}, Fallback: &fallback,
				Team: ptr(reassigning(60, 1, ExhaustedFallback, member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{{AgentID: 9, Source: SourceManual}}, code: CodeReassignExhausted,
				delta: map[int64]int{2: -1, 9: 1}, rule: "no_reply_reassign"},
		},
		{
			name: "exhausted, fallback without a fallback agent: queue",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(2)), Timer: Timer{Kind: TimerNoReply, Round: 1},
				Team: ptr(reassigning(60, 1, ExhaustedFallback, member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{}, code: CodeReassignExhausted, queued: true, delta: map[int64]int{2: -1}, rule: "no_reply_reassign, queue"},
		},
		{
			name: "reassign_max 0: the first deadline is already exhausted",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(1)), Timer: due,
				Team: ptr(reassigning(60, 0, ExhaustedQueue, member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{}, code: CodeReassignExhausted, queued: true, delta: map[int64]int{1: -1}, rule: "no_reply_reassign, queue"},
		},
		{
			name: "snoozed: the deadline moves past the snooze, same round",
			in: NoReplyInput{Now: t0, Conversation: func() Conversation { c := openConv(rr(2)); c.SnoozedUntil = ptr(t0.Add(time.Hour)); return c }(),
				Timer: Timer{Kind: TimerNoReply, DueAt: t0, Round: 1, Excluded: []int64{1}},
				Team:  ptr(reassigning(90, 2, "", member(ana, 0), member(bob, 1), member(cid, 2)))},
			want: want{assignees: []Assignee{rr(2)}, code: CodeSnoozed,
				timer: &Timer{Kind: TimerNoReply, DueAt: t0.Add(time.Hour + 90*time.Second), Round: 1, Excluded: []int64{1}},
				rule:  "no_reply_reassign"},
		},
		{
			name: "snoozed, rule turned off meanwhile: nothing",
			in: NoReplyInput{Now: t0, Conversation: func() Conversation { c := openConv(rr(1)); c.SnoozedUntil = ptr(t0.Add(time.Hour)); return c }(), Timer: due,
				Team: ptr(team(1, "Support", StrategyRoundRobin, member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{rr(1)}, code: CodeSnoozed, text: "Nothing was done: the conversation is snoozed.", rule: "no_reply_reassign"},
		},
		{
			name: "an agent replied: nothing",
			in: NoReplyInput{Now: t0, Conversation: func() Conversation { c := openConv(rr(1)); c.FirstReplyAt = ptr(t0); return c }(), Timer: due,
				Team: ptr(reassigning(60, 1, "", member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{rr(1)}, code: CodeReplied, rule: "no_reply_reassign"},
		},
		{
			name: "a reply accepted by the deadline, its result still on its way: nothing",
			in: NoReplyInput{Now: t0.Add(time.Second), Conversation: openConv(rr(1)), Timer: due, Sent: Sent{FirstAgentReply: ptr(t0), Latest: ptr(t0)},
				Team: ptr(reassigning(60, 1, "", member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{rr(1)}, code: CodeReplied, text: "Nothing was done: an agent replied at 10:09.", rule: "no_reply_reassign"},
		},
		{
			name: "a reply accepted after the deadline does not count",
			in: NoReplyInput{Now: t0.Add(time.Second), Conversation: openConv(rr(1)), Timer: due,
				Sent: Sent{FirstAgentReply: ptr(t0.Add(time.Millisecond)), Latest: ptr(t0.Add(time.Millisecond))},
				Team: ptr(reassigning(60, 1, "", member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{rr(2)}, code: CodeNoReply,
				timer: &Timer{Kind: TimerNoReply, DueAt: t0.Add(61 * time.Second), Round: 1, Excluded: []int64{1}},
				delta: map[int64]int{1: -1, 2: 1}, rule: "no_reply_reassign, round_robin"},
		},
		{
			name: "resolved: nothing",
			in: NoReplyInput{Now: t0, Conversation: func() Conversation { c := openConv(rr(1)); c.Status = StatusResolved; return c }(), Timer: due,
				Team: ptr(reassigning(60, 1, "", member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{rr(1)}, code: CodeNotOpen, rule: "no_reply_reassign"},
		},
		{
			name: "made manual meanwhile: nothing",
			in: NoReplyInput{Now: t0, Conversation: openConv(Assignee{AgentID: 1, Source: SourceManual}), Timer: due,
				Team: ptr(reassigning(60, 1, "", member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{{AgentID: 1, Source: SourceManual}}, code: CodeNotAssigned, rule: "no_reply_reassign"},
		},
		{
			name: "rule turned off meanwhile: nothing",
			in: NoReplyInput{Now: t0, Conversation: openConv(rr(1)), Timer: due,
				Team: ptr(team(1, "Support", StrategyRoundRobin, member(ana, 0), member(bob, 1)))},
			want: want{assignees: []Assignee{rr(1)}, code: CodeSettingOff, rule: "no_reply_reassign"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideNoReply(tc.in)
			if !slices.Equal(d.Assignees, tc.want.assignees) {
				t.Errorf("assignees = %v, want %v", d.Assignees, tc.want.assignees)
			}
			hasReason(t, d, tc.want.code, tc.want.text)
			var timers []Timer
			if tc.want.timer != nil {
				timers = []Timer{*tc.want.timer}
			}
			if !slices.EqualFunc(d.SetTimers, timers, timerEqual) {
				t.Errorf("SetTimers = %+v, want %+v", d.SetTimers, timers)
			}
			if d.Queued != tc.want.queued || !maps.Equal(d.OpenCountDelta, tc.want.delta) || d.Rule != tc.want.rule {
				t.Errorf("queued %v delta %v rule %q, want %v %v %q", d.Queued, d.OpenCountDelta, d.Rule, tc.want.queued, tc.want.delta, tc.want.rule)
			}
			if !strings.HasPrefix(d.Summary(), d.Rule+": ") {
				t.Errorf("summary %q", d.Summary())
			}
		})
	}
}

// The summary the README shows for a reassignment.
func TestNoReplySummary(t *testing.T) {
	ts := reassigning(300, 2, ExhaustedQueue, member(online(1, "Ana"), 0), member(online(2, "Bob"), 1))
	d := DecideNoReply(NoReplyInput{Now: t0, Conversation: func() Conversation {
		c := openConv(Assignee{AgentID: 1, Source: SourceRoundRobin})
		c.TeamID = ptr(int64(1))
		return c
	}(), Timer: Timer{Kind: TimerNoReply, DueAt: t0}, Team: &ts})
	want := "no_reply_reassign, round_robin: added Bob (round robin); removed Ana (round robin); team Support"
	if d.Summary() != want {
		t.Errorf("summary %q, want %q", d.Summary(), want)
	}
	hasReason(t, d, CodeNoReply, "Ana (round robin) did not reply within 5 min, so the conversation goes to someone else in team Support (reassignment 1 of 2).")
}
