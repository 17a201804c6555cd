package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wagw/wagw/assigner"
)

// Command types: every change to a contact's state that does not come
// from Meta travels as one of these on the contact's partition, so that
// the consumer applies it in order with the contact's messages.
const (
	CmdAssign     = "assign"      // AssignCommand
	CmdUnassign   = "unassign"    // UnassignCommand
	CmdClaim      = "claim"       // ClaimCommand
	CmdResolve    = "resolve"     // ResolveCommand
	CmdSetOwners  = "set_owners"  // SetOwnersCommand
	CmdDrain      = "drain"       // DrainCommand: try to assign a queued conversation
	CmdExpire     = "expire"      // DrainCommand with Expire: a queued conversation waited too long
	CmdReply      = "reply"       // ReplyCommand: an agent's message to the contact
	CmdMarkRead   = "mark_read"   // MarkReadCommand
	CmdSendResult = "send_result" // SendResultCommand: the relay's outcome of a send
	CmdRelease    = "release"     // ReleaseCommand: unblock a contact after a dead letter
	CmdTake       = "take"        // TakeCommand: take the contact's thread back from another responder
	// CmdTimer is a conversation deadline that fell due (TimerCommand).
	CmdTimer = "timer"
	// CmdSnooze snoozes a conversation (SnoozeCommand).
	CmdSnooze = "snooze"
)

// ErrUnknownCommand is DecodeCommand's error for a type it does not know.
var ErrUnknownCommand = errors.New("unknown command type")

// Payload is a command's typed body: one of the *Command types of this
// package.
type Payload interface {
	// CommandType is the command's type on the wire (a Cmd* constant).
	CommandType() string
}

// NewCommand is the record of command p for the contact stored under key,
// issued at at, with id from one of the id schemes (NewCommandID,
// ScheduledID, ResultID). It fails only when p does not encode (a
// json.RawMessage field that is not JSON).
func NewCommand(id, key string, p Payload, at time.Time) (Envelope, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s command: %w", p.CommandType(), err)
	}
	return Envelope{Version: Version, ID: id, Kind: KindCommand, ContactKey: key, OccurredAt: at, ReceivedAt: at,
		Command: &Command{Type: p.CommandType(), Data: data}}, nil
}

// Subject is what a command is about and who issued it, read from its
// data whatever its type: its "conversation_id" (0 when it names none, as
// a command about a contact) and the agent of its "by" — or, for a claim
// and a reply, which name their issuer as "agent_id", that agent (0 for
// the bootstrap admin token, the system, or a command without one).
func (c *Command) Subject() (conversationID, issuedBy int64) {
	var subject struct {
		ConversationID int64          `json:"conversation_id"`
		By             assigner.Actor `json:"by"`
		AgentID        int64          `json:"agent_id"`
	}
	if c == nil || json.Unmarshal(c.Data, &subject) != nil {
		return 0, 0
	}
	issuedBy = subject.By.AgentID
	if c.Type == CmdClaim || c.Type == CmdReply {
		// Their agent_id is who claims or who writes; an unassign's
		// names whom it removes, not who asked.
		issuedBy = subject.AgentID
	}
	return subject.ConversationID, issuedBy
}

// DecodeCommand returns the typed payload of a command record: a value of
// one of the *Command types. Its error wraps ErrUnknownCommand for a type
// it does not know, and the *json.SyntaxError or *json.UnmarshalTypeError
// of data that is not the type's JSON.
func DecodeCommand(e *Envelope) (Payload, error) {
	if e.Command == nil {
		return nil, fmt.Errorf("event %s carries no command", e.ID)
	}
	data := e.Command.Data
	switch e.Command.Type {
	case CmdAssign:
		return decode[AssignCommand](data)
	case CmdUnassign:
		return decode[UnassignCommand](data)
	case CmdClaim:
		return decode[ClaimCommand](data)
	case CmdResolve:
		return decode[ResolveCommand](data)
	case CmdSetOwners:
		return decode[SetOwnersCommand](data)
	case CmdDrain, CmdExpire:
		var cmd DrainCommand
		if err := json.Unmarshal(data, &cmd); err != nil {
			return nil, err
		}
		cmd.Expire = e.Command.Type == CmdExpire
		return cmd, nil
	case CmdReply:
		return decode[ReplyCommand](data)
	case CmdMarkRead:
		return decode[MarkReadCommand](data)
	case CmdSendResult:
		return decode[SendResultCommand](data)
	case CmdRelease:
		return decode[ReleaseCommand](data)
	case CmdTake:
		return decode[TakeCommand](data)
	case CmdTimer:
		return decode[TimerCommand](data)
	case CmdSnooze:
		return decode[SnoozeCommand](data)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownCommand, e.Command.Type)
}

