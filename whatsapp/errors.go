package whatsapp

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrorClass says what the sender should do about a failed Cloud API call.
// The zero value is "no error" (ClassOf(nil)).
type ErrorClass int

// The error classes of DESIGN §7.
const (
	// Throttled: the number or the (number, recipient) pair is over its rate.
	// Back off (see RetryAfter) and retry; not a breaker failure.
	Throttled ErrorClass = iota + 1
	// Permanent: this message can never be sent as it is. Mark it failed with
	// the code; do not retry; not a breaker failure.
	Permanent
	// Transient: Meta or the network failed. Retry with Backoff; counts
	// toward the phone number's circuit breaker.
	Transient
	// AccountStop: the token, the app or the business account is blocked.
	// Stop sending for that phone number, alert, keep the rows.
	AccountStop
)

// String returns the class name used in metrics and logs.
func (c ErrorClass) String() string {
	switch c {
	case Throttled:
		return "throttled"
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case AccountStop:
		return "account_stop"
	case 0:
		return "none"
	default:
		return "class(" + strconv.Itoa(int(c)) + ")"
	}
}

// ErrBreakerOpen is returned (wrapped) when the phone number's circuit
// breaker is open or half-open and already probing. The request was not
// sent. ClassOf reports Transient for it and Attempted reports false.
var ErrBreakerOpen = errors.New("whatsapp: circuit breaker open")

// ErrPaced is returned (wrapped) when the rate limiter would have to wait
// past the context's deadline for a token. The request was not sent.
// ClassOf reports Throttled and RetryAfter says how long the wait would be.
var ErrPaced = errors.New("whatsapp: paced by the client rate limiter")

// Classify maps a Cloud API error.code to its class, exactly per DESIGN §7:
//
//	throttled:    130429, 131056, 80007, 4
//	permanent:    131047, 131026, 131049, 130472, 131050, 131051–131053, 100,
//	              33, 131008, 131009, 131021, 132000–132999, 137000
//	transient:    1, 2, 131000, 131016, 133004, 131057
//	account stop: 190, 0, 3, 10, 200–299, 368, 131031, 131042, 133010
//
// A code that is not in the table is Permanent: Meta answers request
// problems with HTTP 400 and a code, and retrying an unknown 4xx cannot
// help. When the HTTP status is known, use the Class of the *APIError
// instead: an unknown code that came with HTTP 5xx is Transient and one with
// HTTP 429 is Throttled.
func Classify(code int) ErrorClass {
	if c, ok := classifyKnown(code); ok {
		return c
	}
	return Permanent
}

func classifyKnown(code int) (ErrorClass, bool) {
	switch {
	case code == 130429, code == 131056, code == 80007, code == 4:
		return Throttled, true
	case code == 131047, code == 131026, code == 131049, code == 130472,
		code == 131050, code >= 131051 && code <= 131053, code == 100,
		code == 33, code == 131008, code == 131009, code == 131021,
		code >= 132000 && code <= 132999, code == 137000:
		return Permanent, true
	case code == 1, code == 2, code == 131000, code == 131016, code == 133004,
		code == 131057:
		return Transient, true
	case code == 190, code == 0, code == 3, code == 10,
		code >= 200 && code <= 299, code == 368, code == 131031,
		code == 131042, code == 133010:
		return AccountStop, true
	}
	return 0, false
}

// ClassifyResponse classifies an HTTP error response of the Cloud API by
// its status and, when hasCode says Meta's error body carried one, its
// error.code: a known code decides; otherwise HTTP 5xx and 408 are
// Transient, 429 is Throttled, 401 and 403 without a code are AccountStop,
// and anything else is Permanent.
func ClassifyResponse(status, code int, hasCode bool) ErrorClass {
	if hasCode {
		if c, ok := classifyKnown(code); ok {
			return c
		}
	}
	switch {
	case status >= 500:
		return Transient
	case status == 429: // Too Many Requests
		return Throttled
	case status == 408: // Request Timeout
		return Transient
	case !hasCode && (status == 401 || status == 403): // Unauthorized, Forbidden
		return AccountStop
	}
	return Permanent
}

