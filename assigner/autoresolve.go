package assigner

import (
	"fmt"
	"strings"
	"time"
)

// Bounds of the inbox settings of rule 3.
const (
	MaxAutoResolveSeconds = 90 * 24 * 3600 // Inbox.AutoResolveAfterSeconds
	MaxStickyDays         = 365            // Inbox.StickyDays
)

// autoResolveWindow is the inbox's quiet period; ok is false when the rule
// is off.
func (i Inbox) autoResolveWindow() (time.Duration, bool) {
	if i.AutoResolveAfterSeconds == nil || *i.AutoResolveAfterSeconds <= 0 {
		return 0, false
	}
	return time.Duration(*i.AutoResolveAfterSeconds) * time.Second, true
}

// AutoResolveInput is a conversation whose auto-resolve deadline fell due.
type AutoResolveInput struct {
	Now          time.Time
	Conversation Conversation
	// Timer is the deadline that fell due: the conversation's last message
	// time plus the inbox's window when it was set.
	Timer Timer
	Inbox Inbox
	// LastInboundAt is when the contact last wrote (nil: never), for the
	// customer-service window of the closing message.
	LastInboundAt *time.Time
	// ServiceWindow: DefaultServiceWindow when zero.
	ServiceWindow time.Duration
	// Thread is who owns the contact's thread (Conversation Routing).
	Thread ThreadOwner
	// Sent is what the relay recorded of the conversation's sends: a
	// message the Cloud API accepted less than the window ago keeps the
	// conversation open, even when its result (which moves the deadline)
	// comes after the deadline's command.
	Sent Sent
}

// afterSnooze is when a deadline that fell due while the conversation was
// snoozed until until falls due again: window after the snooze's end, at
// the latest the end of year 9999 (its command and decision are JSON,
// whose times end there).
func afterSnooze(until time.Time, window time.Duration) time.Time {
	last := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	if due := until.Add(window); !due.After(last) {
		return due
	}
	return last
}

// DecideAutoResolve applies the auto-resolve rule (issue 12, rule 3;
// Decision.Rule "auto_resolve"): a conversation with no message in either
// direction for the inbox's AutoResolveAfterSeconds is resolved. When the
// inbox has a ClosingMessage it is queued (Closing) if a free-form message
// may be sent now: inside the customer-service window and while wagw owns
// the contact's thread; otherwise a CodeClosingSkipped reason says why.
// A snoozed conversation is not resolved while snoozed: its deadline moves
// to the snooze's end plus the window. A message the Cloud API accepted
// less than the window ago whose result is still on its way (Sent.Latest)
// moves it to that message's time plus the window (CodeNotQuiet). Nothing
// changes when the conversation is resolved already or the inbox no
// longer has the rule.
func DecideAutoResolve(in AutoResolveInput) Decision {
	conv := in.Conversation
	b := newBuilder(conv, in.Now, 0)
	b.rule("auto_resolve")
	window, on := in.Inbox.autoResolveWindow()
	switch {
	case !conv.Open():
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is resolved."})
		return b.finish()
	case !on:
		b.reason(Reason{Code: CodeSettingOff, Text: "Nothing was done: the inbox no longer resolves quiet conversations."})
		return b.finish()
	case conv.Snoozed():
		due := afterSnooze(*conv.SnoozedUntil, window)
		b.reason(Reason{Code: CodeSnoozed, Text: fmt.Sprintf("The conversation is snoozed until %s, so it is not resolved; it will be if it is still quiet %s after the snooze ends.",
			when(*conv.SnoozedUntil, in.Now), windowText(window))})
		b.setTimer(Timer{Kind: TimerAutoResolve, DueAt: due})
		return b.finish()
	case in.Sent.Latest != nil && in.Sent.Latest.Add(window).After(in.Now):
		due := in.Sent.Latest.Add(window)
		b.reason(Reason{Code: CodeNotQuiet, Text: fmt.Sprintf("The conversation is not resolved: a message was sent at %s; it will be if it is still quiet %s after it.",
			when(*in.Sent.Latest, in.Now), windowText(window))})
		b.setTimer(Timer{Kind: TimerAutoResolve, DueAt: due})
		return b.finish()
	}
	// Quiet since the message the deadline was set by, or a later one
	// whose result is still on its way.
	last := in.Timer.DueAt.Add(-window)
	if in.Sent.Latest != nil && in.Sent.Latest.After(last) {
		last = *in.Sent.Latest
	}
	quiet := max(in.Now.Sub(last), window)
	b.resolved = true
	text := fmt.Sprintf("No message in either direction for %s (the inbox resolves conversations after %s without one), so the conversation was resolved.",
		windowText(quiet.Truncate(time.Second)), windowText(window))
	if n := len(conv.Assignees); n > 0 {
		text += fmt.Sprintf(" It no longer counts toward the open conversations of its %s.", plural(n, "assignee"))
	}
	b.reason(Reason{Code: CodeAutoResolved, Text: text})
	b.closing(in)
	return b.finish()
}

