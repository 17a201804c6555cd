package gateway

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/wagw/wagw/assigner"
)

// The API is the one place where errors and outcomes become HTTP: the
// domain's error codes and the kinds of command outcomes each have their
// status in the tables below.

// errorStatus is the HTTP status of each domain error code. A code the
// table does not know is a refusal: 422.
var errorStatus = map[assigner.ErrorCode]int{
	assigner.ErrCodeNotFound:                  fiber.StatusNotFound,
	assigner.ErrCodeInvalid:                   fiber.StatusUnprocessableEntity,
	assigner.ErrCodeNotMember:                 fiber.StatusUnprocessableEntity,
	assigner.ErrCodeAlreadyClaimed:            fiber.StatusConflict,
	assigner.ErrCodeConversationResolved:      fiber.StatusConflict,
	assigner.ErrCodeUnknownAgent:              fiber.StatusUnprocessableEntity,
	assigner.ErrCodeUnknownTeam:               fiber.StatusUnprocessableEntity,
	assigner.ErrCodeDuplicateEmail:            fiber.StatusConflict,
	assigner.ErrCodeDuplicateName:             fiber.StatusConflict,
	assigner.ErrCodeOutsideServiceWindow:      fiber.StatusUnprocessableEntity,
	assigner.ErrCodeThreadControlledElsewhere: fiber.StatusConflict,
	assigner.ErrCodeInvalidTemplate:           fiber.StatusUnprocessableEntity,
	assigner.ErrCodeInvalidInteractive:        fiber.StatusUnprocessableEntity,
	assigner.ErrCodeUnknownReplyTo:            fiber.StatusUnprocessableEntity,
	assigner.ErrCodeNothingToRead:             fiber.StatusUnprocessableEntity,
	assigner.ErrCodeUnknownCommand:            fiber.StatusUnprocessableEntity,
	assigner.ErrCodeInvalidCommand:            fiber.StatusBadRequest,
	assigner.ErrCodeCommandRefused:            fiber.StatusUnprocessableEntity,
	assigner.ErrCodeOutOfRange:                fiber.StatusUnprocessableEntity,
	assigner.ErrCodeInvalidText:               fiber.StatusUnprocessableEntity,
	assigner.ErrCodeInvalidValue:              fiber.StatusUnprocessableEntity,
	assigner.ErrCodeUnknownReference:          fiber.StatusUnprocessableEntity,
	assigner.ErrCodeConflict:                  fiber.StatusConflict,
}

// outcomeStatus is the HTTP status of each kind of command outcome; a kind
// the table does not know answers 200.
var outcomeStatus = map[assigner.OutcomeKind]int{
	assigner.OutcomeDecided:     fiber.StatusOK,
	assigner.OutcomeUnchanged:   fiber.StatusOK,
	assigner.OutcomeOwnersSet:   fiber.StatusOK,
	assigner.OutcomeReleased:    fiber.StatusOK,
	assigner.OutcomeDiscarded:   fiber.StatusOK,
	assigner.OutcomeRecorded:    fiber.StatusOK,
	assigner.OutcomeReplyQueued: fiber.StatusCreated,
	assigner.OutcomeReadQueued:  fiber.StatusAccepted,
	assigner.OutcomeTakeQueued:  fiber.StatusAccepted,
}

func statusOfError(code assigner.ErrorCode) int {
	if s, ok := errorStatus[code]; ok {
		return s
	}
	return fiber.StatusUnprocessableEntity
}

func statusOfOutcome(kind assigner.OutcomeKind) int {
	if s, ok := outcomeStatus[kind]; ok {
		return s
	}
	return fiber.StatusOK
}

// APIError is the JSON error body of the API: a stable code and a message.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// apiError is an error of the request itself, found by the gateway.
func apiError(status int, code, msg string) error {
	return &APIError{Status: status, Code: code, Message: msg}
}

// domainError is the API error of a domain error: its code with the
// table's status.
func domainError(e *assigner.Error) *APIError {
	return &APIError{Status: statusOfError(e.Code), Code: string(e.Code), Message: e.Message}
}

// toAPIError is err as the API shows it; ok is false for an error the API
// does not explain (an internal one). The store's bare "not found" names
// no resource.
func toAPIError(err error) (ae *APIError, ok bool) {
	var e *assigner.Error
	switch {
	case errors.As(err, &ae):
		return ae, true
	case !errors.As(err, &e):
		return nil, false
	case e == assigner.ErrNotFound:
		return &APIError{Status: statusOfError(e.Code), Code: string(e.Code), Message: "no such resource"}, true
	}
	e, _ = assigner.AsError(err)
	return domainError(e), true
}

// errorResult is a refused command's result as the API shows it.
func errorResult(e *assigner.Error) (int, fiber.Map) {
	ae := domainError(e)
	return ae.Status, fiber.Map{"error": ae}
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	ae, ok := toAPIError(err)
	var fe *fiber.Error
	switch {
	case ok:
	case errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge:
		s.m.webhooks.WithLabelValues("too_large").Inc()
		ae = &APIError{Status: fe.Code, Code: "body_too_large", Message: "request body is larger than the limit"}
	case errors.As(err, &fe):
		ae = &APIError{Status: fe.Code, Code: strings.ToLower(strings.ReplaceAll(fiberStatusText(fe.Code), " ", "_")), Message: fe.Message}
	case s.cfg.Transient != nil && s.cfg.Transient(err):
		// Readiness and the store's metrics report the outage; the caller
		// retries.
		s.reqLog(c).Debug("request failed for now", "method", c.Method(), "path", c.Path(), "err", err)
		c.Set(fiber.HeaderRetryAfter, "1")
		ae = &APIError{Status: fiber.StatusServiceUnavailable, Code: "database_unavailable", Message: "the database is unavailable for now; retry later"}
	default:
		s.reqLog(c).Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		ae = &APIError{Status: fiber.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	return c.Status(ae.Status).JSON(fiber.Map{"error": ae})
}

func fiberStatusText(code int) string {
	if t := utils.StatusMessage(code); t != "" {
		return t
	}
	return "error"
}

// adminErr is the API error of a configuration write or read: "not found"
// names the noun, and settings that break a rule take invalidCode
// (invalid_agent, invalid_team, ...) with the rule's detail.
func adminErr(err error, invalidCode, noun string) error {
	e, ok := assigner.AsError(err)
	switch {
	case err == nil:
		return nil
	case !ok:
		return err
	case e.Code == assigner.ErrCodeNotFound:
		return apiError(statusOfError(e.Code), string(e.Code), "no such "+noun)
	case e.Code == assigner.ErrCodeInvalid:
		return apiError(statusOfError(e.Code), invalidCode, invalidMessage(err))
	}
	return domainError(e)
}

// invalidMessage turns joined validation errors into one line without the
// sentinel's prefix.
func invalidMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), assigner.ErrInvalid.Error()+": ", "")
	return strings.ReplaceAll(msg, "\n", "; ")
}