// decode is data as a C.
func decode[C Payload](data json.RawMessage) (Payload, error) {
	var cmd C
	if err := json.Unmarshal(data, &cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

// AssignCommand is a manual assignment (rule 3).
type AssignCommand struct {
	ConversationID int64          `json:"conversation_id"`
	TeamID         *int64         `json:"team_id,omitempty"`
	AgentIDs       []int64        `json:"agent_ids,omitempty"`
	Mode           assigner.Mode  `json:"mode,omitempty"`
	By             assigner.Actor `json:"by"`
}

// UnassignCommand removes one assignee, owners included.
type UnassignCommand struct {
	ConversationID int64          `json:"conversation_id"`
	AgentID        int64          `json:"agent_id"`
	By             assigner.Actor `json:"by"`
}

// ClaimCommand is an agent taking a waiting conversation (rule 6).
type ClaimCommand struct {
	ConversationID int64 `json:"conversation_id"`
	AgentID        int64 `json:"agent_id"`
}

// ResolveCommand closes a conversation.
type ResolveCommand struct {
	ConversationID int64          `json:"conversation_id"`
	By             assigner.Actor `json:"by"`
}

// SetOwnersCommand replaces a contact's owners (default assignees).
type SetOwnersCommand struct {
	ContactID int64          `json:"contact_id"`
	AgentIDs  []int64        `json:"agent_ids"`
	By        assigner.Actor `json:"by"`
}

// DrainCommand asks the consumer to retry the queue rule for one
// conversation; with Expire (type "expire"), the conversation waited past
// its queue expiry and goes to the inbox's fallback.
type DrainCommand struct {
	ConversationID int64 `json:"conversation_id"`
	Expire         bool  `json:"-"` // the command's type says it
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

// TakeCommand asks for the contact's thread back from the responder that
// owns it (Conversation Routing): a take through the thread control API.
type TakeCommand struct {
	ConversationID int64          `json:"conversation_id"`
	By             assigner.Actor `json:"by"`
}

// SendResultCommand is what the relay learned from the Cloud API.
type SendResultCommand struct {
	OutboxID   int64  `json:"outbox_id"`
	Kind       string `json:"kind,omitempty"` // the outbox row's kind: welcome, reply, take
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

// TimerCommand is a conversation's deadline that fell due (DESIGN §6
// rule 12): the consumer applies it only if the conversation still has
// that timer with that due time, so a reply or a resolve applied before
// it in partition order wins. Its id is ScheduledID of the kind, the
// conversation and DueAt: publishing it twice applies it once.
type TimerCommand struct {
	ConversationID int64              `json:"conversation_id"`
	Kind           assigner.TimerKind `json:"kind"`
	DueAt          time.Time          `json:"due_at"`
}

// SnoozeCommand snoozes a conversation until Until, or until the contact
// writes.
type SnoozeCommand struct {
	ConversationID int64          `json:"conversation_id"`
	Until          time.Time      `json:"until"`
	By             assigner.Actor `json:"by"`
}

// CommandType names each payload's type on the wire.
func (AssignCommand) CommandType() string     { return CmdAssign }
func (UnassignCommand) CommandType() string   { return CmdUnassign }
func (ClaimCommand) CommandType() string      { return CmdClaim }
func (ResolveCommand) CommandType() string    { return CmdResolve }
func (SetOwnersCommand) CommandType() string  { return CmdSetOwners }
func (ReplyCommand) CommandType() string      { return CmdReply }
func (MarkReadCommand) CommandType() string   { return CmdMarkRead }
func (SendResultCommand) CommandType() string { return CmdSendResult }
func (ReleaseCommand) CommandType() string    { return CmdRelease }
func (TakeCommand) CommandType() string       { return CmdTake }
func (TimerCommand) CommandType() string      { return CmdTimer }
func (SnoozeCommand) CommandType() string     { return CmdSnooze }

// CommandType is "drain", or "expire" with Expire.
func (c DrainCommand) CommandType() string {
	if c.Expire {
		return CmdExpire
	}
	return CmdDrain
}