// closing queues the inbox's closing message when a free-form message may
// be sent.
func (b *builder) closing(in AutoResolveInput) {
	if strings.TrimSpace(in.Inbox.ClosingMessage) == "" {
		return
	}
	switch {
	case in.Thread.Elsewhere():
		b.reason(Reason{Code: CodeClosingSkipped, Text: fmt.Sprintf("No closing message: %s owns the contact's thread.", in.Thread)})
	case !InServiceWindow(in.LastInboundAt, in.Now, in.ServiceWindow):
		since := "the contact never wrote"
		if in.LastInboundAt != nil {
			since = fmt.Sprintf("the contact last wrote %s ago", duration(in.Now.Sub(*in.LastInboundAt)))
		}
		window := orDefault(in.ServiceWindow, DefaultServiceWindow)
		length := duration(window) + "-long"
		if window%time.Hour == 0 {
			length = fmt.Sprintf("%d-hour", int(window/time.Hour))
		}
		b.reason(Reason{Code: CodeClosingSkipped, Text: fmt.Sprintf("No closing message: %s, outside the %s customer-service window, where only templates may be sent.",
			since, length)})
	default:
		b.d.Closing = true
		b.reason(Reason{Code: CodeClosing, Text: "The closing message was queued."})
	}
}

// Previous is the contact's latest resolved conversation on the inbox,
// for the sticky rule.
type Previous struct {
	ConversationID int64
	ResolvedAt     time.Time
	// TeamID is its team; nil: none.
	TeamID *int64
	// AgentID is its latest added assignee; 0: it had none.
	AgentID int64
}

// sticky applies the sticky rule to a conversation the contact opened
// (issue 12, rule 3; Decision.Rule "sticky"): when the inbox has
// StickyDays, no owner was added (owners take precedence), and the
// contact's previous conversation on the inbox was resolved at most
// StickyDays ago and had an assignee, that agent takes the new one if
// eligible under its team's usual rules (active, online when the team is
// online-only, under capacity; without a team: active, online, under
// their own capacity), and the conversation joins that team. It reports
// whether the agent was assigned; otherwise a CodeStickySkipped reason
// says why and routing runs as usual.
func (b *builder) sticky(in OpenInput) bool {
	if in.Inbox.StickyDays == nil || *in.Inbox.StickyDays <= 0 {
		return false
	}
	days := *in.Inbox.StickyDays
	p := in.Previous
	skipped := func(text string) bool {
		b.reason(Reason{Code: CodeStickySkipped, Text: "Sticky assignment skipped: " + text + "; routing as usual."})
		return false
	}
	switch {
	case len(b.set) > 0:
		return skipped("the contact's owner takes precedence")
	case p == nil:
		return skipped("the contact has no earlier resolved conversation on this inbox")
	case p.AgentID == 0:
		return skipped("the contact's previous conversation had no assignee")
	case b.now.Sub(p.ResolvedAt) > time.Duration(days)*24*time.Hour:
		return skipped(fmt.Sprintf("the contact's previous conversation was resolved %s ago, more than %s", duration(b.now.Sub(p.ResolvedAt)), plural(days, "day")))
	}
	a, ok := in.Agents[p.AgentID]
	if !ok {
		return skipped(fmt.Sprintf("agent #%d of the previous conversation no longer exists", p.AgentID))
	}
	team := Team{OnlineOnly: true}
	var ts *TeamState
	if p.TeamID != nil {
		if s, ok := in.Teams[*p.TeamID]; ok {
			ts, team = &s, s.Team
			m, member := s.Member(a.ID)
			if !member {
				return skipped(fmt.Sprintf("%s is no longer a member of %s", agentName(a), teamName(team)))
			}
			a = m.Agent
		}
	}
	if r, ok := skip(team, a, nil, b.now, b.timeout); !ok {
		why := strings.TrimSuffix(strings.TrimPrefix(r.Text, agentName(a)+" was skipped: "), ".")
		return skipped(fmt.Sprintf("%s, who had the previous conversation, is not eligible: %s", agentName(a), why))
	}
	b.add(a, SourceSticky)
	b.rule("sticky")
	b.queued = false
	b.reason(Reason{AgentID: a.ID, Code: CodeSticky, Text: fmt.Sprintf("%s had the contact's previous conversation (resolved %s ago, within %s), so %s takes this one.",
		agentName(a), duration(b.now.Sub(p.ResolvedAt)), plural(days, "day"), agentName(a))})
	if ts != nil {
		id := ts.Team.ID
		b.teamID, b.teamName = &id, ts.Team.Name
		b.reason(Reason{Code: CodeTeamSet, Text: fmt.Sprintf("The conversation now belongs to %s, as the previous one did.", teamName(ts.Team))})
	}
	return true
}
