package assigner

import (
	"fmt"
	"time"
)

// Conversation Routing (DESIGN §6 rule 14): a business number may be
// shared with another responder (Meta Business Agent), and Meta says per
// contact who owns the thread. While another responder owns it, wagw
// keeps the history but sends no free-form message: DecideReply refuses
// them with ErrCodeThreadControlledElsewhere until control comes back
// (a take through the thread control API, or a handover to wagw).

// ThreadOwnerKind is who owns a contact's thread.
type ThreadOwnerKind string

// Thread owners. The empty value is treated as ThreadOwnerWagw.
const (
	ThreadOwnerWagw  ThreadOwnerKind = "wagw"  // this app: the usual rules apply
	ThreadOwnerOther ThreadOwnerKind = "other" // another responder, named by Role
)

// ThreadOwner is the owner of a contact's thread and, for another
// responder, the role Meta names for it (for example "ai_agent").
type ThreadOwner struct {
	Owner ThreadOwnerKind `json:"owner"`
	Role  string          `json:"role,omitempty"`
	// Since is Meta's time of the change that gave the thread to this
	// owner; zero when unknown.
	Since time.Time `json:"-"`
}

// Elsewhere reports whether another responder owns the thread.
func (t ThreadOwner) Elsewhere() bool { return t.Owner == ThreadOwnerOther }

// String names the owner for a person: "wagw", or "another responder
// (ai_agent)".
func (t ThreadOwner) String() string {
	switch {
	case !t.Elsewhere():
		return string(ThreadOwnerWagw)
	case t.Role == "":
		return "another responder"
	}
	return fmt.Sprintf("another responder (%s)", t.Role)
}

// threadRefusal is the reply rule of Conversation Routing, for a
// free-form message (text or interactive) while another responder owns
// the thread.
func threadRefusal(in ReplyInput) error {
	return NewError(ErrCodeThreadControlledElsewhere, fmt.Sprintf(
		"%s owns this contact's thread: take control first (POST /v1/conversations/{id}/take)", in.Thread))
}

// CodeHandover: control of the contact's thread came to wagw.
const CodeHandover = "handover"

// DecideTaken logs that control of the contact's thread came back to
// wagw through a take that Meta accepted, asked for by by (a name); the
// conversation's assignment does not change.
func DecideTaken(conv Conversation, by string, now time.Time) Decision {
	return logged(conv, now, "handover", Reason{Code: CodeHandover,
		Text: fmt.Sprintf("Control of the thread was taken back from another responder by %s; wagw answers this contact again.", by)})
}

// CodeControlTaken: another responder took control of the contact's thread.
const CodeControlTaken = "control_taken"

// RoutingChange is what a Conversation Routing webhook says about a
// contact's thread: control passed to wagw (ToWagw) by the role By, or
// another responder (role By) now handles the thread: it took control, or
// Meta delivered the contact's activity on the standby field. Delivered
// (with ToWagw) is a contact's message Meta delivered on the messages
// field: under routing, that webhook goes to the thread's owner, so wagw
// owns the thread ("Prepare for Conversation Routing": an inbound
// messages webhook, or a control_passed event, means this app is the
// primary and responds).
type RoutingChange struct {
	ToWagw    bool
	By        string
	Delivered bool
	// At is Meta's time of the webhook item; Observed marks a change
	// inferred from traffic (a standby message or echo, a message on
	// the messages field) rather than announced by a handover.
	At       time.Time
	Observed bool
}

