package assigner

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Opening a conversation arms the inbox's first-response SLA from the
// opening message's time, in the inbox's business hours.
func TestSLAArmedOnOpen(t *testing.T) {
	office := &Hours{TimeZone: "UTC", Days: []time.Weekday{time.Monday}, From: 9 * 60, To: 10*60 + 10}
	opened := openConv()
	opened.OpenedAt = t0.Add(-30 * time.Second) // the message is a little older than the decision
	answered := openConv()
	answered.FirstReplyAt = ptr(t0)
	for _, tc := range []struct {
		name  string
		inbox Inbox
		conv  Conversation
		want  *time.Time
	}{
		{"no SLA", Inbox{}, opened, nil},
		{"SLA, always open", Inbox{FirstResponseSLASeconds: ptr(120)}, opened, ptr(t0.Add(90 * time.Second))},
		{"SLA in hours that close a minute after opening", Inbox{FirstResponseSLASeconds: ptr(120), BusinessHours: office}, opened,
			ptr(time.Date(2026, 3, 9, 9, 0, 30, 0, time.UTC))},
		{"no opening time: from now", Inbox{FirstResponseSLASeconds: ptr(2)}, openConv(), ptr(t0.Add(2 * time.Second))},
		{"already answered", Inbox{FirstResponseSLASeconds: ptr(120)}, answered, nil},
	} {
		d := DecideOpen(OpenInput{Now: t0, Inbox: tc.inbox, Conversation: tc.conv})
		var wantTimers []Timer
		if tc.want != nil {
			wantTimers = []Timer{{Kind: TimerSLA, DueAt: *tc.want}}
			if d.FirstResponseDueAt == nil || !d.FirstResponseDueAt.Equal(*tc.want) {
				t.Errorf("%s: FirstResponseDueAt = %v, want %v", tc.name, d.FirstResponseDueAt, *tc.want)
			}
			hasReasonLike(t, d, CodeSLADue, "due by "+tc.want.Format(time.RFC3339))
		} else if d.FirstResponseDueAt != nil {
			t.Errorf("%s: FirstResponseDueAt = %v, want none", tc.name, *d.FirstResponseDueAt)
		}
		if !slices.EqualFunc(d.SetTimers, wantTimers, timerEqual) {
			t.Errorf("%s: SetTimers = %+v, want %+v", tc.name, d.SetTimers, wantTimers)
		}
	}
}

func TestDecideSLA(t *testing.T) {
	due := t0.Add(-1500 * time.Millisecond)
	timer := Timer{Kind: TimerSLA, DueAt: due}
	assigned := openConv(Assignee{AgentID: 1, Source: SourceRoundRobin}, Assignee{AgentID: 2, Source: SourceOwner})
	assigned.TeamID = ptr(int64(4))
	resolved := openConv()
	resolved.Status = StatusResolved
	replied := openConv()
	replied.FirstReplyAt = ptr(t0.Add(-time.Minute))
	snoozed := openConv()
	snoozed.SnoozedUntil = ptr(t0.Add(time.Hour))
	for _, tc := range []struct {
		name   string
		in     SLAInput
		breach bool
		code   string
		text   string
	}{
		{"assigned", SLAInput{Now: t0, Conversation: assigned, Timer: timer, Team: &Team{ID: 4, Name: "Support"},
			Agents: map[int64]Agent{1: online(1, "Ana"), 2: online(2, "Bob")}},
			true, CodeSLABreached, "recorded 1.5 s after it, assigned: Ana (round robin), Bob (owner) in team Support."},
		{"nobody assigned", SLAInput{Now: t0, Conversation: openConv(), Timer: timer}, true, CodeSLABreached, "nobody was assigned."},
		{"snoozed breaches too", SLAInput{Now: t0, Conversation: snoozed, Timer: timer}, true, CodeSLABreached, "No agent replied by"},
		{"resolved", SLAInput{Now: t0, Conversation: resolved, Timer: timer}, false, CodeNotOpen, "resolved"},
		{"replied", SLAInput{Now: t0, Conversation: replied, Timer: timer}, false, CodeReplied, "an agent replied"},
		{"a reply accepted by the deadline, its result still on its way", SLAInput{Now: t0, Conversation: openConv(), Timer: timer,
			Sent: Sent{FirstAgentReply: ptr(due), Latest: ptr(due)}}, false, CodeReplied, "Nothing was done: an agent replied at"},
		{"a reply accepted after the deadline", SLAInput{Now: t0, Conversation: openConv(), Timer: timer,
			Sent: Sent{FirstAgentReply: ptr(due.Add(time.Millisecond)), Latest: ptr(due.Add(time.Millisecond))}}, true, CodeSLABreached, "No agent replied by"},
		{"only the welcome message accepted", SLAInput{Now: t0, Conversation: openConv(), Timer: timer,
			Sent: Sent{Latest: ptr(due.Add(-time.Minute))}}, true, CodeSLABreached, "No agent replied by"},
	} {
		d := DecideSLA(tc.in)
		if d.Rule != "sla_breached" {
			t.Errorf("%s: Rule = %q", tc.name, d.Rule)
		}
		hasReasonLike(t, d, tc.code, tc.text)
		if (d.SLABreach != nil) != tc.breach {
			t.Fatalf("%s: SLABreach = %+v, want breach %v", tc.name, d.SLABreach, tc.breach)
		}
		if len(d.Added)+len(d.Removed)+len(d.Updated) > 0 || d.Queued != tc.in.Conversation.Queued || len(d.SetTimers) > 0 {
			t.Errorf("%s: a breach changed the assignment: %+v", tc.name, d)
		}
		if !tc.breach {
			continue
		}
		b := d.SLABreach
		if !b.DueAt.Equal(due) || b.LateSeconds != 1.5 {
			t.Errorf("%s: breach = %+v", tc.name, b)
		}
		var ids []int64
		for _, a := range tc.in.Conversation.Assignees {
			ids = append(ids, a.AgentID)
		}
		if !slices.Equal(b.AgentIDs, ids) && !(len(ids) == 0 && len(b.AgentIDs) == 0) {
			t.Errorf("%s: breach agents = %v, want %v", tc.name, b.AgentIDs, ids)
		}
		if tc.name == "assigned" && d.Summary() != "sla_breached: first-response SLA breached; team Support" {
			t.Errorf("summary %q", d.Summary())
		}
		if !strings.Contains(d.Summary(), "sla_breached: first-response SLA breached") {
			t.Errorf("%s: summary %q does not name the rule", tc.name, d.Summary())
		}
	}
}

// hasReasonLike is hasReason with a fragment of the text.
func hasReasonLike(t *testing.T, d Decision, code, fragment string) {
	t.Helper()
	for _, r := range d.Reasons {
		if r.Code == code && strings.Contains(r.Text, fragment) {
			return
		}
	}
	t.Errorf("no reason %s containing %q in:\n%s", code, fragment, dump(d.Reasons))
}
