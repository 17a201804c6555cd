package assigner

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func awayTeam(on bool, noReply *int, ms ...Member) *TeamState {
	ts := team(1, "Support", StrategyRoundRobin, ms...)
	ts.Team.ReassignOnAway, ts.Team.ReassignAfterSeconds = on, noReply
	return &ts
}

func TestDecideAway(t *testing.T) {
	away := func(a Agent) Agent { a.Presence = PresenceAway; return a }
	ana, bob, cid := away(online(1, "Ana")), online(2, "Bob"), online(3, "Cid")
	rr := func(id int64) Assignee { return Assignee{AgentID: id, Source: SourceRoundRobin} }
	timer := Timer{Kind: TimerAway, DueAt: t0, Excluded: []int64{1}}
	agents := map[int64]Agent{1: ana}
	for _, tc := range []struct {
		name      string
		in        AwayInput
		assignees []Assignee
		code      string
		text      string
		queued    bool
		timers    []Timer
		delta     map[int64]int
		rule      string
	}{
		{name: "unanswered: back to the strategy, never the away agent",
			in:        AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: agents, Waiting: true, Team: awayTeam(true, nil, member(ana, 0), member(bob, 1))},
			assignees: []Assignee{rr(2)}, code: CodeAwayReassign,
			text:  "Ana (round robin) is away while the contact waits for an answer, so the conversation goes back to team Support.",
			delta: map[int64]int{1: -1, 2: 1}, rule: "away_reassign, round_robin"},
		{name: "offline by heartbeat timeout, team not online-only: still not picked again",
			in: AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: map[int64]Agent{1: offline(1, "Ana")}, Waiting: true,
				Team: func() *TeamState {
					ts := awayTeam(true, nil, member(offline(1, "Ana"), 0), member(bob, 1))
					ts.Team.OnlineOnly = false
					return ts
				}()},
			assignees: []Assignee{rr(2)}, code: CodeAwayReassign,
			text:  "Ana (round robin) is offline since 10:02 (no heartbeat for 7 min) while the contact waits for an answer, so the conversation goes back to team Support.",
			delta: map[int64]int{1: -1, 2: 1}, rule: "away_reassign, round_robin"},
		{name: "the new assignee gets the no-reply window",
			in:        AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: agents, Waiting: true, Team: awayTeam(true, ptr(60), member(ana, 0), member(cid, 1))},
			assignees: []Assignee{rr(3)}, code: CodeAwayReassign, timers: []Timer{{Kind: TimerNoReply, DueAt: t0.Add(time.Minute)}},
			delta: map[int64]int{1: -1, 3: 1}, rule: "away_reassign, round_robin"},
		{name: "answered and the contact has not written since: stays",
			in: AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: agents, Waiting: false,
				Team: awayTeam(true, nil, member(ana, 0), member(bob, 1))},
			assignees: []Assignee{rr(1)}, code: CodeAnswered, rule: "away_reassign"},
		{name: "the contact wrote again after the answer: reassign replies",
			in: AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: agents, Waiting: true,
				Team: awayTeam(true, nil, member(ana, 0), member(bob, 1))},
			assignees: []Assignee{rr(2)}, code: CodeAwayReassign, delta: map[int64]int{1: -1, 2: 1}, rule: "away_reassign, round_robin"},
		{name: "nobody else eligible: queued",
			in:        AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: agents, Waiting: true, Team: awayTeam(true, nil, member(ana, 0), member(offline(2, "Bob"), 1))},
			assignees: []Assignee{}, code: CodeQueued, queued: true, delta: map[int64]int{1: -1}, rule: "away_reassign, queue"},
		{name: "owners and manual assignees stay",
			in: AwayInput{Now: t0, Conversation: openConv(Assignee{AgentID: 1, Source: SourceOwner}), Timer: timer, Agents: agents, Waiting: true,
				Team: awayTeam(true, nil, member(ana, 0), member(bob, 1))},
			assignees: []Assignee{{AgentID: 1, Source: SourceOwner}}, code: CodeNotAssigned, rule: "away_reassign"},
		{name: "back online before the command: stays",
			in:        AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: map[int64]Agent{1: online(1, "Ana")}, Waiting: true, Team: awayTeam(true, nil, member(online(1, "Ana"), 0), member(bob, 1))},
			assignees: []Assignee{rr(1)}, code: CodeBackOnline, rule: "away_reassign"},
		{name: "rule off",
			in:        AwayInput{Now: t0, Conversation: openConv(rr(1)), Timer: timer, Agents: agents, Waiting: true, Team: awayTeam(false, nil, member(ana, 0), member(bob, 1))},
			assignees: []Assignee{rr(1)}, code: CodeSettingOff, rule: "away_reassign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideAway(tc.in)
			if !slices.Equal(d.Assignees, tc.assignees) {
				t.Errorf("assignees %v, want %v", d.Assignees, tc.assignees)
			}
			hasReason(t, d, tc.code, tc.text)
			if d.Queued != tc.queued || !maps.Equal(d.OpenCountDelta, tc.delta) || d.Rule != tc.rule || !slices.EqualFunc(d.SetTimers, tc.timers, timerEqual) {
				t.Errorf("queued %v delta %v rule %q timers %+v; want %v %v %q %+v", d.Queued, d.OpenCountDelta, d.Rule, d.SetTimers,
					tc.queued, tc.delta, tc.rule, tc.timers)
			}
		})
	}
}
