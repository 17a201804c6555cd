package assigner

import (
	"slices"
	"time"
)

// TimerKind names a conversation deadline (DESIGN §6 rule 12). A
// conversation has at most one timer of each kind.
type TimerKind string

// Timer kinds.
const (
	// TimerNoReply: the strategy's assignee has not replied yet; when it
	// falls due DecideNoReply reassigns the conversation.
	TimerNoReply TimerKind = "no_reply"
	// TimerAway: an assignee went away or offline (Timer.Excluded names
	// them), or the contact wrote while they are; due at once. DecideAway
	// gives the conversation back to the team's strategy.
	TimerAway TimerKind = "away"
	// TimerSnooze: the snooze ends (DecideWake); moved to now when the
	// contact writes.
	TimerSnooze TimerKind = "snooze"
	// TimerAutoResolve: the conversation's inbox resolves it after this
	// long without a message in either direction (DecideAutoResolve);
	// every stored message moves it later.
	TimerAutoResolve TimerKind = "auto_resolve"
	// TimerSLA: the inbox's first-response SLA ends (DecideSLA);
	// cancelled by the first agent reply the Cloud API accepts.
	TimerSLA TimerKind = "sla"
)

// Valid reports whether k is a known timer kind.
func (k TimerKind) Valid() bool {
	return k == TimerNoReply || k == TimerAway || k == TimerSnooze || k == TimerAutoResolve || k == TimerSLA
}

// Timer is a conversation's deadline of one kind, as stored: when it falls
// due the scheduler produces a command onto the contact's partition, and
// the consumer decides it in order with the contact's other events.
type Timer struct {
	Kind  TimerKind `json:"kind"`
	DueAt time.Time `json:"due_at"`
	// Round counts the reassignments already made by the no-reply rule in
	// this conversation (0 for the first assignee's deadline).
	Round int `json:"round,omitempty"`
	// Excluded are the agents the no-reply rule already took the
	// conversation from: the strategy does not pick them again.
	Excluded []int64 `json:"excluded,omitempty"`
}

// ReassignExhausted says what the no-reply rule does once a conversation
// was reassigned ReassignMax times and its assignee still has not replied.
type ReassignExhausted string

// What to do when the reassignments are exhausted. The empty value is
// treated as keep.
const (
	ExhaustedKeep     ReassignExhausted = "keep"     // the last assignee keeps it
	ExhaustedQueue    ReassignExhausted = "queue"    // back to the team's queue, unassigned
	ExhaustedFallback ReassignExhausted = "fallback" // to the inbox's fallback agent
)

// Valid reports whether e is a known value (empty included: keep).
func (e ReassignExhausted) Valid() bool {
	return e == "" || e == ExhaustedKeep || e == ExhaustedQueue || e == ExhaustedFallback
}

// DefaultReassignMax is the team's ReassignMax when it is not set.
const DefaultReassignMax = 1

// reassignWindow is the team's no-reply window; ok is false when the rule
// is off.
func (t Team) reassignWindow() (time.Duration, bool) {
	if t.ReassignAfterSeconds == nil || *t.ReassignAfterSeconds <= 0 {
		return 0, false
	}
	return time.Duration(*t.ReassignAfterSeconds) * time.Second, true
}

// setTimer asks the store to create or replace the conversation's timer
// of t's kind.
func (b *builder) setTimer(t Timer) {
	b.d.SetTimers = slices.DeleteFunc(b.d.SetTimers, func(o Timer) bool { return o.Kind == t.Kind })
	b.d.SetTimers = append(b.d.SetTimers, t)
	b.d.CancelTimers = slices.DeleteFunc(b.d.CancelTimers, func(k TimerKind) bool { return k == t.Kind })
}

// cancelTimer asks the store to delete the conversation's timer of kind k,
// if it has one.
func (b *builder) cancelTimer(k TimerKind) {
	if slices.ContainsFunc(b.d.SetTimers, func(t Timer) bool { return t.Kind == k }) || slices.Contains(b.d.CancelTimers, k) {
		return
	}
	b.d.CancelTimers = append(b.d.CancelTimers, k)
}

// armNoReply starts the no-reply window of a member the team's strategy
// just picked, when the team has one and no agent has replied yet.
func (b *builder) armNoReply(t Team) {
	window, on := t.reassignWindow()
	if !on || b.conv.FirstReplyAt != nil {
		return
	}
	b.setTimer(Timer{Kind: TimerNoReply, DueAt: b.now.Add(window)})
}

// Sent is what the relay recorded of a conversation's outbound messages
// the Cloud API accepted whose results are still on their way, read when
// a deadline falls due. The relay records a send, then reports it on the
// contact's partition, so a deadline's command can be applied before the
// result of a send the Cloud API accepted in time. A result applied
// already is in the conversation (FirstReplyAt) and its deadlines.
type Sent struct {
	// FirstAgentReply is when the Cloud API accepted the first of those
	// agent replies; nil: none.
	FirstAgentReply *time.Time
	// Latest is when it accepted the latest of those messages (agent
	// replies, templates, the welcome and closing messages); nil: none.
	Latest *time.Time
}

// repliedBy is when an agent first replied, as a deadline due at due
// counts it: the conversation's FirstReplyAt, else the first agent reply
// the Cloud API accepted by due whose result is still on its way; nil:
// none.
func repliedBy(conv Conversation, s Sent, due time.Time) *time.Time {
	if conv.FirstReplyAt != nil {
		return conv.FirstReplyAt
	}
	if s.FirstAgentReply != nil && !s.FirstAgentReply.After(due) {
		return s.FirstAgentReply
	}
	return nil
}

// settleTimers cancels the timers the decision made pointless: every one
// when the conversation is resolved; the no-reply and SLA timers when an
// agent replied; the no-reply timer when no assignee the strategy picked
// is left.
func (b *builder) settleTimers() {
	if !b.conv.Open() {
		return
	}
	if b.resolved {
		b.d.SetTimers = nil
		b.d.CancelTimers = []TimerKind{TimerNoReply, TimerAway, TimerSnooze, TimerAutoResolve, TimerSLA}
		return
	}
	if b.d.FirstReplyAt != nil || (pickedByStrategy(b.conv.Assignees) && !pickedByStrategy(b.set)) {
		b.cancelTimer(TimerNoReply)
	}
	if b.d.FirstReplyAt != nil {
		b.cancelTimer(TimerSLA)
	}
}

// pickedByStrategy reports whether a team's strategy (round_robin,
// least_open) picked one of as: the assignees a no-reply deadline is for.
func pickedByStrategy(as []Assignee) bool {
	return slices.ContainsFunc(as, func(a Assignee) bool { return a.Source == SourceRoundRobin || a.Source == SourceLeastOpen })
}