// ThreadOwnerAfter is the thread's owner after a routing change. Standby
// activity names no role (By empty): another responder that was already
// named keeps its role. A change observed in traffic that is not newer
// than the change that set the current owner leaves it as it is: Meta
// sends an echo and a handover in separate requests, which can arrive in
// either order. Handovers apply in partition order whatever their time.
func ThreadOwnerAfter(cur ThreadOwner, ch RoutingChange) ThreadOwner {
	if ch.Observed && !cur.Since.IsZero() && !ch.At.After(cur.Since) {
		return cur
	}
	next := ThreadOwner{Owner: ThreadOwnerWagw}
	if !ch.ToWagw {
		role := ch.By
		if role == "" && cur.Elsewhere() {
			role = cur.Role
		}
		next = ThreadOwner{Owner: ThreadOwnerOther, Role: role}
	}
	if next.Owner == cur.Owner && next.Role == cur.Role {
		return cur // no change: its time stays the one that set it
	}
	next.Since = cur.Since
	if ch.At.After(next.Since) {
		next.Since = ch.At
	}
	return next
}

// byName names who made a routing change for the decision log.
func byName(by string) string {
	if by == "" {
		return "another responder"
	}
	return by
}

// HandedOverInput is an open conversation whose contact's thread came
// back to wagw from another responder.
type HandedOverInput struct {
	Now          time.Time
	Conversation Conversation
	// Change is how it came back: a handover (control_passed) or a
	// message delivered on the messages field.
	Change RoutingChange
	// Team is the conversation's team (nil: none), for its no-reply
	// window.
	Team *Team
}

// handedOverText says how control came back to wagw, for the decision log.
func (ch RoutingChange) handedOverText(opened bool) string {
	lead := fmt.Sprintf("Handed over by %s: control of the thread passed to wagw", byName(ch.By))
	if ch.Delivered {
		lead = "Routing delivered the contact's message to wagw: control of the thread came back from another responder"
	}
	if opened {
		return lead + " and no conversation was open, so one was opened."
	}
	return lead + ", which answers this contact again."
}

// DecideHandedOver logs that control of the contact's thread came back to
// wagw while the conversation was open; the assignment does not change,
// and what an assignment by the team's strategy arms is armed again (the
// no-reply deadline, cancelled when control was taken), when an assignee
// the strategy picked has not replied yet. The store arms the away
// deadline of such an assignee who is not online, as for a contact's
// message.
func DecideHandedOver(in HandedOverInput) Decision {
	b := newBuilder(in.Conversation, in.Now, 0)
	b.rule("handover")
	b.reason(Reason{Code: CodeHandover, Text: in.Change.handedOverText(false)})
	if in.Conversation.Open() && pickedByStrategy(in.Conversation.Assignees) && in.Team != nil {
		b.armNoReply(*in.Team)
	}
	return b.finish()
}

// logged is a decision that changes nothing of conv but logs why.
func logged(conv Conversation, now time.Time, rule string, r Reason) Decision {
	b := newBuilder(conv, now, 0)
	b.rule(rule)
	b.reason(r)
	return b.finish()
}

// DecideOpenHandedOver is the opening of a conversation because control
// of the thread came to wagw (ch: a handover, or a message delivered on
// the messages field) while none was open: the usual opening rules
// (DecideOpen, which arms the first-response SLA and, through a strategy
// pick, the no-reply deadline), logged as a handover first.
func DecideOpenHandedOver(in OpenInput, ch RoutingChange) Decision {
	d := DecideOpen(in)
	d.Rule = "handover," + d.Rule
	d.Reasons = append([]Reason{{Code: CodeHandover, Text: ch.handedOverText(true)}}, d.Reasons...)
	return d
}

// DecideControlTaken logs that another responder (by) took control of the
// contact's thread while conv was open: wagw keeps the history, sends no
// free-form message and assigns no one until control comes back, so the
// no-reply and away deadlines, which would reassign it, are cancelled.
func DecideControlTaken(conv Conversation, by string, now time.Time) Decision {
	b := newBuilder(conv, now, 0)
	b.rule("control_taken")
	b.reason(Reason{Code: CodeControlTaken, Text: fmt.Sprintf(
		"Control of the thread was taken by %s; wagw keeps the history and sends no free-form message until control comes back.", byName(by))})
	b.cancelTimer(TimerNoReply)
	b.cancelTimer(TimerAway)
	return b.finish()
}