// APIError is an error answer of the Cloud API, parsed from Meta's body
//
//	{"error":{"message","type","code","error_subcode",
//	          "error_data":{"messaging_product","details"},"fbtrace_id"}}
//
// or built from the HTTP status when the body is not Meta's (Code is then 0
// and Message holds the status text).
type APIError struct {
	HTTPStatus int
	Code       int
	Subcode    int
	Type       string
	Message    string
	Details    string
	FBTraceID  string
	Class      ErrorClass
	// RetryAfter is the suggested wait before retrying a Throttled error:
	// the Retry-After header when Meta sent one, else 1 s for 130429, the
	// client's pair interval for 131056, 60 s for 4 and 80007. Zero for
	// other classes.
	RetryAfter time.Duration
}

// Error returns the code, class and Meta's message; it never contains the
// message body or the recipient.
func (e *APIError) Error() string {
	if e.Code == 0 && e.Type == "" {
		return fmt.Sprintf("whatsapp: cloud api: HTTP %d (%s): %s", e.HTTPStatus, e.Class, e.Message)
	}
	msg := e.Message
	if e.Details != "" {
		msg += ": " + e.Details
	}
	return fmt.Sprintf("whatsapp: cloud api: code %d (%s, HTTP %d): %s", e.Code, e.Class, e.HTTPStatus, msg)
}

// clientError is an error raised by the client itself (network, breaker,
// pacing, bad input) with its class.
type clientError struct {
	class      ErrorClass
	attempted  bool
	retryAfter time.Duration
	err        error
}

func (e *clientError) Error() string { return e.err.Error() }
func (e *clientError) Unwrap() error { return e.err }

// ClientError wraps err, a failure of the Cloud API client itself
// (network, breaker, pacing, bad input), with what ClassOf, Attempted and
// RetryAfter report for it. The client in whatsapp/cloudapi builds its
// errors with it.
func ClientError(class ErrorClass, attempted bool, retryAfter time.Duration, err error) error {
	return &clientError{class: class, attempted: attempted, retryAfter: retryAfter, err: err}
}

// ClassOf returns the class of an error returned by the Cloud API client
// (Send, MarkRead, ThreadControl of whatsapp/cloudapi):
// the Class of an *APIError; Transient for network errors, timeouts,
// HTTP 5xx without a body, ErrBreakerOpen and cancelled contexts;
// Throttled for ErrPaced; Permanent for a request the client refused to
// build (for example an empty phone number id). ClassOf(nil) is 0.
// Any other non-nil error is Transient.
func ClassOf(err error) ErrorClass {
	if err == nil {
		return 0
	}
	var api *APIError
	if errors.As(err, &api) {
		return api.Class
	}
	var ce *clientError
	if errors.As(err, &ce) {
		return ce.class
	}
	return Transient
}

// RetryAfter suggests how long to wait before retrying a Throttled error
// (see APIError.RetryAfter; for ErrPaced, the limiter's wait). It returns 0
// for errors of other classes; use Backoff for those.
func RetryAfter(err error) time.Duration {
	var api *APIError
	if errors.As(err, &api) {
		return api.RetryAfter
	}
	var ce *clientError
	if errors.As(err, &ce) {
		return ce.retryAfter
	}
	return 0
}

// Attempted reports whether the request may have reached Meta. It is false
// when the breaker was open, the limiter paced the request, the context
// ended before the request was sent, or the request was invalid; the
// message was then certainly not sent. It is true for every answer of the
// Cloud API and for network errors and timeouts after the request was
// started: a send that timed out may have been delivered (the Cloud API has
// no idempotency key).
func Attempted(err error) bool {
	if err == nil {
		return true
	}
	var ce *clientError
	if errors.As(err, &ce) {
		return ce.attempted
	}
	return true
}
