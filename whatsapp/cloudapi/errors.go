package cloudapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// parseAPIError builds the APIError of a non-2xx response.
func parseAPIError(status int, header http.Header, body []byte, pairInterval time.Duration) *whatsapp.APIError {
	var raw struct {
		Error *struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      *int   `json:"code"`
			Subcode   int    `json:"error_subcode"`
			FBTraceID string `json:"fbtrace_id"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
		} `json:"error"`
	}
	e := &whatsapp.APIError{HTTPStatus: status}
	hasCode := false
	if json.Unmarshal(body, &raw) == nil && raw.Error != nil {
		e.Message = raw.Error.Message
		e.Type = raw.Error.Type
		e.Subcode = raw.Error.Subcode
		e.FBTraceID = raw.Error.FBTraceID
		e.Details = raw.Error.ErrorData.Details
		if raw.Error.Code != nil {
			e.Code = *raw.Error.Code
			hasCode = true
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	e.Class = whatsapp.ClassifyResponse(status, e.Code, hasCode)
	if e.Class == whatsapp.Throttled {
		e.RetryAfter = throttleWait(e.Code, pairInterval)
		if d, ok := parseRetryAfter(header.Get("Retry-After")); ok {
			e.RetryAfter = d
		}
	}
	return e
}

func throttleWait(code int, pairInterval time.Duration) time.Duration {
	switch code {
	case 131056:
		if pairInterval > 0 {
			return pairInterval
		}
		return whatsapp.DefaultPairInterval
	case 4, 80007:
		return time.Minute
	default:
		return time.Second
	}
}

func parseRetryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

// isCanceled reports whether err is the caller's context cancellation.
func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled)
}
