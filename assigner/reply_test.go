package assigner

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// The reply rules: templates any time (with a name), free-form messages
// only within the customer-service window, malformed objects refused.
func TestDecideReply(t *testing.T) {
	recent := t0.Add(-time.Hour)
	edge := t0.Add(-24 * time.Hour)
	stale := t0.Add(-24*time.Hour - time.Second)
	other := ThreadOwner{Owner: ThreadOwnerOther, Role: "ai_agent"}
	tests := []struct {
		name string
		in   ReplyInput
		want ErrorCode // "" when the message may be sent
	}{
		{"text inside the window", ReplyInput{Type: ReplyText, LastInboundAt: &recent}, ""},
		{"text exactly 24 h later", ReplyInput{Type: ReplyText, LastInboundAt: &edge}, ""},
		{"text after the window", ReplyInput{Type: ReplyText, LastInboundAt: &stale}, ErrCodeOutsideServiceWindow},
		{"text to a contact who never wrote", ReplyInput{Type: ReplyText}, ErrCodeOutsideServiceWindow},
		{"text in a window set shorter", ReplyInput{Type: ReplyText, LastInboundAt: &recent, ServiceWindow: time.Minute}, ErrCodeOutsideServiceWindow},
		{"interactive inside the window", ReplyInput{Type: ReplyInteractive, LastInboundAt: &recent}, ""},
		{"interactive after the window", ReplyInput{Type: ReplyInteractive, LastInboundAt: &stale}, ErrCodeOutsideServiceWindow},
		{"malformed interactive", ReplyInput{Type: ReplyInteractive, Malformed: true, LastInboundAt: &recent}, ErrCodeInvalidInteractive},
		{"malformed interactive after the window", ReplyInput{Type: ReplyInteractive, Malformed: true}, ErrCodeInvalidInteractive},
		{"template after the window", ReplyInput{Type: ReplyTemplate, TemplateName: "order_update", LastInboundAt: &stale}, ""},
		{"template to a contact who never wrote", ReplyInput{Type: ReplyTemplate, TemplateName: "order_update"}, ""},
		{"template without a name", ReplyInput{Type: ReplyTemplate, LastInboundAt: &recent}, ErrCodeInvalidTemplate},
		{"malformed template", ReplyInput{Type: ReplyTemplate, TemplateName: "x", Malformed: true}, ErrCodeInvalidTemplate},
		// Conversation Routing: free-form refused while another responder
		// owns the thread, whatever the window; templates still go.
		{"text while another responder owns the thread", ReplyInput{Type: ReplyText, LastInboundAt: &recent, Thread: other}, ErrCodeThreadControlledElsewhere},
		{"text after the window while another owns it", ReplyInput{Type: ReplyText, LastInboundAt: &stale, Thread: other}, ErrCodeThreadControlledElsewhere},
		{"interactive while another owns the thread", ReplyInput{Type: ReplyInteractive, LastInboundAt: &recent, Thread: ThreadOwner{Owner: ThreadOwnerOther}}, ErrCodeThreadControlledElsewhere},
		{"malformed interactive while another owns it", ReplyInput{Type: ReplyInteractive, Malformed: true, LastInboundAt: &recent, Thread: other}, ErrCodeInvalidInteractive},
		{"template while another owns the thread", ReplyInput{Type: ReplyTemplate, TemplateName: "order_update", Thread: other}, ""},
		{"text when wagw owns the thread", ReplyInput{Type: ReplyText, LastInboundAt: &recent, Thread: ThreadOwner{Owner: ThreadOwnerWagw}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = t0
			err := DecideReply(tt.in)
			var e *Error
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("DecideReply() = %v, want nil", err)
			case tt.want != "" && (!errors.As(err, &e) || e.Code != tt.want || e.Message == ""):
				t.Fatalf("DecideReply() = %v, want code %q", err, tt.want)
			}
		})
	}
}

func TestInServiceWindow(t *testing.T) {
	at := func(d time.Duration) *time.Time { v := t0.Add(-d); return &v }
	tests := []struct {
		last   *time.Time
		window time.Duration
		want   bool
	}{
		{nil, 0, false},
		{at(0), 0, true},
		{at(24 * time.Hour), 0, true},
		{at(24*time.Hour + time.Nanosecond), 0, false},
		{at(2 * time.Hour), time.Hour, false},
		{at(2 * time.Hour), 3 * time.Hour, true},
		{at(-time.Minute), 0, true}, // a clock a little ahead
	}
	for _, tt := range tests {
		if got := InServiceWindow(tt.last, t0, tt.window); got != tt.want {
			t.Errorf("InServiceWindow(%v, window %v) = %v, want %v", tt.last, tt.window, got, tt.want)
		}
	}
}

// AsError gives the code of the first domain error in the chain and the
// whole text; errors.Is still sees the sentinels.
func TestAsError(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		code    ErrorCode
		message string
		is      error
	}{
		{"a sentinel", ErrResolved, ErrCodeConversationResolved, "assigner: conversation is resolved", ErrResolved},
		{"a wrapped sentinel", fmt.Errorf("%w: Bob is not in Sales", ErrNotMember), ErrCodeNotMember,
			"assigner: agent is not a member of the team: Bob is not in Sales", ErrNotMember},
		{"joined validation errors", errors.Join(fmt.Errorf("%w: a", ErrInvalid), fmt.Errorf("%w: b", ErrInvalid)), ErrCodeInvalid,
			"assigner: invalid: a\nassigner: invalid: b", ErrInvalid},
		{"a coded error wrapping a sentinel", &Error{Code: ErrCodeUnknownAgent, Message: "no agent with id 9", Err: ErrInvalid},
			ErrCodeUnknownAgent, "no agent with id 9", ErrInvalid},
		{"not found", NotFound("conversation"), ErrCodeNotFound, "no such conversation", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := AsError(tt.err)
			if !ok || e.Code != tt.code || e.Message != tt.message || !errors.Is(e, tt.is) {
				t.Errorf("AsError() = %+v, %v; want %q %q, wrapping %v", e, ok, tt.code, tt.message, tt.is)
			}
		})
	}
	if _, ok := AsError(errors.New("connection reset")); ok {
		t.Error("an error without a code has one")
	}
}
