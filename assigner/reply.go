package assigner

import "time"

// DefaultServiceWindow is how long after the contact's last message a
// free-form message may be sent: WhatsApp's customer-service window.
const DefaultServiceWindow = 24 * time.Hour

// ReplyType is the kind of message an agent sends.
type ReplyType string

// Reply types.
const (
	ReplyText        ReplyType = "text"
	ReplyTemplate    ReplyType = "template"
	ReplyInteractive ReplyType = "interactive"
)

// ReplyInput is an agent's message as the reply rules see it.
type ReplyInput struct {
	Now  time.Time
	Type ReplyType
	// TemplateName is the name of a template message ("" when it has none).
	TemplateName string
	// Malformed: the template or interactive object is not one the Cloud
	// API takes (the store could not read it as one).
	Malformed bool
	// LastInboundAt is when the contact last wrote; nil when it never did.
	LastInboundAt *time.Time
	// ServiceWindow; zero or negative means DefaultServiceWindow.
	ServiceWindow time.Duration
	// Thread is who owns the contact's thread (Conversation Routing).
	Thread ThreadOwner
}

// DecideReply applies the reply rules: a template message needs a
// template with a name, an interactive message a Cloud API interactive
// object, and a free-form message (text or interactive) is sent only
// inside the customer-service window and while wagw owns the contact's
// thread; a template may be sent any time. It returns nil when the
// message may be sent, else an *Error with code ErrCodeInvalidTemplate,
// ErrCodeInvalidInteractive, ErrCodeThreadControlledElsewhere or
// ErrCodeOutsideServiceWindow.
func DecideReply(in ReplyInput) error {
	switch {
	case in.Type == ReplyTemplate && (in.Malformed || in.TemplateName == ""):
		return NewError(ErrCodeInvalidTemplate, "template needs at least a name and a language")
	case in.Type == ReplyInteractive && in.Malformed:
		return NewError(ErrCodeInvalidInteractive, "interactive is not a Cloud API interactive object")
	case in.Type != ReplyTemplate && in.Thread.Elsewhere():
		return threadRefusal(in)
	case in.Type != ReplyTemplate && !InServiceWindow(in.LastInboundAt, in.Now, in.ServiceWindow):
		return NewError(ErrCodeOutsideServiceWindow,
			"the contact's last message is older than 24 hours: only a template message can be sent")
	}
	return nil
}

// InServiceWindow reports whether a free-form message may be sent at now
// to a contact who last wrote at lastInbound (nil: never): at most window
// later (zero or negative: DefaultServiceWindow).
func InServiceWindow(lastInbound *time.Time, now time.Time, window time.Duration) bool {
	if window <= 0 {
		window = DefaultServiceWindow
	}
	return lastInbound != nil && now.Sub(*lastInbound) <= window
}
