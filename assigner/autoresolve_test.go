package assigner

import (
	"maps"
	"slices"
	"testing"
	"time"
)

func TestDecideAutoResolve(t *testing.T) {
	rr := Assignee{AgentID: 1, Source: SourceRoundRobin}
	quiet := Inbox{PhoneNumberID: "pn1", AutoResolveAfterSeconds: ptr(3600)}
	closing := quiet
	closing.ClosingMessage = "Bye!"
	due := Timer{Kind: TimerAutoResolve, DueAt: t0}
	wrote := func(d time.Duration) *time.Time { return ptr(t0.Add(-d)) }
	resolved := openConv(rr)
	resolved.Status = StatusResolved
	until := t0.Add(time.Hour)
	snoozed := openConv(rr)
	snoozed.SnoozedUntil = &until

	tests := []struct {
		name     string
		in       AutoResolveInput
		resolved bool
		closing  bool
		delta    map[int64]int
		timer    *Timer // the deadline set again
		code     string
		text     string
	}{
		{name: "quiet for the window: resolved, no closing message configured",
			in:       AutoResolveInput{Now: t0, Conversation: openConv(rr), Timer: due, Inbox: quiet, LastInboundAt: wrote(time.Hour)},
			resolved: true, delta: map[int64]int{1: -1}, code: CodeAutoResolved,
			text: "No message in either direction for 1 h (the inbox resolves conversations after 1 h without one), so the conversation was resolved. It no longer counts toward the open conversations of its 1 assignee."},
		{name: "decided late: says how long it really was quiet",
			in:       AutoResolveInput{Now: t0.Add(90 * time.Second), Conversation: openConv(), Timer: due, Inbox: quiet, LastInboundAt: wrote(time.Hour)},
			resolved: true, code: CodeAutoResolved,
			text: "No message in either direction for 1 h 1 min (the inbox resolves conversations after 1 h without one), so the conversation was resolved."},
		{name: "closing message inside the 24 h window",
			in:       AutoResolveInput{Now: t0, Conversation: openConv(rr), Timer: due, Inbox: closing, LastInboundAt: wrote(time.Hour)},
			resolved: true, closing: true, delta: map[int64]int{1: -1}, code: CodeClosing, text: "The closing message was queued."},
		{name: "closing message skipped outside the window",
			in:       AutoResolveInput{Now: t0, Conversation: openConv(rr), Timer: due, Inbox: closing, LastInboundAt: wrote(25 * time.Hour)},
			resolved: true, delta: map[int64]int{1: -1}, code: CodeClosingSkipped,
			text: "No closing message: the contact last wrote 1 day 1 h ago, outside the 24-hour customer-service window, where only templates may be sent."},
		{name: "closing message skipped: the contact never wrote",
			in:       AutoResolveInput{Now: t0, Conversation: openConv(), Timer: due, Inbox: closing},
			resolved: true, code: CodeClosingSkipped,
			text: "No closing message: the contact never wrote, outside the 24-hour customer-service window, where only templates may be sent."},
		{name: "closing message skipped: another app owns the thread",
			in: AutoResolveInput{Now: t0, Conversation: openConv(), Timer: due, Inbox: closing, LastInboundAt: wrote(time.Minute),
				Thread: ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent"}},
			resolved: true, code: CodeClosingSkipped, text: "No closing message: another responder (ai_agent) owns the contact's thread."},
		{name: "a shorter service window is respected",
			in:       AutoResolveInput{Now: t0, Conversation: openConv(), Timer: due, Inbox: closing, LastInboundAt: wrote(2 * time.Hour), ServiceWindow: time.Hour},
			resolved: true, code: CodeClosingSkipped},
		{name: "already resolved: nothing",
			in:   AutoResolveInput{Now: t0, Conversation: resolved, Timer: due, Inbox: closing, LastInboundAt: wrote(time.Hour)},
			code: CodeNotOpen, text: "Nothing was done: the conversation is resolved."},
		{name: "the inbox turned the rule off: nothing",
			in:   AutoResolveInput{Now: t0, Conversation: openConv(rr), Timer: due, Inbox: Inbox{PhoneNumberID: "pn1"}},
			code: CodeSettingOff, text: "Nothing was done: the inbox no longer resolves quiet conversations."},
		{name: "snoozed: not resolved, the deadline moves past the snooze",
			in:    AutoResolveInput{Now: t0, Conversation: snoozed, Timer: due, Inbox: quiet},
			timer: &Timer{Kind: TimerAutoResolve, DueAt: until.Add(time.Hour)}, code: CodeSnoozed,
			text: "The conversation is snoozed until 11:09, so it is not resolved; it will be if it is still quiet 1 h after the snooze ends."},
		{name: "a message accepted within the window, its result still on its way: the deadline moves after it",
			in: AutoResolveInput{Now: t0, Conversation: openConv(rr), Timer: due, Inbox: closing, LastInboundAt: wrote(time.Hour),
				Sent: Sent{Latest: wrote(10 * time.Minute)}},
			timer: &Timer{Kind: TimerAutoResolve, DueAt: t0.Add(50 * time.Minute)}, code: CodeNotQuiet,
			text: "The conversation is not resolved: a message was sent at 09:59; it will be if it is still quiet 1 h after it."},
		{name: "decided late, after a message its deadline did not count: quiet since that message",
			in: AutoResolveInput{Now: t0.Add(45 * time.Minute), Conversation: openConv(), Timer: due, Inbox: quiet, LastInboundAt: wrote(time.Hour),
				Sent: Sent{Latest: wrote(30 * time.Minute)}},
			resolved: true, code: CodeAutoResolved,
			text: "No message in either direction for 1 h 15 min (the inbox resolves conversations after 1 h without one), so the conversation was resolved."},
		{name: "the latest message sent a window ago: resolved",
			in: AutoResolveInput{Now: t0, Conversation: openConv(rr), Timer: due, Inbox: quiet, LastInboundAt: wrote(2 * time.Hour),
				Sent: Sent{Latest: wrote(time.Hour)}},
			resolved: true, delta: map[int64]int{1: -1}, code: CodeAutoResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideAutoResolve(tt.in)
			if d.Resolved != tt.resolved || d.Closing != tt.closing || !maps.Equal(d.OpenCountDelta, tt.delta) || d.Rule != "auto_resolve" {
				t.Errorf("resolved %v closing %v delta %v rule %q, want %v %v %v", d.Resolved, d.Closing, d.OpenCountDelta, d.Rule, tt.resolved, tt.closing, tt.delta)
			}
			switch {
			case tt.timer != nil && (len(d.SetTimers) != 1 || d.SetTimers[0].Kind != tt.timer.Kind || !d.SetTimers[0].DueAt.Equal(tt.timer.DueAt)):
				t.Errorf("timers %+v, want %+v", d.SetTimers, *tt.timer)
			case tt.timer == nil && len(d.SetTimers) > 0:
				t.Errorf("timers %+v, want none", d.SetTimers)
			}
			if tt.resolved && !slices.Contains(d.CancelTimers, TimerAutoResolve) {
				t.Errorf("a resolved conversation keeps its deadlines: cancel %v", d.CancelTimers)
			}
			hasReason(t, d, tt.code, tt.text)
		})
	}
}

