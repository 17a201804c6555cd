package assigner

import (
	"fmt"
	"strings"
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

// WakeInput is a conversation whose snooze deadline fell due.
type WakeInput struct {
	Now          time.Time
	Conversation Conversation
	// Timer is the snooze deadline that fell due: at the snooze's end, or
	// earlier when the contact wrote (the store moved it to when their
	// message was applied).
	Timer Timer
	// Team is the conversation's team, for its no-reply window; nil when
	// it has none or the team is gone.
	Team *Team
	// Inbox is the conversation's inbox, for its auto-resolve window.
	Inbox Inbox
	// NoReply and AutoResolve are the conversation's deadlines of those
	// kinds, as stored; nil: none.
	NoReply, AutoResolve *Timer
	// LastMessageAt is when the conversation's latest message in either
	// direction was sent: Meta's timestamp of a received one (the
	// contact's, a standby message or an echo), or when the Cloud API
	// accepted an outbound one; nil: unknown.
	LastMessageAt *time.Time
	// Sent is what the relay recorded of the conversation's sends whose
	// results are still on their way: an agent reply among them ends the
	// no-reply rule as its result will.
	Sent Sent
}

// DecideWake ends a conversation's snooze (Decision.Rule "snooze_end"):
// its snooze deadline fell due, at the snooze's end or earlier because the
// contact wrote (Timer.DueAt before SnoozedUntil). The assignees count it
// again. A snooze the contact ended early brings in the deadlines that
// waited past its planned end (afterSnooze): the no-reply deadline, in
// the same round, falls due the team's window after the snooze ended (as
// a strategy's pick counts from when the message was applied), and the
// auto-resolve deadline the inbox's window after the conversation's
// latest message in either direction (LastMessageAt); either falls due
// now if that is past, and only while its rule still applies (a team
// window, a strategy's pick, no agent reply yet; an inbox window). A
// conversation that is not snoozed is left alone.
func DecideWake(in WakeInput) Decision {
	conv := in.Conversation
	b := newBuilder(conv, in.Now, 0)
	b.rule("snooze_end")
	if !conv.Snoozed() {
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is not snoozed."})
		return b.finish()
	}
	b.wake = true
	until := *conv.SnoozedUntil
	if !in.EndedEarly() {
		b.reason(Reason{Code: CodeSnoozeEnded, Text: fmt.Sprintf("The snooze ended at %s.", when(until, in.Now))})
		return b.finish()
	}
	text := fmt.Sprintf("The contact wrote, so the snooze (until %s) ended early", when(until, in.Now))
	var moved []string
	if window, on := in.noReplyWindow(); on {
		if due, ok := b.pullIn(*in.NoReply, until, in.Timer.DueAt, window); ok {
			moved = append(moved, "the no-reply deadline moves to "+when(due, in.Now))
		}
	}
	if window, on := in.Inbox.autoResolveWindow(); on && in.AutoResolve != nil {
		from := in.Timer.DueAt
		if in.LastMessageAt != nil {
			from = *in.LastMessageAt
		}
		if due, ok := b.pullIn(*in.AutoResolve, until, from, window); ok {
			moved = append(moved, "the auto-resolve deadline moves to "+when(due, in.Now))
		}
	}
	if len(moved) > 0 {
		text += ": " + strings.Join(moved, " and ")
	}
	b.reason(Reason{Code: CodeSnoozeEnded, Text: text + "."})
	return b.finish()
}

// EndedEarly reports whether the contact ended the conversation's snooze
// before its time: the deadline that fell due is before SnoozedUntil.
func (in WakeInput) EndedEarly() bool {
	return in.Conversation.Snoozed() && in.Timer.DueAt.Before(*in.Conversation.SnoozedUntil)
}

// noReplyWindow is the team's no-reply window when the conversation has a
// no-reply deadline the rule still applies to: a strategy's pick has not
// replied yet (nor had a reply accepted whose result is on its way).
func (in WakeInput) noReplyWindow() (time.Duration, bool) {
	conv := in.Conversation
	if in.NoReply == nil || in.Team == nil || repliedBy(conv, in.Sent, in.Now) != nil || !pickedByStrategy(conv.Assignees) {
		return 0, false
	}
	return in.Team.reassignWindow()
}

// pullIn moves t, a deadline that waited past a snooze planned until
// until (due at afterSnooze(until, window) or later), to window after
// from, or to now if that is past, and reports where it moved. An earlier
// deadline did not wait for the snooze: it stays.
func (b *builder) pullIn(t Timer, until, from time.Time, window time.Duration) (time.Time, bool) {
	if t.DueAt.Before(afterSnooze(until, window)) {
		return time.Time{}, false
	}
	due := afterSnooze(from, window)
	if due.Before(b.now) {
		due = b.now
	}
	if !due.Before(t.DueAt) {
		return time.Time{}, false
	}
	t.DueAt = due
	b.setTimer(t)
	return due, true
}
