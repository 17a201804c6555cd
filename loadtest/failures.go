package loadtest

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"
)

// How a run names the requests that got no answer: the classes its report
// counts (timeout, refused, reset, cancelled) and, for the rest ("error"),
// a few of their texts.

// maxUnclassified bounds the failure texts a run keeps (RunResult.Unclassified).
const maxUnclassified = 5

func (r *runner) noteUnclassified(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.unclassified) < maxUnclassified && !slices.Contains(r.unclassified, text) {
		r.unclassified = append(r.unclassified, text)
	}
}

func classifyError(err error) string {
	var t interface{ Timeout() bool }
	switch {
	// A connection's deadline (os.ErrDeadlineExceeded) and fasthttp's
	// ErrTimeout both say Timeout; ErrNoFreeConns is every connection
	// the run may open busy for the request's whole timeout.
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &t) && t.Timeout(), errors.Is(err, fasthttp.ErrNoFreeConns):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, fasthttp.ErrConnectionClosed):
		return "reset"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

// withoutPorts replaces the digits after every "host:" in an error's text
// with "*", so that failures differing only in the client's ephemeral
// port are kept once.
func withoutPorts(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		b.WriteByte(text[i])
		if text[i] != ':' || i == 0 || !(isDigit(text[i-1]) || text[i-1] == ']') || i+1 >= len(text) || !isDigit(text[i+1]) {
			continue
		}
		for i+1 < len(text) && isDigit(text[i+1]) {
			i++
		}
		b.WriteByte('*')
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
