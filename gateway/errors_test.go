package gateway

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wagw/wagw/assigner"
)

// Each domain error and each command outcome answers with its status.
func TestStatusTables(t *testing.T) {
	for code, want := range map[assigner.ErrorCode]int{
		assigner.ErrCodeNotFound: 404, assigner.ErrCodeAlreadyClaimed: 409, assigner.ErrCodeConversationResolved: 409,
		assigner.ErrCodeDuplicateEmail: 409, assigner.ErrCodeDuplicateName: 409, assigner.ErrCodeConflict: 409,
		assigner.ErrCodeInvalidCommand: 400,
		assigner.ErrCodeInvalid:        422, assigner.ErrCodeNotMember: 422, assigner.ErrCodeUnknownAgent: 422, assigner.ErrCodeUnknownTeam: 422,
		assigner.ErrCodeOutsideServiceWindow: 422, assigner.ErrCodeInvalidTemplate: 422, assigner.ErrCodeInvalidInteractive: 422,
		assigner.ErrCodeUnknownReplyTo: 422, assigner.ErrCodeNothingToRead: 422, assigner.ErrCodeUnknownCommand: 422,
		assigner.ErrCodeCommandRefused: 422, assigner.ErrCodeOutOfRange: 422, assigner.ErrCodeInvalidText: 422,
		assigner.ErrCodeInvalidValue: 422, assigner.ErrCodeUnknownReference: 422,
		"a_code_from_a_newer_version": 422,
	} {
		if got := statusOfError(code); got != want {
			t.Errorf("%s: %d, want %d", code, got, want)
		}
	}
	for kind, want := range map[assigner.OutcomeKind]int{
		assigner.OutcomeDecided: 200, assigner.OutcomeUnchanged: 200, assigner.OutcomeOwnersSet: 200, assigner.OutcomeReleased: 200,
		assigner.OutcomeDiscarded: 200, assigner.OutcomeRecorded: 200, assigner.OutcomeReplyQueued: 201, assigner.OutcomeReadQueued: 202,
	} {
		if got := statusOfOutcome(kind); got != want {
			t.Errorf("%s: %d, want %d", kind, got, want)
		}
	}
}

func TestToAPIError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want *APIError // nil: an internal error
	}{
		{"the store's bare not found", fmt.Errorf("conversation 7: %w", assigner.ErrNotFound), &APIError{404, "not_found", "no such resource"}},
		{"a named not found", assigner.NotFound("conversation"), &APIError{404, "not_found", "no such conversation"}},
		{"a broken rule", fmt.Errorf("%w: agent Ana is deactivated", assigner.ErrInvalid), &APIError{422, "invalid", "assigner: invalid: agent Ana is deactivated"}},
		{"a request error", apiError(400, "bad_id", "id must be a positive integer"), &APIError{400, "bad_id", "id must be a positive integer"}},
		{"an internal error", errors.New("connection reset"), nil},
	}
	for _, tt := range tests {
		got, ok := toAPIError(tt.err)
		if ok != (tt.want != nil) || (ok && *got != *tt.want) {
			t.Errorf("%s: %+v %v, want %+v", tt.name, got, ok, tt.want)
		}
	}
}

// Configuration errors name what is missing and take the handler's code
// for a broken rule.
func TestAdminErr(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want APIError
	}{
		{"not found", assigner.ErrNotFound, APIError{404, "not_found", "no such team"}},
		{"broken rules", errors.Join(fmt.Errorf("%w: team name is required", assigner.ErrInvalid), fmt.Errorf("%w: max open -1 must not be negative", assigner.ErrInvalid)),
			APIError{422, "invalid_team", "team name is required; max open -1 must not be negative"}},
		{"unknown member", &assigner.Error{Code: assigner.ErrCodeUnknownAgent, Message: "no agent with id 9", Err: assigner.ErrInvalid},
			APIError{422, "unknown_agent", "no agent with id 9"}},
		{"duplicate name", &assigner.Error{Code: assigner.ErrCodeDuplicateName, Message: `a team named "Sales" already exists`},
			APIError{409, "duplicate_name", `a team named "Sales" already exists`}},
	}
	for _, tt := range tests {
		var got *APIError
		if !errors.As(adminErr(tt.err, "invalid_team", "team"), &got) || *got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	internal := errors.New("connection reset")
	if got := adminErr(internal, "invalid_team", "team"); got != internal {
		t.Errorf("an internal error became %v", got)
	}
}
