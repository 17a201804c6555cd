package assigner

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestThreadOwnerNames(t *testing.T) {
	for _, tt := range []struct {
		o         ThreadOwner
		elsewhere bool
		name      string
	}{
		{ThreadOwner{}, false, "wagw"},
		{ThreadOwner{Owner: ThreadOwnerWagw}, false, "wagw"},
		{ThreadOwner{Owner: ThreadOwnerOther}, true, "another responder"},
		{ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent"}, true, "another responder (ai_agent)"},
	} {
		if tt.o.Elsewhere() != tt.elsewhere || tt.o.String() != tt.name {
			t.Errorf("%+v: Elsewhere %v, String %q; want %v, %q", tt.o, tt.o.Elsewhere(), tt.o.String(), tt.elsewhere, tt.name)
		}
	}
	err := DecideReply(ReplyInput{Type: ReplyText, Thread: ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent"}})
	if e, ok := AsError(err); !ok || !strings.Contains(e.Message, "another responder (ai_agent)") || !strings.Contains(e.Message, "/take") {
		t.Errorf("refusal %v: want the owner named and how to take control", err)
	}
}

func TestDecideTaken(t *testing.T) {
	conv := openConv(Assignee{AgentID: 1, Source: SourceManual})
	d := DecideTaken(conv, "Ana", t0)
	if d.Rule != "handover" || len(d.Added)+len(d.Removed) != 0 || len(d.Assignees) != 1 || d.ConversationID != conv.ID {
		t.Fatalf("decision %+v: want rule handover and the assignment unchanged", d)
	}
	hasReason(t, d, CodeHandover, "Control of the thread was taken back from another responder by Ana; wagw answers this contact again.")
}

func TestThreadOwnerAfter(t *testing.T) {
	ai := ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent"}
	ai0 := ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent", Since: t0}
	for _, tt := range []struct {
		name string
		cur  ThreadOwner
		ch   RoutingChange
		want ThreadOwner
	}{
		{"passed to wagw", ai, RoutingChange{ToWagw: true, By: "ai_agent"}, ThreadOwner{Owner: ThreadOwnerWagw}},
		{"passed while wagw owns", ThreadOwner{}, RoutingChange{ToWagw: true}, ThreadOwner{Owner: ThreadOwnerWagw}},
		{"taken by a named role", ThreadOwner{}, RoutingChange{By: "ai_agent"}, ai},
		{"taken by another role", ai, RoutingChange{By: "business_app"}, ThreadOwner{Owner: ThreadOwnerOther, Role: "business_app"}},
		{"standby keeps the named role", ai, RoutingChange{}, ai},
		{"standby while wagw owned", ThreadOwner{Owner: ThreadOwnerWagw}, RoutingChange{}, ThreadOwner{Owner: ThreadOwnerOther}},
		{"a message on the messages field", ai, RoutingChange{ToWagw: true, Delivered: true}, ThreadOwner{Owner: ThreadOwnerWagw}},
		// Meta sends an echo and a handover in separate requests: traffic
		// older than the change that set the owner does not undo it.
		{"a late echo after control passed", ThreadOwner{Owner: ThreadOwnerWagw, Since: t0},
			RoutingChange{At: t0.Add(-time.Second), Observed: true}, ThreadOwner{Owner: ThreadOwnerWagw, Since: t0}},
		{"an echo at the handover's second", ThreadOwner{Owner: ThreadOwnerWagw, Since: t0},
			RoutingChange{At: t0, Observed: true}, ThreadOwner{Owner: ThreadOwnerWagw, Since: t0}},
		{"a newer echo", ThreadOwner{Owner: ThreadOwnerWagw, Since: t0},
			RoutingChange{At: t0.Add(time.Second), Observed: true}, ThreadOwner{Owner: ThreadOwnerOther, Since: t0.Add(time.Second)}},
		{"a late message after control taken", ai0,
			RoutingChange{ToWagw: true, Delivered: true, At: t0.Add(-time.Minute), Observed: true}, ai0},
		{"a handover applies whatever its time", ai0,
			RoutingChange{ToWagw: true, By: "ai_agent", At: t0.Add(-time.Minute)}, ThreadOwner{Owner: ThreadOwnerWagw, Since: t0}},
		{"a change records its time", ThreadOwner{}, RoutingChange{By: "ai_agent", At: t0}, ai0},
		{"no change keeps the time that set it", ai0, RoutingChange{By: "ai_agent", At: t0.Add(time.Hour)}, ai0},
	} {
		if got := ThreadOwnerAfter(tt.cur, tt.ch); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestDecideHandover(t *testing.T) {
	conv := openConv(Assignee{AgentID: 1, Source: SourceManual})
	d := DecideHandedOver(HandedOverInput{Now: t0, Conversation: conv, Change: RoutingChange{ToWagw: true, By: "ai_agent"}})
	if d.Rule != "handover" || len(d.Added)+len(d.Removed) != 0 || len(d.Assignees) != 1 || d.ConversationID != conv.ID {
		t.Fatalf("decision %+v: want rule handover and the assignment unchanged", d)
	}
	hasReason(t, d, CodeHandover, "Handed over by ai_agent: control of the thread passed to wagw, which answers this contact again.")

	d = DecideControlTaken(conv, "", t0)
	if d.Rule != "control_taken" || len(d.Added)+len(d.Removed) != 0 || len(d.Assignees) != 1 ||
		!slices.Equal(d.CancelTimers, []TimerKind{TimerNoReply, TimerAway}) || len(d.SetTimers) != 0 {
		t.Fatalf("decision %+v: want rule control_taken, the assignment unchanged and the no-reply and away deadlines cancelled", d)
	}
	hasReason(t, d, CodeControlTaken, "Control of the thread was taken by another responder; wagw keeps the history and sends no free-form message until control comes back.")

	// Opening on a handover: the usual rules, logged as a handover first.
	ts := team(1, "Support", StrategyRoundRobin, member(online(1, "Ana"), 0))
	in := OpenInput{Now: t0, Conversation: openConv(), Message: Message{SentAt: t0}, Teams: map[int64]TeamState{1: ts},
		Inbox: Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{TeamID: ptr(int64(1))}, WelcomeMessage: "Hi"}}
	usual, d := DecideOpen(in), DecideOpenHandedOver(in, RoutingChange{ToWagw: true, By: "ai_agent"})
	if d.Rule != "handover,"+usual.Rule || len(d.Added) != len(usual.Added) || d.Welcome != usual.Welcome || len(d.Reasons) != len(usual.Reasons)+1 {
		t.Fatalf("handover opening %+v\nusual %+v", d, usual)
	}
	if len(d.Added) != 1 || d.Added[0].AgentID != 1 {
		t.Fatalf("handover opening assigned %+v, want Ana by the usual rules", d.Added)
	}
	hasReason(t, d, CodeHandover, "Handed over by ai_agent: control of the thread passed to wagw and no conversation was open, so one was opened.")
}

// Control coming back to wagw arms what an opening or a strategy's pick
// arms: an opening by the usual rules (first-response SLA, no-reply
// deadline of the strategy's pick); an open conversation whose strategy
// pick has not replied gets its no-reply deadline again (control_taken
// cancelled it), counted from the handover; nothing for other assignees,
// a reply already made, or a team without the window. A message delivered
// on the messages field is logged as routing's delivery.
func TestHandedOverArms(t *testing.T) {
	window := 300
	support := Team{ID: 1, Name: "Support", Strategy: StrategyRoundRobin, ReassignAfterSeconds: &window}
	replied := openConv(Assignee{AgentID: 1, Source: SourceRoundRobin})
	replied.FirstReplyAt = ptr(t0.Add(-time.Minute))
	noWindow := support
	noWindow.ReassignAfterSeconds = nil
	for _, tt := range []struct {
		name    string
		conv    Conversation
		team    *Team
		noReply bool
	}{
		{"strategy pick waiting", openConv(Assignee{AgentID: 1, Source: SourceRoundRobin}), &support, true},
		{"least_open pick waiting", openConv(Assignee{AgentID: 1, Source: SourceLeastOpen}), &support, true},
		{"manual assignee", openConv(Assignee{AgentID: 1, Source: SourceManual}), &support, false},
		{"agent replied", replied, &support, false},
		{"team without a no-reply window", openConv(Assignee{AgentID: 1, Source: SourceRoundRobin}), &noWindow, false},
		{"no team", openConv(Assignee{AgentID: 1, Source: SourceRoundRobin}), nil, false},
	} {
		d := DecideHandedOver(HandedOverInput{Now: t0, Conversation: tt.conv, Change: RoutingChange{ToWagw: true, By: "ai_agent"}, Team: tt.team})
		want := []Timer(nil)
		if tt.noReply {
			want = []Timer{{Kind: TimerNoReply, DueAt: t0.Add(5 * time.Minute)}}
		}
		if !slices.EqualFunc(d.SetTimers, want, func(a, b Timer) bool { return a.Kind == b.Kind && a.DueAt.Equal(b.DueAt) }) ||
			len(d.CancelTimers)+len(d.Added)+len(d.Removed) != 0 {
			t.Errorf("%s: timers set %+v cancelled %v, added %v removed %v; want %+v and the assignment unchanged",
				tt.name, d.SetTimers, d.CancelTimers, d.Added, d.Removed, want)
		}
	}

	d := DecideHandedOver(HandedOverInput{Now: t0, Conversation: openConv(), Change: RoutingChange{ToWagw: true, Delivered: true}})
	hasReason(t, d, CodeHandover, "Routing delivered the contact's message to wagw: control of the thread came back from another responder, which answers this contact again.")

	sla := 600
	ts := team(1, "Support", StrategyRoundRobin, member(online(1, "Ana"), 0))
	ts.Team.ReassignAfterSeconds = &window
	in := OpenInput{Now: t0, Conversation: Conversation{ID: 7, Status: StatusOpen, OpenedAt: t0}, Message: Message{SentAt: t0},
		Teams: map[int64]TeamState{1: ts}, Inbox: Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{TeamID: ptr(int64(1))}, FirstResponseSLASeconds: &sla}}
	d = DecideOpenHandedOver(in, RoutingChange{ToWagw: true, Delivered: true})
	if d.FirstResponseDueAt == nil || !d.FirstResponseDueAt.Equal(t0.Add(10*time.Minute)) || len(d.SetTimers) != 2 {
		t.Fatalf("opening on a handover: SLA due %v, timers %+v; want the SLA and the no-reply deadline", d.FirstResponseDueAt, d.SetTimers)
	}
	hasReason(t, d, CodeHandover, "Routing delivered the contact's message to wagw: control of the thread came back from another responder and no conversation was open, so one was opened.")
}
