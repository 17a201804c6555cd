package assigner

import (
	"fmt"
	"time"
)

// DecideSnooze snoozes an open conversation until until (issue 12, rule
// 5; Decision.Rule "snooze"): the API shows its status as snoozed, its
// assignees' open counts no longer include it, and a snooze deadline
// (SetTimers) ends it then, unless the contact writes first. Snoozing a
// snoozed conversation moves its end. by names who snoozed it ("Rita"); it
// may be empty. Errors: ErrResolved; ErrInvalid when until is not after
// now.
func DecideSnooze(conv Conversation, until, now time.Time, by string) (Decision, error) {
	switch {
	case !conv.Open():
		return Decision{}, ErrResolved
	case !until.After(now):
		return Decision{}, fmt.Errorf("%w: until %s is not in the future", ErrInvalid, until.Format(time.RFC3339))
	}
	b := newBuilder(conv, now, 0)
	b.rule("snooze")
	if by != "" {
		by = " by " + by
	}
	u := until
	b.snooze = &u
	text := fmt.Sprintf("The conversation is snoozed%s until %s, or until the contact writes.", by, when(until, now))
	if n := len(conv.Assignees); n > 0 {
		text = fmt.Sprintf("The conversation is snoozed%s until %s, or until the contact writes; meanwhile it does not count toward the open conversations of its %s.",
			by, when(until, now), plural(n, "assignee"))
	}
	b.reason(Reason{Code: CodeSnoozed, Text: text})
	b.setTimer(Timer{Kind: TimerSnooze, DueAt: until})
	return b.finish(), nil
}

// DecideWake ends a conversation's snooze (Decision.Rule "snooze_end"):
// its snooze deadline fell due, at the snooze's end or earlier because the
// contact wrote (t.DueAt before SnoozedUntil). The assignees count it
// again. A conversation that is not snoozed is left alone.
func DecideWake(conv Conversation, t Timer, now time.Time) Decision {
	b := newBuilder(conv, now, 0)
	b.rule("snooze_end")
	switch {
	case !conv.Snoozed():
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is not snoozed."})
		return b.finish()
	case t.DueAt.Before(*conv.SnoozedUntil):
		b.reason(Reason{Code: CodeSnoozeEnded, Text: fmt.Sprintf("The contact wrote, so the snooze (until %s) ended early.", when(*conv.SnoozedUntil, now))})
	default:
		b.reason(Reason{Code: CodeSnoozeEnded, Text: fmt.Sprintf("The snooze ended at %s.", when(*conv.SnoozedUntil, now))})
	}
	b.wake = true
	return b.finish()
}
