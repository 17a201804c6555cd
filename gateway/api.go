package gateway

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/wagw/wagw/assigner"
)

// Reader is what the read handlers need: conversations (with the last
// take of the thread), their messages and decisions, contacts.
type Reader interface {
	ListConversations(ctx context.Context, f assigner.ConversationFilter) ([]assigner.ConversationView, error)
	Conversation(ctx context.Context, id int64) (assigner.ConversationView, error)
	Messages(ctx context.Context, conversationID, afterID int64, limit int) ([]assigner.MessageView, error)
	Decisions(ctx context.Context, conversationID int64) ([]assigner.DecisionView, error)
	Contact(ctx context.Context, id int64) (assigner.ContactView, error)
	LastTake(ctx context.Context, contactID, conversationID int64) (*assigner.TakeView, error)
	ContactBy(ctx context.Context, waID, userID string) (assigner.ContactView, error)
}

// TokenStore is what authentication and visibility need: an agent by the
// sha256 of its bearer token, and the teams an agent is a member of.
type TokenStore interface {
	AgentByTokenHash(ctx context.Context, hash []byte) (assigner.Agent, error)
	ViewerTeams(ctx context.Context, agentID int64) ([]assigner.TeamAccess, error)
}

// principal is who is calling the API: the bootstrap admin token (Admin,
// no agent) or an agent with their role (Admin when the role is admin).
type principal struct {
	Admin   bool
	AgentID int64
	Role    assigner.Role
}

// auth accepts the admin token or an agent's token as a bearer token.
func (s *Server) auth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return apiError(fiber.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <token>")
	}
	if s.isAdminToken(tok) {
		c.Locals("principal", principal{Admin: true, Role: assigner.RoleAdmin})
		return c.Next()
	}
	p, err := s.agentPrincipal(c, tok)
	if err != nil {
		return err
	}
	c.Locals("principal", p)
	return c.Next()
}

// agentPrincipal resolves an agent's bearer token (stored as its sha256).
// A token not seen valid lately is looked up only within the budget of
// tokenGate; past it, 429 with Retry-After.
func (s *Server) agentPrincipal(c *fiber.Ctx, tok string) (principal, error) {
	h := sha256.Sum256([]byte(tok))
	admitted, charged := s.gate.admit(h)
	if !admitted {
		c.Set(fiber.HeaderRetryAfter, "1")
		return principal{}, apiError(fiber.StatusTooManyRequests, "too_many_unknown_tokens",
			"too many requests with unknown bearer tokens; retry later")
	}
	a, err := s.tokens.AgentByTokenHash(c.UserContext(), h[:])
	if errors.Is(err, assigner.ErrNotFound) {
		s.gate.invalid(h)
		return principal{}, apiError(fiber.StatusUnauthorized, "unauthorized", "unknown token")
	}
	if err != nil {
		return principal{}, err
	}
	if !a.Active {
		s.gate.invalid(h)
		return principal{}, apiError(fiber.StatusForbidden, "agent_deactivated", "this agent is deactivated")
	}
	s.gate.valid(h, charged)
	return principal{Admin: a.Role == assigner.RoleAdmin, AgentID: a.ID, Role: a.Role}, nil
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
	v1.Get("/contacts/:id", s.getContact)
	v1.Get("/conversations/:id/decisions", s.listDecisions)
	v1.Get("/events", s.events)
	v1.Get("/directory", s.directory)
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
		if max == 0 {
			return 0, apiError(fiber.StatusBadRequest, "bad_query", name+" must be an integer of 0 or more")
		}
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
	before, err := queryInt(c, "before", 0, 0)
	if err != nil {
		return err
	}
	f.Limit, f.AfterID, f.BeforeID = int(limit), after, before
	switch c.Query("order") {
	case "", "oldest":
	case "newest":
		f.Newest = true
	default:
		return apiError(fiber.StatusBadRequest, "bad_query", "order must be oldest or newest")
	}
	if (after > 0 && f.Newest) || (before > 0 && !f.Newest) {
		return apiError(fiber.StatusBadRequest, "bad_query", "after pages order=oldest, before pages order=newest")
	}
	if f.Inbox = c.Query("inbox"); f.Inbox != "" && (len(f.Inbox) > 64 || !plainToken(f.Inbox)) {
		return apiError(fiber.StatusBadRequest, "bad_query", "inbox is a phone_number_id: 1 to 64 printable characters")
	}
	for _, q := range []struct {
		name string
		dst  **int64
		max  int64
	}{{"team_id", &f.TeamID, maxRefID}, {"assignee", &f.AssigneeID, maxRefID}, {"contact_id", &f.ContactID, math.MaxInt64}} {
		if c.Query(q.name) != "" {
			v, err := strconv.ParseInt(c.Query(q.name), 10, 64)
			if err != nil || v < 1 || v > q.max {
				return apiError(fiber.StatusBadRequest, "bad_id", fmt.Sprintf("%s must be an integer from 1 to %d", q.name, q.max))
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
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	f.Scope = v.Scope()
	list, err := s.reads.ListConversations(c.UserContext(), f)
	if err != nil {
		return err
	}
	resp := fiber.Map{"conversations": list}
	if len(list) == f.Limit && f.Limit > 0 {
		if f.Newest {
			resp["next_before"] = list[len(list)-1].ID
		} else {
			resp["next_after"] = list[len(list)-1].ID
		}
	}
	return c.JSON(resp)
}

func (s *Server) getConversation(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	conv, err := s.visibleConversation(c, id)
	if err != nil {
		return err
	}
	if conv.LastTake, err = s.reads.LastTake(c.UserContext(), conv.ContactID, id); err != nil {
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
	if _, err := s.visibleConversation(c, id); err != nil {
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
	msgs, err := s.reads.Messages(c.UserContext(), id, after, int(limit))
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
	ct, err := s.reads.ContactBy(c.UserContext(), waID, userID)
	if err != nil {
		return err
	}
	if err := s.visibleContact(c, ct.ID); err != nil {
		return err
	}
	return c.JSON(ct)
}

func (s *Server) getContact(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ct, err := s.reads.Contact(c.UserContext(), id)
	if err != nil {
		return err
	}
	if err := s.visibleContact(c, ct.ID); err != nil {
		return err
	}
	return c.JSON(ct)
}

func (s *Server) listDecisions(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.visibleConversation(c, id); err != nil {
		return err
	}
	ds, err := s.reads.Decisions(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"decisions": ds})
}
