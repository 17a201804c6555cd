package whatsapp

import (
	"errors"
)

// Conversation Routing's thread control API: an app sharing a business
// number with another responder (Meta Business Agent) passes, releases or
// takes a user's thread with POST /{phone_number_id}/thread_control.
// Source: the Cloud API thread control reference and the
// messaging_handovers webhook reference,
// https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messaging-handovers/

// ThreadAction is what a thread control call does.
type ThreadAction string

// Thread control actions.
const (
	// ThreadTake takes the thread from its current owner; only the
	// number's designated escalation partner may.
	ThreadTake ThreadAction = "take"
	// ThreadPass passes the thread to another responder, named by a role.
	ThreadPass ThreadAction = "pass"
	// ThreadRelease gives the thread up; entry-point routing decides who
	// answers the user's next message.
	ThreadRelease ThreadAction = "release"
)

// Valid reports whether a is a known action.
func (a ThreadAction) Valid() bool { return a == ThreadTake || a == ThreadPass || a == ThreadRelease }

// SubcodeTakeNotAllowed is the error_subcode of Meta's answer (code 100)
// when this app may not take the thread: it is not the number's
// escalation partner.
const SubcodeTakeNotAllowed = 2494191

// ThreadControlRequest is the body of a thread control call.
type ThreadControlRequest struct {
	MessagingProduct string `json:"messaging_product"`
	// Recipient is the user: a wa_id or a business-scoped user id.
	Recipient string       `json:"recipient"`
	Action    ThreadAction `json:"action"`
	// Metadata is a free string handed to the new owner.
	Metadata    string       `json:"metadata,omitempty"`
	ControlPass *ControlPass `json:"control_pass,omitempty"`
}

// ControlPass names who a pass hands the thread to.
type ControlPass struct {
	TargetRole string `json:"target_role"`
}

// IsTakeNotAllowed reports whether err is Meta's refusal of a take: this
// app is not allowed to take the thread.
func IsTakeNotAllowed(err error) bool {
	var api *APIError
	return errors.As(err, &api) && api.Subcode == SubcodeTakeNotAllowed
}
