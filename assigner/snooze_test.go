package assigner

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestSnoozeAndWake(t *testing.T) {
	rr := Assignee{AgentID: 1, Source: SourceRoundRobin}
	until := t0.Add(time.Hour)
	d, err := DecideSnooze(openConv(rr), until, t0, "Rita")
	if err != nil {
		t.Fatal(err)
	}
	if d.SnoozedUntil == nil || !d.SnoozedUntil.Equal(until) || !maps.Equal(d.OpenCountDelta, map[int64]int{1: -1}) ||
		len(d.SetTimers) != 1 || d.SetTimers[0].Kind != TimerSnooze || !d.SetTimers[0].DueAt.Equal(until) || d.Rule != "snooze" {
		t.Fatalf("snooze: %+v", d)
	}
	hasReason(t, d, CodeSnoozed, "The conversation is snoozed by Rita until 11:09, or until the contact writes; meanwhile it does not count toward the open conversations of its 1 assignee.")
	if _, err := DecideSnooze(openConv(), t0, t0, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("snooze until now: %v", err)
	}
	resolved := openConv()
	resolved.Status = StatusResolved
	if _, err := DecideSnooze(resolved, until, t0, ""); !errors.Is(err, ErrResolved) {
		t.Errorf("snooze a resolved conversation: %v", err)
	}

	snoozed := openConv(rr)
	snoozed.SnoozedUntil = &until
	for _, tc := range []struct {
		name  string
		d     Decision
		delta map[int64]int
		wake  bool
		text  string
	}{
		{"its time came", DecideWake(WakeInput{Now: until, Conversation: snoozed, Timer: Timer{Kind: TimerSnooze, DueAt: until}}), map[int64]int{1: 1}, true, "The snooze ended at 11:09."},
		{"the contact wrote", DecideWake(WakeInput{Now: t0.Add(time.Minute), Conversation: snoozed,
			Timer: Timer{Kind: TimerSnooze, DueAt: t0.Add(time.Minute)}}), map[int64]int{1: 1}, true,
			"The contact wrote, so the snooze (until 11:09) ended early."},
		{"not snoozed", DecideWake(WakeInput{Now: until, Conversation: openConv(rr), Timer: Timer{Kind: TimerSnooze, DueAt: until}}), nil, false, ""},
		{"resolved while snoozed: no count to give back", DecideResolve(snoozed), nil, true, ""},
		{"assigned while snoozed: counts from the wake", mustManual(t, ManualInput{Now: t0, Conversation: snoozed, AgentIDs: []int64{2},
			Agents: map[int64]Agent{2: online(2, "Bob")}}), nil, false, ""},
	} {
		if !maps.Equal(tc.d.OpenCountDelta, tc.delta) || tc.d.Unsnoozed != tc.wake {
			t.Errorf("%s: delta %v unsnoozed %v, want %v %v", tc.name, tc.d.OpenCountDelta, tc.d.Unsnoozed, tc.delta, tc.wake)
		}
		if tc.text != "" {
			hasReason(t, tc.d, CodeSnoozeEnded, tc.text)
		}
	}
}

