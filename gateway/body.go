package gateway

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Request bodies are read here, before any handler and before a token or
// a signature is checked, so that nothing an unauthenticated client sends
// costs more than a small fixed multiple of what it sent:
//
//   - No Content-Encoding (415): Meta signs the bytes it sends and does
//     not compress them; inflating before verifying is the amplification.
//   - A body longer than its route's limit is 413, refused on its
//     declared length before anything is read: BodyLimit for the webhook,
//     APIBodyLimit for everything else; with Expect: 100-continue, before
//     the client sends it (expect).
//   - The server streams request bodies (fiber.Config.StreamRequestBody),
//     so the buffer grows with the bytes that arrived, never from the
//     length a client announced.
//   - Beyond smallBody, a body needs one of LargeBodies slots, else 503
//     with Retry-After.
//   - ReadTimeout bounds the whole request; a stalled body is 408.

// smallBody is how much of a body is read without a large-body slot.
const smallBody = 64 << 10

// readBody reads the request body under the rules above and hands it to
// the next handler as the raw body (c.BodyRaw).
func (s *Server) readBody(c *fiber.Ctx) error {
	req := c.Request()
	if len(req.Header.Peek(fiber.HeaderContentEncoding)) > 0 {
		return s.refuseBody(c, "content_encoding", apiError(fiber.StatusUnsupportedMediaType, "content_encoding_unsupported",
			"request bodies are taken as sent, without Content-Encoding"))
	}
	limit := s.bodyLimit(c)
	if req.Header.ContentLength() > limit {
		return s.refuseBody(c, "body_too_large", tooLarge(limit))
	}
	stream := req.BodyStream()
	if stream == nil { // no body, or one already in memory
		if len(req.Body()) > limit {
			return s.refuseBody(c, "body_too_large", tooLarge(limit))
		}
		return c.Next()
	}
	s.m.bodiesReading.Inc()
	body, release, err := s.readLimited(stream, req.Header.ContentLength(), limit)
	s.m.bodiesReading.Dec()
	if err != nil {
		var ae *APIError
		errors.As(err, &ae)
		return s.refuseBody(c, ae.Code, err)
	}
	defer release()
	req.SetBodyRaw(body)
	return c.Next()
}

// bodyLimit is the largest body the request's route takes.
func (s *Server) bodyLimit(c *fiber.Ctx) int { return s.limitFor(c.Method(), c.Path()) }

// limitFor is the largest body a request of method to path takes.
func (s *Server) limitFor(method, path string) int {
	if method == fiber.MethodPost && strings.EqualFold(strings.TrimSuffix(path, "/"), "/webhook") {
		return s.cfg.BodyLimit
	}
	return s.cfg.APIBodyLimit
}

// expect answers a request that asks before sending its body (Expect:
// 100-continue): 413 at once, the connection closed, when the length it
// announces is over its route's limit, so that it never sends the body
// (nor holds its connection until the read timeout); 100 Continue
// otherwise.
func (s *Server) expect(ctx *fasthttp.RequestCtx) int {
	if ctx.Request.Header.ContentLength() > s.limitFor(string(ctx.Method()), string(ctx.Path())) {
		s.m.bodiesRefused.WithLabelValues("body_too_large").Inc()
		return fiber.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}

func tooLarge(limit int) error {
	return apiError(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is larger than %d bytes", limit))
}

// refuseBody answers err and closes the connection: what is left of the
// body is never read.
func (s *Server) refuseBody(c *fiber.Ctx, reason string, err error) error {
	s.m.bodiesRefused.WithLabelValues(reason).Inc()
	c.Context().SetConnectionClose()
	if reason == "busy" {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	return err
}

// readLimited reads r to its end, at most limit bytes; declared is the
// Content-Length (negative when unknown). The buffer starts small and
// doubles as bytes arrive. Past smallBody it takes a large-body slot,
// which release gives back. Errors are *APIError.
func (s *Server) readLimited(r io.Reader, declared, limit int) (body []byte, release func(), err error) {
	held := false
	release = func() {
		if held {
			held = false
			<-s.largeBodies
		}
	}
	size := 16 << 10
	if declared >= 0 && declared < size {
		size = declared + 1 // room to see the end without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= smallBody && !held {
				select {
				case s.largeBodies <- struct{}{}:
					held = true
				default:
					return nil, release, apiError(fiber.StatusServiceUnavailable, "busy", "too many large requests at once; retry later")
				}
			}
			grown := make([]byte, len(buf), min(2*cap(buf), limit+1))
			copy(grown, buf)
			buf = grown
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err := bodyReadError(len(buf), declared, limit, rerr); err != nil {
			release()
			return nil, release, err
		}
		if rerr != nil { // io.EOF
			return buf, release, nil
		}
	}
}

// bodyReadError judges one read of a body: nil to go on, or at the end
// (rerr io.EOF with every declared byte there); else the API error.
func bodyReadError(got, declared, limit int, rerr error) error {
	switch {
	case got > limit:
		return tooLarge(limit)
	case rerr == nil:
		return nil
	case errors.Is(rerr, io.EOF):
		if declared >= 0 && got != declared {
			return apiError(fiber.StatusBadRequest, "incomplete_body", "the connection ended before the body did")
		}
		return nil
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		return apiError(fiber.StatusRequestTimeout, "request_timeout", "the request body did not arrive in time")
	}
	return apiError(fiber.StatusBadRequest, "incomplete_body", "reading the request body: "+rerr.Error())
}
