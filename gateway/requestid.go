package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID carries a request's id: honoured when the caller (a load
// balancer, an API client) sends a sane one, generated otherwise, and
// returned on every answer.
const HeaderRequestID = "X-Request-Id"

// maxRequestID bounds an id taken from a caller, so that a log line cannot
// be made large through it.
const maxRequestID = 128

// requestIDKey is where the id is kept in the request's locals.
const requestIDKey = "wagw.request_id"

// requestID gives each request its id before anything else runs, so that
// every log line of the request, refusals included, can carry it.
func requestID(c *fiber.Ctx) error {
	id := c.Get(HeaderRequestID)
	if !saneRequestID(id) {
		id = newRequestID()
	}
	c.Locals(requestIDKey, id)
	c.Set(HeaderRequestID, id)
	return c.Next()
}

// saneRequestID accepts 1 to maxRequestID printable ASCII characters
// without spaces: nothing that could break a log line or a header.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// reqLog is the server's logger with the request's id.
func (s *Server) reqLog(c *fiber.Ctx) *slog.Logger {
	if id, ok := c.Locals(requestIDKey).(string); ok {
		return s.log.With("request_id", id)
	}
	return s.log
}
