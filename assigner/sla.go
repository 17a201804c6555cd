package assigner

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// First-response SLA (issue 12, rule 4): an inbox may promise a first
// agent reply within FirstResponseSLASeconds of the contact opening a
// conversation, counted in its BusinessHours. DecideOpen arms a TimerSLA
// for that instant and records it (Decision.FirstResponseDueAt); the
// first agent reply the Cloud API accepts cancels it (settleTimers); when
// it falls due DecideSLA records the breach. A breach is an event: it
// reassigns nobody.

// Reason codes of the first-response SLA.
const (
	CodeSLADue      = "sla_due"      // the first agent reply is due by a time
	CodeSLABreached = "sla_breached" // no agent replied by then
)

// MaxSLASeconds is the longest first-response SLA an inbox may set: 7 days.
const MaxSLASeconds = 7 * 24 * 60 * 60

// SLABreach is what DecideSLA records about a breached first-response SLA.
type SLABreach struct {
	// DueAt is when the first agent reply was due.
	DueAt time.Time `json:"due_at"`
	// LateSeconds is how long after DueAt the breach was decided.
	LateSeconds float64 `json:"late_seconds"`
	// AgentIDs are who was assigned at the breach.
	AgentIDs []int64 `json:"agent_ids"`
}

// validateSLA checks the SLA and the business hours the SLA counts in;
// errors wrap ErrInvalid.
func (i Inbox) validateSLA() error {
	var errs []error
	sla := i.FirstResponseSLASeconds
	if sla != nil && (*sla <= 0 || *sla > MaxSLASeconds) {
		errs = append(errs, fmt.Errorf("%w: first_response_sla_seconds %d must be 1 to %d (7 days)", ErrInvalid, *sla, MaxSLASeconds))
	}
	h := i.BusinessHours
	switch {
	case h == nil:
	case h.Validate() != nil:
		errs = append(errs, h.Validate())
	case h.Outside:
		errs = append(errs, fmt.Errorf("%w: business_hours cannot be outside: they say when the inbox is open", ErrInvalid))
	case sla != nil && time.Duration(*sla)*time.Second > maxBusinessWeeks*h.weeklyOpen():
		errs = append(errs, fmt.Errorf("%w: first_response_sla_seconds %d spans more than %d weeks of the business hours", ErrInvalid, *sla, maxBusinessWeeks))
	}
	return errors.Join(errs...)
}

// slaWindow is the inbox's first-response SLA; ok is false without one.
func (i Inbox) slaWindow() (time.Duration, bool) {
	if i.FirstResponseSLASeconds == nil || *i.FirstResponseSLASeconds <= 0 {
		return 0, false
	}
	return time.Duration(*i.FirstResponseSLASeconds) * time.Second, true
}

// armSLA sets the first-response deadline of a conversation the contact
// opened: the opening time plus the inbox's SLA in its business hours.
// Nothing when the inbox has no SLA or an agent already replied.
func (b *builder) armSLA(in Inbox) {
	window, on := in.slaWindow()
	if !on || b.conv.FirstReplyAt != nil {
		return
	}
	start := b.conv.OpenedAt
	if start.IsZero() {
		start = b.now
	}
	due, err := AddBusinessTime(in.BusinessHours, start, window)
	if err != nil {
		b.warn(Reason{Code: CodeSLADue, Text: fmt.Sprintf("The first-response SLA was not armed: %v.", err)})
		return
	}
	b.d.FirstResponseDueAt = &due
	b.setTimer(Timer{Kind: TimerSLA, DueAt: due})
	hours := ""
	if in.BusinessHours != nil {
		hours = fmt.Sprintf(" of business hours (%s)", in.BusinessHours)
	}
	b.reason(Reason{Code: CodeSLADue, Text: fmt.Sprintf("The first agent reply is due by %s: the inbox's first-response SLA is %s%s.",
		due.UTC().Format(time.RFC3339), windowText(window), hours)})
}

// SLAInput is a conversation whose first-response deadline fell due.
type SLAInput struct {
	Now          time.Time
	Conversation Conversation
	// Timer is the deadline that fell due.
	Timer Timer
	// Agents holds the assignees, for their names.
	Agents map[int64]Agent
	// Team is the conversation's team, for its name; nil: none.
	Team *Team
	// Sent is what the relay recorded of the conversation's sends: an
	// agent reply the Cloud API accepted by the deadline meets the SLA,
	// even when its result comes after the deadline's command.
	Sent Sent
}

// DecideSLA records a breached first-response SLA (issue 12, rule 4;
// Decision.Rule and reason code "sla_breached"): no agent reply was
// accepted by the deadline. The decision says how late it is decided and
// who was assigned (SLABreach); nobody is added or removed, a snoozed
// conversation breaches too (its contact still waits). Nothing is recorded
// when the conversation is resolved or an agent replied (the deadline is
// normally cancelled then).
func DecideSLA(in SLAInput) Decision {
	conv := in.Conversation
	b := newBuilder(conv, in.Now, 0)
	b.rule("sla_breached")
	for _, a := range in.Agents {
		b.see(a)
	}
	if in.Team != nil {
		b.teamName = in.Team.Name
	}
	replied := repliedBy(conv, in.Sent, in.Timer.DueAt)
	switch {
	case !conv.Open():
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is resolved."})
		return b.finish()
	case replied != nil:
		b.reason(Reason{Code: CodeReplied, Text: fmt.Sprintf("Nothing was done: an agent replied at %s.", when(*replied, in.Now))})
		return b.finish()
	}
	late := max(0, in.Now.Sub(in.Timer.DueAt))
	breach := &SLABreach{DueAt: in.Timer.DueAt, LateSeconds: late.Seconds(), AgentIDs: []int64{}}
	names := make([]string, 0, len(conv.Assignees))
	for _, a := range conv.Assignees {
		breach.AgentIDs = append(breach.AgentIDs, a.AgentID)
		names = append(names, fmt.Sprintf("%s (%s)", b.name(a.AgentID), sourceText(a.Source)))
	}
	who := "nobody was assigned"
	if len(names) > 0 {
		who = "assigned: " + strings.Join(names, ", ")
	}
	if in.Team != nil {
		who += " in " + teamName(*in.Team)
	}
	b.d.SLABreach = breach
	b.reason(Reason{Code: CodeSLABreached, Text: fmt.Sprintf("No agent replied by %s, the first-response deadline; recorded %.1f s after it, %s.",
		in.Timer.DueAt.UTC().Format(time.RFC3339), late.Seconds(), who)})
	return b.finish()
}
