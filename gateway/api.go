package gateway

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"github.com/wagw/wagw/assigner"
)

// Store is what the API reads (and the few writes that are not contact
// state). Contact state changes go through the consumer as commands.
type Store interface {
	ListConversations(ctx context.Context, f assigner.ConversationFilter) ([]assigner.ConversationView, error)
	Conversation(ctx context.Context, id int64) (assigner.ConversationView, error)
	Messages(ctx context.Context, conversationID, afterID int64, limit int) ([]assigner.MessageView, error)
	ContactBy(ctx context.Context, waID, userID string) (assigner.ContactView, error)
	CommandStore
	AdminStore
}

// principal is who is calling the API.
type principal struct {
	Admin   bool
	AgentID int64
}

// APIError is the JSON error body of the API: a stable code and a message.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiError(status int, code, msg string) error {
	return &APIError{Status: status, Code: code, Message: msg}
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var ae *APIError
	var fe *fiber.Error
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, assigner.ErrNotFound):
		ae = &APIError{Status: fiber.StatusNotFound, Code: "not_found", Message: "no such resource"}
	case errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge:
		s.m.webhooks.WithLabelValues("too_large").Inc()
		ae = &APIError{Status: fe.Code, Code: "body_too_large", Message: "request body is larger than the limit"}
	case errors.As(err, &fe):
		ae = &APIError{Status: fe.Code, Code: strings.ToLower(strings.ReplaceAll(fiberStatusText(fe.Code), " ", "_")), Message: fe.Message}
	case s.cfg.Transient != nil && s.cfg.Transient(err):
		// Readiness and the store's metrics report the outage; the caller
		// retries.
		s.log.Debug("request failed for now", "method", c.Method(), "path", c.Path(), "err", err)
		c.Set(fiber.HeaderRetryAfter, "1")
		ae = &APIError{Status: fiber.StatusServiceUnavailable, Code: "database_unavailable", Message: "the database is unavailable for now; retry later"}
	default:
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
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

// auth accepts the admin token or an agent's token as a bearer token.
func (s *Server) auth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return apiError(fiber.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token>")
	}
	if s.isAdminToken(tok) {
		c.Locals("principal", principal{Admin: true})
		return c.Next()
	}
	p, err := s.agentPrincipal(c.UserContext(), tok)
	if err != nil {
		return err
	}
	c.Locals("principal", p)
	return c.Next()
}

func who(c *fiber.Ctx) principal {
	p, _ := c.Locals("principal").(principal)
	return p
}

func (s *Server) routes(v1 fiber.Router) {
	v1.Get("/conversations", s.listConversations)
	v1.Get("/conversations/:id", s.getConversation)
	v1.Get("/conversations/:id/messages", s.listMessages)
	v1.Get("/contacts", s.findContact)
	s.writeRoutes(v1)
	s.adminRoutes(v1)
}

func pathID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apiError(fiber.StatusBadRequest, "bad_id", name+" must be a positive integer")
	}
	return id, nil
}

func queryInt(c *fiber.Ctx, name string, def, max int64) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || (max > 0 && n > max) {
		return 0, apiError(fiber.StatusBadRequest, "bad_query", name+" must be an integer between 0 and "+strconv.FormatInt(max, 10))
	}
	return n, nil
}

func (s *Server) listConversations(c *fiber.Ctx) error {
	f := assigner.ConversationFilter{Status: c.Query("status")}
	switch f.Status {
	case "", "open", "resolved":
	default:
		return apiError(fiber.StatusBadRequest, "bad_query", "status must be open or resolved")
	}
	limit, err := queryInt(c, "limit", 100, 1000)
	if err != nil {
		return err
	}
	after, err := queryInt(c, "after", 0, 0)
	if err != nil {
		return err
	}
	f.Limit, f.AfterID = int(limit), after
	for _, q := range []struct {
		name string
		dst  **int64
	}{{"team_id", &f.TeamID}, {"assignee", &f.AssigneeID}, {"contact_id", &f.ContactID}} {
		if c.Query(q.name) != "" {
			v, err := queryInt(c, q.name, 0, 0)
			if err != nil {
				return err
			}
			*q.dst = &v
		}
	}
	switch c.Query("unassigned") {
	case "", "false":
	case "true":
		f.Unassigned = true
	default:
		return apiError(fiber.StatusBadRequest, "bad_query", "unassigned must be true or false")
	}
	list, err := s.store.ListConversations(c.UserContext(), f)
	if err != nil {
		return err
	}
	resp := fiber.Map{"conversations": list}
	if len(list) == f.Limit && f.Limit > 0 {
		resp["next_after"] = list[len(list)-1].ID
	}
	return c.JSON(resp)
}

func (s *Server) getConversation(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	conv, err := s.store.Conversation(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(conv)
}

func (s *Server) listMessages(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	raw := c.Query("raw") == "true"
	if raw && !who(c).Admin {
		return apiError(fiber.StatusForbidden, "forbidden", "raw=true (Meta's payload) needs an admin token")
	}
	if _, err := s.store.Conversation(c.UserContext(), id); err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 500, 5000)
	if err != nil {
		return err
	}
	after, err := queryInt(c, "after", 0, 0)
	if err != nil {
		return err
	}
	msgs, err := s.store.Messages(c.UserContext(), id, after, int(limit))
	if err != nil {
		return err
	}
	if !raw {
		for i := range msgs {
			msgs[i].Raw = nil
		}
	}
	resp := fiber.Map{"messages": msgs}
	if len(msgs) == int(limit) && limit > 0 {
		resp["next_after"] = msgs[len(msgs)-1].ID
	}
	return c.JSON(resp)
}

func (s *Server) findContact(c *fiber.Ctx) error {
	waID, userID := c.Query("wa_id"), c.Query("user_id")
	if (waID == "") == (userID == "") {
		return apiError(fiber.StatusBadRequest, "bad_query", "give exactly one of wa_id or user_id")
	}
	if !plainToken(waID + userID) {
		return apiError(fiber.StatusBadRequest, "bad_query", "wa_id and user_id are 1 to 200 printable ASCII characters")
	}
	ct, err := s.store.ContactBy(c.UserContext(), waID, userID)
	if err != nil {
		return err
	}
	return c.JSON(ct)
}
