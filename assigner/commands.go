package assigner

import "encoding/json"

// Command types: every change to a contact's state travels as one of these
// on the contact's partition, so that the consumer applies them in order
// with the contact's messages.
const (
	CmdAssign     = "assign"      // AssignCommand
	CmdUnassign   = "unassign"    // UnassignCommand
	CmdClaim      = "claim"       // ClaimCommand
	CmdResolve    = "resolve"     // ResolveCommand
	CmdSetOwners  = "set_owners"  // SetOwnersCommand
	CmdDrain      = "drain"       // DrainCommand: try to assign a queued conversation
	CmdExpire     = "expire"      // DrainCommand: a queued conversation waited too long
	CmdReply      = "reply"       // ReplyCommand: an agent's message to the contact
	CmdMarkRead   = "mark_read"   // MarkReadCommand
	CmdSendResult = "send_result" // SendResultCommand: the relay's outcome of a send
	CmdRelease    = "release"     // ReleaseCommand: unblock a contact after a dead letter
)

// Actor is who issued a command.
type Actor struct {
	AgentID int64 `json:"agent_id,omitempty"` // 0 for the bootstrap admin token or the system
	Admin   bool  `json:"admin,omitempty"`
}

// AssignCommand is a manual assignment (rule 3).
type AssignCommand struct {
	ConversationID int64   `json:"conversation_id"`
	TeamID         *int64  `json:"team_id,omitempty"`
	AgentIDs       []int64 `json:"agent_ids,omitempty"`
	Mode           Mode    `json:"mode,omitempty"`
	By             Actor   `json:"by"`
}

// UnassignCommand removes one assignee, owners included.
type UnassignCommand struct {
	ConversationID int64 `json:"conversation_id"`
	AgentID        int64 `json:"agent_id"`
	By             Actor `json:"by"`
}

// ClaimCommand is an agent taking a waiting conversation (rule 6).
type ClaimCommand struct {
	ConversationID int64 `json:"conversation_id"`
	AgentID        int64 `json:"agent_id"`
}

// ResolveCommand closes a conversation.
type ResolveCommand struct {
	ConversationID int64 `json:"conversation_id"`
	By             Actor `json:"by"`
}

// SetOwnersCommand replaces a contact's owners (default assignees).
type SetOwnersCommand struct {
	ContactID int64   `json:"contact_id"`
	AgentIDs  []int64 `json:"agent_ids"`
	By        Actor   `json:"by"`
}

// DrainCommand asks the consumer to retry the queue rule for one conversation.
type DrainCommand struct {
	ConversationID int64 `json:"conversation_id"`
}

// ReplyCommand is a message an agent sends to the contact. Exactly one of
// Text, Template and Interactive is set; the last two are Cloud API objects.
type ReplyCommand struct {
	ConversationID int64           `json:"conversation_id"`
	AgentID        int64           `json:"agent_id,omitempty"`
	Text           string          `json:"text,omitempty"`
	PreviewURL     bool            `json:"preview_url,omitempty"`
	Template       json.RawMessage `json:"template,omitempty"`
	Interactive    json.RawMessage `json:"interactive,omitempty"`
	ReplyTo        int64           `json:"reply_to,omitempty"` // a message id of the conversation
}

// MarkReadCommand marks the contact's latest inbound message read.
type MarkReadCommand struct {
	ConversationID int64 `json:"conversation_id"`
	Typing         bool  `json:"typing,omitempty"`
}

// SendResultCommand is what the relay learned from the Cloud API.
type SendResultCommand struct {
	OutboxID   int64  `json:"outbox_id"`
	MessageID  int64  `json:"message_id"`
	WAMID      string `json:"wamid,omitempty"`
	Failed     bool   `json:"failed,omitempty"`
	ErrorCode  int    `json:"error_code,omitempty"`
	ErrorTitle string `json:"error_title,omitempty"`
	AcceptedAt string `json:"accepted_at,omitempty"` // RFC 3339
}

// ReleaseCommand unblocks a contact and applies its held events in order;
// with Discard, its held events are deleted instead of applied.
type ReleaseCommand struct {
	ContactID int64 `json:"contact_id"`
	Discard   bool  `json:"discard,omitempty"`
}