// A snooze the contact ends early brings in the no-reply and auto-resolve
// deadlines that waited past its planned end: the team's window after the
// snooze ended (the same round and exclusions), the inbox's window after
// the last message, now at the earliest; only while each rule applies. A
// deadline that did not wait past the snooze, and every deadline of a
// snooze that ends at its time, stay.
func TestWakeEarlyBringsInTheDeadlinesPastTheSnooze(t *testing.T) {
	rr := Assignee{AgentID: 1, Source: SourceRoundRobin}
	until := t0.Add(30 * 24 * time.Hour)
	wrote, last := t0.Add(5*time.Minute), t0.Add(4*time.Minute) // applied, and sent (Meta's time)
	snoozed := func(as ...Assignee) Conversation {
		c := openConv(as...)
		c.SnoozedUntil = &until
		return c
	}
	team := &Team{ID: 1, Name: "Support", Strategy: StrategyRoundRobin, ReassignAfterSeconds: ptr(60), ReassignMax: 2}
	inbox := Inbox{PhoneNumberID: "pn1", AutoResolveAfterSeconds: ptr(3600)}
	held := func() (*Timer, *Timer) {
		return &Timer{Kind: TimerNoReply, DueAt: until.Add(time.Minute), Round: 1, Excluded: []int64{3}},
			&Timer{Kind: TimerAutoResolve, DueAt: until.Add(time.Hour)}
	}
	early := func(now time.Time, c Conversation) WakeInput {
		nr, ar := held()
		return WakeInput{Now: now, Conversation: c, Timer: Timer{Kind: TimerSnooze, DueAt: wrote}, Team: team, Inbox: inbox,
			NoReply: nr, AutoResolve: ar, LastMessageAt: &last}
	}
	soon := wrote.Add(2 * time.Second)
	replied := snoozed(rr)
	replied.FirstReplyAt = ptr(t0.Add(time.Minute))
	noWindow := early(soon, snoozed(rr))
	noWindow.Team, noWindow.Inbox = &Team{ID: 1, Name: "Support"}, Inbox{PhoneNumberID: "pn1"}
	notHeld := early(soon, snoozed(rr))
	notHeld.NoReply.DueAt, notHeld.AutoResolve.DueAt = t0.Add(time.Minute), last.Add(time.Hour)
	atItsTime := early(until, snoozed(rr))
	atItsTime.Timer.DueAt = until
	noLast := early(soon, snoozed(rr))
	noLast.LastMessageAt = nil
	for _, tc := range []struct {
		name             string
		in               WakeInput
		noReply, autoRes time.Time // zero: not set
		text             string
	}{
		{"the contact wrote", early(soon, snoozed(rr)), wrote.Add(time.Minute), last.Add(time.Hour),
			"The contact wrote, so the snooze (until Apr 1 10:09) ended early: the no-reply deadline moves to 10:15 and the auto-resolve deadline moves to 11:13."},
		{"decided three hours later: both due now", early(t0.Add(3*time.Hour), snoozed(rr)), t0.Add(3 * time.Hour), t0.Add(3 * time.Hour), ""},
		{"an agent replied: no no-reply deadline", early(soon, replied), time.Time{}, last.Add(time.Hour), ""},
		{"an agent reply accepted, its result on its way: no no-reply deadline", func() WakeInput {
			in := early(soon, snoozed(rr))
			in.Sent = Sent{FirstAgentReply: &wrote, Latest: &wrote}
			return in
		}(), time.Time{}, last.Add(time.Hour), ""},
		{"a manual assignee: no no-reply deadline", early(soon, snoozed(Assignee{AgentID: 1, Source: SourceManual})), time.Time{}, last.Add(time.Hour), ""},
		{"no team: no no-reply deadline", func() WakeInput { in := early(soon, snoozed(rr)); in.Team = nil; return in }(), time.Time{}, last.Add(time.Hour), ""},
		{"the rules are off", noWindow, time.Time{}, time.Time{}, "The contact wrote, so the snooze (until Apr 1 10:09) ended early."},
		{"deadlines that did not wait past the snooze", notHeld, time.Time{}, time.Time{}, ""},
		{"no last message: from the snooze's early end", noLast, wrote.Add(time.Minute), wrote.Add(time.Hour), ""},
		{"the snooze ends at its time", atItsTime, time.Time{}, time.Time{}, "The snooze ended at 10:09."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideWake(tc.in)
			if !d.Unsnoozed || d.Rule != "snooze_end" || len(d.CancelTimers) != 0 {
				t.Fatalf("not woken: %+v", d)
			}
			got := map[TimerKind]Timer{}
			for _, tm := range d.SetTimers {
				got[tm.Kind] = tm
			}
			nr, ok := got[TimerNoReply]
			if ok != !tc.noReply.IsZero() || (ok && (!nr.DueAt.Equal(tc.noReply) || nr.Round != 1 || !slices.Equal(nr.Excluded, []int64{3}))) {
				t.Errorf("no-reply deadline %+v (%v), want %v in round 1 excluding agent 3", nr, ok, tc.noReply)
			}
			ar, ok := got[TimerAutoResolve]
			if ok != !tc.autoRes.IsZero() || (ok && !ar.DueAt.Equal(tc.autoRes)) {
				t.Errorf("auto-resolve deadline %+v (%v), want %v", ar, ok, tc.autoRes)
			}
			if len(d.SetTimers) != len(got) || len(got) > 2 {
				t.Errorf("set timers %+v", d.SetTimers)
			}
			if tc.text != "" {
				hasReason(t, d, CodeSnoozeEnded, tc.text)
			}
		})
	}
}