// The sticky rule: the agent of the contact's previous conversation first,
// if eligible; else routing as usual, with the reason.
func TestDecideOpenSticky(t *testing.T) {
	ana, bob := online(1, "Ana"), online(2, "Bob")
	full := online(3, "Cid")
	full.Capacity, full.OpenCount = ptr(1), 1
	gone := online(4, "Dan")
	gone.Active = false
	support := team(10, "Support", StrategyRoundRobin, member(ana, 0), member(bob, 1), member(offline(5, "Eve"), 2), member(full, 3), member(gone, 4))
	loose := support
	loose.Team.OnlineOnly = false
	inbox := Inbox{PhoneNumberID: "pn1", StickyDays: ptr(7), DefaultAssign: &Step{TeamID: ptr(int64(10))}}
	prev := func(agent int64, ago time.Duration, team *int64) *Previous {
		return &Previous{ConversationID: 50, ResolvedAt: t0.Add(-ago), TeamID: team, AgentID: agent}
	}
	agents := map[int64]Agent{1: ana, 2: bob, 3: full, 4: gone, 5: offline(5, "Eve"), 6: online(6, "Fay")}
	teams := map[int64]TeamState{10: support}
	in10 := ptr(int64(10))

	tests := []struct {
		name    string
		inbox   Inbox
		owners  []Agent
		prev    *Previous
		teams   map[int64]TeamState
		want    []Assignee
		rule    string
		team    *int64
		code    string
		text    string
		noRoute bool
	}{
		{name: "previous agent eligible: takes it, routing does not run",
			inbox: inbox, prev: prev(2, 2*24*time.Hour, in10), want: []Assignee{{2, SourceSticky}}, rule: "sticky", team: in10, noRoute: true,
			code: CodeSticky, text: "Bob had the contact's previous conversation (resolved 2 days ago, within 7 days), so Bob takes this one."},
		{name: "previous agent offline: routing as usual",
			inbox: inbox, prev: prev(5, time.Hour, in10), want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: Eve, who had the previous conversation, is not eligible: offline since 10:02 (no heartbeat for 7 min); routing as usual."},
		{name: "offline but the team is not online-only: sticky",
			inbox: inbox, prev: prev(5, time.Hour, in10), teams: map[int64]TeamState{10: loose}, want: []Assignee{{5, SourceSticky}}, rule: "sticky", team: in10,
			code: CodeSticky, noRoute: true},
		{name: "previous agent at capacity",
			inbox: inbox, prev: prev(3, time.Hour, in10), want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: Cid, who had the previous conversation, is not eligible: at capacity (1 open, limit 1); routing as usual."},
		{name: "previous agent deactivated",
			inbox: inbox, prev: prev(4, time.Hour, in10), want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: Dan, who had the previous conversation, is not eligible: deactivated; routing as usual."},
		{name: "previous agent left the team",
			inbox: inbox, prev: prev(6, time.Hour, in10), want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: Fay is no longer a member of team Support; routing as usual."},
		{name: "previous conversation without a team: the agent's own eligibility",
			inbox: inbox, prev: prev(6, time.Hour, nil), want: []Assignee{{6, SourceSticky}}, rule: "sticky", code: CodeSticky, noRoute: true},
		{name: "too long ago",
			inbox: inbox, prev: prev(2, 8*24*time.Hour, in10), want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: the contact's previous conversation was resolved 8 days ago, more than 7 days; routing as usual."},
		{name: "previous conversation had no assignee",
			inbox: inbox, prev: prev(0, time.Hour, in10), want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: the contact's previous conversation had no assignee; routing as usual."},
		{name: "no previous conversation",
			inbox: inbox, want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: the contact has no earlier resolved conversation on this inbox; routing as usual."},
		{name: "owners take precedence",
			inbox: inbox, owners: []Agent{online(7, "Olga")}, prev: prev(2, time.Hour, in10),
			want: []Assignee{{7, SourceOwner}, {1, SourceRoundRobin}}, rule: "default_assignees, inbox_default, round_robin", team: in10,
			code: CodeStickySkipped, text: "Sticky assignment skipped: the contact's owner takes precedence; routing as usual."},
		{name: "inbox without sticky_days: no sticky reason",
			inbox: Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{TeamID: in10}}, prev: prev(2, time.Hour, in10),
			want: []Assignee{{1, SourceRoundRobin}}, rule: "inbox_default, round_robin", team: in10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := teams
			if tt.teams != nil {
				ts = tt.teams
			}
			d := DecideOpen(OpenInput{Now: t0, Inbox: tt.inbox, Conversation: openConv(), Owners: tt.owners, Previous: tt.prev,
				Message: Message{Text: "hi", SentAt: t0}, Agents: agents, Teams: ts})
			if !slices.Equal(d.Assignees, tt.want) || d.Rule != tt.rule {
				t.Errorf("assignees %v rule %q, want %v %q\n%s", d.Assignees, d.Rule, tt.want, tt.rule, dump(d.Reasons))
			}
			if (d.TeamID == nil) != (tt.team == nil) || (d.TeamID != nil && *d.TeamID != *tt.team) || d.Queued {
				t.Errorf("team %v queued %v, want %v", d.TeamID, d.Queued, tt.team)
			}
			if tt.code != "" {
				hasReason(t, d, tt.code, tt.text)
			}
			if tt.code == "" && slices.ContainsFunc(d.Reasons, func(r Reason) bool { return r.Code == CodeStickySkipped || r.Code == CodeSticky }) {
				t.Errorf("sticky reasons with the rule off:\n%s", dump(d.Reasons))
			}
			routed := slices.ContainsFunc(d.Reasons, func(r Reason) bool { return r.Code == CodeNoRuleMatched || r.Code == CodeRuleMatched })
			if tt.noRoute && (routed || len(d.Chosen) > 0) {
				t.Errorf("routing ran after a sticky assignment:\n%s", dump(d.Reasons))
			}
		})
	}
}

func TestInboxValidateRule3(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Inbox
		ok   bool
	}{
		{"all off", Inbox{PhoneNumberID: "pn1"}, true},
		{"all on", Inbox{PhoneNumberID: "pn1", AutoResolveAfterSeconds: ptr(2), ClosingMessage: "Bye", StickyDays: ptr(30)}, true},
		{"zero seconds", Inbox{PhoneNumberID: "pn1", AutoResolveAfterSeconds: ptr(0)}, false},
		{"over 90 days", Inbox{PhoneNumberID: "pn1", AutoResolveAfterSeconds: ptr(MaxAutoResolveSeconds + 1)}, false},
		{"negative days", Inbox{PhoneNumberID: "pn1", StickyDays: ptr(-1)}, false},
		{"too many days", Inbox{PhoneNumberID: "pn1", StickyDays: ptr(MaxStickyDays + 1)}, false},
		{"closing message too long", Inbox{PhoneNumberID: "pn1", ClosingMessage: string(make([]byte, maxWelcomeLen+1))}, false},
	} {
		if err := tc.in.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
