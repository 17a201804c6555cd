package gateway

import (
	"github.com/gofiber/fiber/v2"

	"github.com/wagw/wagw/assigner"
)

// Visibility on the API (DESIGN §6 rule 13): what a caller may see is
// decided by assigner (Viewer.Scope, Scope.Allows) and, for lists, by the
// store's filter built from the same Scope; here the caller becomes a
// Viewer, and a conversation or contact outside the caller's scope is
// answered exactly like one that does not exist (404), so ids cannot be
// probed.

// viewer is the caller as assigner.Viewer: for an agent, with the teams
// they are a member of (read once per request).
func (s *Server) viewer(c *fiber.Ctx) (assigner.Viewer, error) {
	if v, ok := c.Locals("viewer").(assigner.Viewer); ok {
		return v, nil
	}
	p := who(c)
	v := assigner.Viewer{Admin: p.Admin, AgentID: p.AgentID, Role: p.Role}
	if p.AgentID != 0 && !p.Admin {
		teams, err := s.tokens.ViewerTeams(c.UserContext(), p.AgentID)
		if err != nil {
			return v, err
		}
		v.Teams = teams
	}
	c.Locals("viewer", v)
	return v, nil
}

// visibleConversation reads the conversation if the caller may see it;
// otherwise assigner.ErrNotFound, as for an unknown id.
func (s *Server) visibleConversation(c *fiber.Ctx, id int64) (assigner.ConversationView, error) {
	conv, err := s.reads.Conversation(c.UserContext(), id)
	if err != nil {
		return conv, err
	}
	v, err := s.viewer(c)
	if err != nil {
		return conv, err
	}
	if !v.MaySeeConversation(conv.Conversation) {
		return assigner.ConversationView{}, assigner.ErrNotFound
	}
	return conv, nil
}

// visibleContact answers assigner.ErrNotFound unless the caller sees
// everything or at least one of the contact's conversations.
func (s *Server) visibleContact(c *fiber.Ctx, contactID int64) error {
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	sc := v.Scope()
	if sc.All {
		return nil
	}
	list, err := s.reads.ListConversations(c.UserContext(), assigner.ConversationFilter{Scope: sc, ContactID: &contactID, Limit: 1})
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return assigner.ErrNotFound
	}
	return nil
}

// visibleResult answers assigner.ErrNotFound unless the caller may see a
// command's result: its issuer, and whoever may see what it is about (its
// conversation, else its contact). A result about nothing known (stored
// before its subject was kept) only to callers who see everything.
func (s *Server) visibleResult(c *fiber.Ctx, r assigner.CommandResult) error {
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	switch {
	case v.Scope().All, r.IssuedBy != 0 && r.IssuedBy == v.AgentID:
		return nil
	case r.ConversationID != 0:
		_, err := s.visibleConversation(c, r.ConversationID)
		return err
	case r.ContactID != 0:
		return s.visibleContact(c, r.ContactID)
	}
	return assigner.ErrNotFound
}
