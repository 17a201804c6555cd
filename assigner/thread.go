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
	b := newBuilder(conv, now, 0)
	b.rule("handover")
	b.reason(Reason{Code: CodeHandover, Text: fmt.Sprintf("Control of the thread was taken back from another responder by %s; wagw answers this contact again.", by)})
	return b.finish()
}
