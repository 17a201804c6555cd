package assigner

import (
	"encoding/json"
	"time"
)

// The read models below are what the HTTP API shows. They live with the
// domain so that the store can fill them and the API can serve them
// without either importing the other.

// ContactView is a contact as the API shows it.
type ContactView struct {
	ID            int64      `json:"id" db:"id"`
	WaID          *string    `json:"wa_id" db:"wa_id"`
	UserID        *string    `json:"user_id" db:"user_id"`
	Name          string     `json:"name" db:"name"`
	LastInboundAt *time.Time `json:"last_inbound_at" db:"last_inbound_at"`
	BlockedAt     *time.Time `json:"blocked_at,omitempty" db:"blocked_at"`
	BlockedReason string     `json:"blocked_reason,omitempty" db:"blocked_reason"`
	OwnerIDs      []int64    `json:"owner_ids" db:"-"`
	CreatedAt     time.Time  `json:"created_at" db:"created_at"`
}

// ConversationView is a conversation with its assignment state.
type ConversationView struct {
	Conversation
	ContactName   string     `json:"contact_name"`
	ContactWaID   string     `json:"contact_wa_id,omitempty"`
	LastMessageAt *time.Time `json:"last_message_at,omitempty"`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	QueuedAt      *time.Time `json:"queued_at,omitempty"`
	// ThreadOwner is who owns the contact's thread (Conversation Routing).
	ThreadOwner ThreadOwner `json:"thread_owner"`
	// LastMessage is the conversation's latest message, shortened.
	LastMessage *MessagePreview `json:"last_message,omitempty"`
	// WindowClosesAt is when the customer service window closes: the
	// contact's last inbound message plus DefaultServiceWindow.
	WindowClosesAt *time.Time `json:"window_closes_at,omitempty"`
	// FirstResponseDueAt is when the first agent reply is (or was) due by
	// the inbox's first-response SLA; nil when the inbox had no SLA when
	// the conversation opened.
	FirstResponseDueAt *time.Time `json:"first_response_due_at"`
	// SLABreached: no agent reply was accepted by FirstResponseDueAt;
	// SLABreachedAt is when the breach was recorded.
	SLABreached   bool       `json:"sla_breached"`
	SLABreachedAt *time.Time `json:"sla_breached_at,omitempty"`
	// LastTake is the latest take of the contact's thread asked from this
	// conversation and Meta's answer (GET /v1/conversations/{id} only).
	LastTake *TakeView `json:"last_take,omitempty"`
}

// TakeView is a take of the thread (Conversation Routing) as the API shows
// it: Status pending (Meta not asked or not answered yet), accepted or
// refused, with Meta's error when refused.
type TakeView struct {
	Status    string    `json:"status"`
	ErrorCode *int      `json:"error_code,omitempty"`
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
}

// MessagePreview is a message as a list row shows it.
type MessagePreview struct {
	Direction string `json:"direction"`
	Type      string `json:"type"`
	Body      string `json:"body"` // the first 140 characters
}

// ConversationFilter selects conversations for a list.
type ConversationFilter struct {
	// Scope is what the caller may see (Viewer.Scope); the zero Scope
	// sees nothing, Scope{All: true} everything.
	Scope      Scope
	Status     string // open | resolved | "" (any)
	TeamID     *int64
	AssigneeID *int64
	Unassigned bool
	ContactID  *int64
	IDs        []int64 // only these conversations; nil: any
	Inbox      string  // phone_number_id; "" any
	AfterID    int64   // keyset pagination: ids greater than this, oldest first
	// Newest lists newest first: ids smaller than BeforeID (0: from the
	// newest), instead of AfterID's order.
	Newest   bool
	BeforeID int64
	Limit    int
}

// MessageView is one message of a conversation, either direction.
type MessageView struct {
	ID             int64           `json:"id"`
	WAMID          *string         `json:"wamid"`
	Direction      string          `json:"direction"` // in | out | out_other (another responder's, echoed on standby)
	ConversationID *int64          `json:"conversation_id"`
	Type           string          `json:"type"`
	Body           string          `json:"body"`
	ContextWAMID   string          `json:"reply_to,omitempty"`
	SentAt         time.Time       `json:"sent_at"`
	ReceivedAt     time.Time       `json:"received_at"`
	Status         string          `json:"status,omitempty"`
	StatusAt       *time.Time      `json:"status_at,omitempty"`
	ErrorCode      *int            `json:"error_code,omitempty"`
	ErrorTitle     string          `json:"error_title,omitempty"`
	AuthorAgentID  *int64          `json:"author_agent_id,omitempty"`
	Raw            json.RawMessage `json:"raw,omitempty"`
}

// DecisionView is one entry of a conversation's decision log.
type DecisionView struct {
	ID        int64      `json:"id"`
	EventID   string     `json:"event_id"`
	Rule      string     `json:"rule"`
	Summary   string     `json:"summary"`
	Reasons   []Reason   `json:"reasons"`
	Warnings  []string   `json:"warnings,omitempty"`
	Assignees []Assignee `json:"assignees"`
	TeamID    *int64     `json:"team_id,omitempty"`
	Queued    bool       `json:"queued"`
	// SLABreach: the decision recorded a first-response SLA breach.
	SLABreach *SLABreach `json:"sla_breach,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// AgentView is an agent as the API shows it: the domain agent and its email.
type AgentView struct {
	Agent
	Email string `json:"email"`
}

// TeamView is a team with its member agent ids in team order.
type TeamView struct {
	Team
	MemberIDs []int64 `json:"member_ids"`
}

// ChangeKind says what a Change is about.
type ChangeKind string

// Kinds of Change.
const (
	ChangeConversation ChangeKind = "conversation" // ID: the conversation (its state or assignees)
	ChangeMessage      ChangeKind = "message"      // ID: the conversation a message of which was stored or changed status
	ChangeContact      ChangeKind = "contact"      // ID: the contact whose owners changed
	ChangeAgent        ChangeKind = "agent"        // ID: the agent whose presence or open count changed
	ChangeResync       ChangeKind = "resync"       // changes may have been missed: read everything again
)

// Change is one committed change of the store, announced for live views
// (the console): what it is about, not its content, which a reader reads
// through the API with its own rights.
type Change struct {
	Kind ChangeKind `json:"kind"`
	ID   int64      `json:"id,omitempty"`
}
