package assigner

import (
	"errors"
	"maps"
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
		{"its time came", DecideWake(snoozed, Timer{Kind: TimerSnooze, DueAt: until}, until), map[int64]int{1: 1}, true, "The snooze ended at 11:09."},
		{"the contact wrote", DecideWake(snoozed, Timer{Kind: TimerSnooze, DueAt: t0.Add(time.Minute)}, t0.Add(time.Minute)), map[int64]int{1: 1}, true,
			"The contact wrote, so the snooze (until 11:09) ended early."},
		{"not snoozed", DecideWake(openConv(rr), Timer{Kind: TimerSnooze, DueAt: until}, until), nil, false, ""},
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
