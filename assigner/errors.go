package assigner

import "errors"

// ErrorCode is the stable, machine-readable name of a domain error. The
// API shows it as the error's "code" and gives it a status of its own; the
// store keeps it as the result of a command it refused.
type ErrorCode string

// Error codes of the rules, the store and the commands.
const (
	// Something the request names does not exist.
	ErrCodeNotFound ErrorCode = "not_found"
	// The input or configuration breaks a rule (ErrInvalid).
	ErrCodeInvalid ErrorCode = "invalid"
	// An agent is not a member of the team the command names (ErrNotMember).
	ErrCodeNotMember ErrorCode = "not_member"
	// Someone else already handles the conversation (ErrAlreadyClaimed).
	ErrCodeAlreadyClaimed ErrorCode = "already_claimed"
	// The command needs an open conversation (ErrResolved).
	ErrCodeConversationResolved ErrorCode = "conversation_resolved"
	// A command or a setting names an agent or a team that does not exist.
	ErrCodeUnknownAgent ErrorCode = "unknown_agent"
	ErrCodeUnknownTeam  ErrorCode = "unknown_team"
	// Another agent has the email, another team the name.
	ErrCodeDuplicateEmail ErrorCode = "duplicate_email"
	ErrCodeDuplicateName  ErrorCode = "duplicate_name"

	// The reply rules (DecideReply).
	ErrCodeOutsideServiceWindow ErrorCode = "outside_customer_service_window"
	ErrCodeInvalidTemplate      ErrorCode = "invalid_template"
	ErrCodeInvalidInteractive   ErrorCode = "invalid_interactive"
	// Another responder owns the contact's thread (Conversation Routing).
	ErrCodeThreadControlledElsewhere ErrorCode = "thread_controlled_elsewhere"
	// reply_to is not a message of the conversation.
	ErrCodeUnknownReplyTo ErrorCode = "unknown_reply_to"
	// A read receipt for a conversation without an inbound message.
	ErrCodeNothingToRead ErrorCode = "nothing_to_read"

	// Commands the store refused for their data (retrying cannot help).
	ErrCodeUnknownCommand   ErrorCode = "unknown_command"   // a command type the store does not know
	ErrCodeInvalidCommand   ErrorCode = "invalid_command"   // the command's data is not JSON of its shape
	ErrCodeCommandRefused   ErrorCode = "command_refused"   // any other refusal
	ErrCodeOutOfRange       ErrorCode = "out_of_range"      // a number too large to store
	ErrCodeInvalidText      ErrorCode = "invalid_text"      // a NUL or an invalid character in a text
	ErrCodeInvalidValue     ErrorCode = "invalid_value"     // another value the store cannot take
	ErrCodeUnknownReference ErrorCode = "unknown_reference" // names a row that does not exist
	ErrCodeConflict         ErrorCode = "conflict"          // conflicts with stored data
)

// Error is a domain error: a stable code and a sentence for people. Err,
// when set, is what it wraps (for errors.Is).
type Error struct {
	Code    ErrorCode
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// NewError returns a domain error with code and message.
func NewError(code ErrorCode, message string) *Error {
	return &Error{Code: code, Message: message}
}

// NotFound is the error for something that does not exist: "no such
// <noun>". It wraps ErrNotFound.
func NotFound(noun string) *Error {
	return &Error{Code: ErrCodeNotFound, Message: "no such " + noun, Err: ErrNotFound}
}

// Sentinel errors. Errors wrap them with the detail: errors.Is(err,
// ErrInvalid). AsError gives their code.
var (
	// ErrNotFound is returned by stores for an unknown id.
	ErrNotFound = &Error{Code: ErrCodeNotFound, Message: "not found"}
	// ErrInvalid: the input or configuration is invalid.
	ErrInvalid = &Error{Code: ErrCodeInvalid, Message: "assigner: invalid"}
	// ErrNotMember: an agent is not a member of the team the command names.
	ErrNotMember = &Error{Code: ErrCodeNotMember, Message: "assigner: agent is not a member of the team"}
	// ErrAlreadyClaimed: someone else already handles the conversation.
	ErrAlreadyClaimed = &Error{Code: ErrCodeAlreadyClaimed, Message: "assigner: conversation already claimed"}
	// ErrResolved: the command needs an open conversation.
	ErrResolved = &Error{Code: ErrCodeConversationResolved, Message: "assigner: conversation is resolved"}
)

// AsError returns the domain error err is or wraps, with the code of the
// first one in its chain and err's whole text as the message ("assigner:
// invalid: mode "x" must be add or replace"). ok is false when err carries
// no code.
func AsError(err error) (e *Error, ok bool) {
	if !errors.As(err, &e) {
		return nil, false
	}
	if error(e) == err {
		return e, true
	}
	return &Error{Code: e.Code, Message: err.Error(), Err: err}, true
}
