package assigner

import "encoding/json"

// OutcomeKind names what an applied command did. The API answers each kind
// with a status of its own and the outcome as the JSON body.
type OutcomeKind string

// Outcome kinds, each with its type.
const (
	OutcomeDecided     OutcomeKind = "decided"      // Decided
	OutcomeUnchanged   OutcomeKind = "unchanged"    // Unchanged
	OutcomeOwnersSet   OutcomeKind = "owners_set"   // OwnersSet
	OutcomeReplyQueued OutcomeKind = "reply_queued" // ReplyQueued
	OutcomeReadQueued  OutcomeKind = "read_queued"  // ReadQueued
	OutcomeReleased    OutcomeKind = "released"     // Released
	OutcomeDiscarded   OutcomeKind = "discarded"    // Discarded
	OutcomeRecorded    OutcomeKind = "recorded"     // Recorded
	OutcomeTakeQueued  OutcomeKind = "take_queued"  // TakeQueued
)

// Outcome is what an applied command did: one of the types below. Its
// JSON is what the API shows.
type Outcome interface{ Kind() OutcomeKind }

// CommandResult is what became of a command: its outcome (Kind, and Value
// the outcome's JSON), or Err when it was refused.
type CommandResult struct {
	CommandID string
	Kind      OutcomeKind
	Value     json.RawMessage
	Err       *Error
	// ConversationID and ContactID are what the command was about, and
	// IssuedBy the agent who issued it, so that the API shows the result
	// only to whom it may: the conversation it named (0 when none), the
	// contact whose partition it was applied on, the agent of its actor
	// (0 for the admin token or the system). All 0 for results stored
	// before migration 017.
	ConversationID int64
	ContactID      int64
	IssuedBy       int64
}

// Decided: a decision changed the conversation (assign, unassign, claim,
// resolve, drain, expire).
type Decided struct {
	Conversation Conversation    `json:"conversation"`
	Decision     DecisionSummary `json:"decision"`
}

// DecisionSummary is a decision as a command's outcome shows it.
type DecisionSummary struct {
	Rule     string   `json:"rule"`
	Summary  string   `json:"summary"`
	Reasons  []Reason `json:"reasons"`
	Warnings []string `json:"warnings"`
}

// NewDecided is the outcome of d for the conversation as it now is.
func NewDecided(c Conversation, d Decision) Decided {
	return Decided{Conversation: c, Decision: DecisionSummary{Rule: d.Rule, Summary: d.Summary(), Reasons: d.Reasons, Warnings: d.Warnings}}
}

// Unchanged: there was nothing to do (a drain or expiry of a conversation
// that no longer waits). Changed is always false.
type Unchanged struct {
	Changed bool `json:"changed"`
}

// OwnersSet: the contact's owners are now OwnerIDs.
type OwnersSet struct {
	ContactID int64   `json:"contact_id"`
	OwnerIDs  []int64 `json:"owner_ids"`
}

// ReplyQueued: an agent's message is stored and waits in the outbox.
// Status is "pending".
type ReplyQueued struct {
	MessageID      int64  `json:"message_id"`
	ConversationID int64  `json:"conversation_id"`
	Status         string `json:"status"`
}

// TakeQueued: a take of the contact's thread waits in the outbox; the
// conversation's thread_owner becomes wagw when Meta accepts it.
type TakeQueued struct {
	ConversationID int64  `json:"conversation_id"`
	ThreadOwner    string `json:"thread_owner"`
	Status         string `json:"status"` // pending
}

// ReadQueued: a read receipt for the contact's latest message waits in the
// outbox.
type ReadQueued struct {
	MessageID int64  `json:"message_id"`
	WAMID     string `json:"wamid"`
}

// Released: the contact is unblocked and its held events were applied in
// order; those that failed are kept, with their reason.
type Released struct {
	ContactID      int64         `json:"contact_id"`
	ReleasedEvents int           `json:"released_events"`
	FailedEvents   []FailedEvent `json:"failed_events"`
}

// FailedEvent is a held event that could not be applied.
type FailedEvent struct {
	EventID string `json:"event_id"`
	Reason  string `json:"reason"`
}

// Discarded: the contact is unblocked and its held events deleted.
// ReleasedEvents is always 0.
type Discarded struct {
	ContactID       int64 `json:"contact_id"`
	ReleasedEvents  int   `json:"released_events"`
	DiscardedEvents int64 `json:"discarded_events"`
}

// Recorded: the relay's send result was applied to the message.
type Recorded struct{}

func (Decided) Kind() OutcomeKind     { return OutcomeDecided }
func (Unchanged) Kind() OutcomeKind   { return OutcomeUnchanged }
func (OwnersSet) Kind() OutcomeKind   { return OutcomeOwnersSet }
func (ReplyQueued) Kind() OutcomeKind { return OutcomeReplyQueued }
func (ReadQueued) Kind() OutcomeKind  { return OutcomeReadQueued }
func (Released) Kind() OutcomeKind    { return OutcomeReleased }
func (Discarded) Kind() OutcomeKind   { return OutcomeDiscarded }
func (Recorded) Kind() OutcomeKind    { return OutcomeRecorded }
func (TakeQueued) Kind() OutcomeKind  { return OutcomeTakeQueued }
