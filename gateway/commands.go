package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// CommandStore is what the command handlers need: the partition key of
// what a command names, idempotency keys, and the command's result.
type CommandStore interface {
	ConversationContactKey(ctx context.Context, conversationID int64) (string, error)
	ContactKey(ctx context.Context, contactID int64) (string, error)
	CommandResult(ctx context.Context, commandID string) (assigner.CommandResult, error)
	ClaimIdempotencyKey(ctx context.Context, caller, key string, requestHash []byte, commandID string) (existing string, same bool, err error)
}

func (s *Server) writeRoutes(v1 fiber.Router) {
	v1.Post("/conversations/:id/assignees", s.assign)
	v1.Delete("/conversations/:id/assignees/:agent_id", s.unassign)
	v1.Post("/conversations/:id/claim", s.claim)
	v1.Post("/conversations/:id/resolve", s.resolve)
	v1.Post("/conversations/:id/snooze", s.snooze)
	v1.Post("/conversations/:id/messages", s.reply)
	v1.Post("/conversations/:id/read", s.markRead)
	v1.Post("/conversations/:id/take", s.take)
	v1.Get("/commands/:id", s.getCommand)
	v1.Put("/contacts/:id/owners", s.setOwners)
	v1.Post("/contacts/:id/release", s.release)
}

func requireAdmin(c *fiber.Ctx) error {
	if !who(c).Admin {
		return apiError(fiber.StatusForbidden, "forbidden", "this needs an admin token")
	}
	return nil
}

// requireSupervisor lets admins and supervisors through.
func requireSupervisor(c *fiber.Ctx) error {
	if p := who(c); !p.Admin && p.Role != assigner.RoleSupervisor {
		return apiError(fiber.StatusForbidden, "forbidden", "this needs an admin or a supervisor")
	}
	return nil
}

// submit produces a command on the contact's partition and waits a bounded
// time for the consumer's result: the result's status and body, or 202
// with where to poll.
func (s *Server) submit(c *fiber.Ctx, key string, p event.Payload) error {
	env, err := event.NewCommand(event.NewCommandID(), key, p, s.cfg.Now())
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	id, raw := env.ID, env.Command.Data
	if idem := c.Get("Idempotency-Key"); idem != "" {
		if !plainToken(idem) {
			return apiError(fiber.StatusBadRequest, "bad_idempotency_key", "Idempotency-Key must be 1 to 200 printable ASCII characters")
		}
		p := who(c)
		caller := "admin"
		if p.AgentID != 0 {
			caller = "agent:" + strconv.FormatInt(p.AgentID, 10)
		}
		h := sha256.Sum256(append([]byte(c.Method()+" "+c.Path()+"\n"), raw...))
		existing, same, err := s.commands.ClaimIdempotencyKey(ctx, caller, idem, h[:], id)
		if err != nil {
			return err
		}
		if existing != "" {
			if !same {
				return apiError(fiber.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
			}
			c.Set("Idempotent-Replayed", "true")
			// The key keeps its command even when the write failed: a
			// write that failed may still have landed. Without a result
			// the command is written again under its id, which the
			// consumer applies once.
			if _, rerr := s.commands.CommandResult(ctx, existing); !errors.Is(rerr, assigner.ErrNotFound) {
				if rerr != nil {
					return rerr
				}
				return s.await(c, existing)
			}
			env.ID, id = existing, existing
		}
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	err = s.pub.Publish(pctx, []event.Envelope{env})
	cancel()
	if err != nil {
		s.reqLog(c).Error("kafka write failed for a command", "event", id, "err", err)
		return apiError(fiber.StatusServiceUnavailable, "kafka_unavailable", "could not queue the command; retry later")
	}
	return s.await(c, id)
}

// await answers with a command's result once the consumer stored it, or
// 202 when CommandWait runs out.
func (s *Server) await(c *fiber.Ctx, id string) error {
	deadline := time.Now().Add(s.cfg.CommandWait)
	for delay := 2 * time.Millisecond; ; delay = min(delay*2, 50*time.Millisecond) {
		r, err := s.commands.CommandResult(c.UserContext(), id)
		if err == nil {
			c.Set("X-Command-Id", id)
			return writeResult(c, r)
		}
		if !errors.Is(err, assigner.ErrNotFound) {
			return err
		}
		if time.Now().After(deadline) {
			poll := "/v1/commands/" + id
			c.Set(fiber.HeaderLocation, poll)
			return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"command_id": id, "status": "pending", "poll": poll})
		}
		time.Sleep(delay)
	}
}

func (s *Server) getCommand(c *fiber.Ctx) error {
	id := c.Params("id")
	if !plainToken(id) {
		return apiError(fiber.StatusBadRequest, "bad_id", "a command id is 1 to 200 printable ASCII characters")
	}
	r, err := s.commands.CommandResult(c.UserContext(), id)
	if errors.Is(err, assigner.ErrNotFound) {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"command_id": id, "status": "pending", "poll": "/v1/commands/" + id})
	}
	if err != nil {
		return err
	}
	if err := s.visibleResult(c, r); err != nil {
		return err
	}
	status, result := statusOfOutcome(r.Kind), any(r.Value)
	if r.Err != nil {
		status, result = errorResult(r.Err)
	}
	return c.JSON(fiber.Map{"command_id": id, "status": "done", "http_status": status, "result": result})
}

// writeResult answers with a command's result: the outcome with its
// kind's status, or the error with its code's.
func writeResult(c *fiber.Ctx, r assigner.CommandResult) error {
	if r.Err != nil {
		status, body := errorResult(r.Err)
		return c.Status(status).JSON(body)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(statusOfOutcome(r.Kind)).Send(r.Value)
}

// conversationKey parses :id, checks that the caller may act on the
// conversation (404 when not) and finds the contact's partition key.
func (s *Server) conversationKey(c *fiber.Ctx) (int64, string, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return 0, "", err
	}
	if _, err := s.visibleConversation(c, id); err != nil {
		return 0, "", err
	}
	key, err := s.commands.ConversationContactKey(c.UserContext(), id)
	return id, key, err
}

func (s *Server) actor(c *fiber.Ctx) assigner.Actor {
	p := who(c)
	return assigner.Actor{AgentID: p.AgentID, Admin: p.Admin}
}

func (s *Server) assign(c *fiber.Ctx) error {
	var req struct {
		TeamID   *int64        `json:"team_id"`
		AgentIDs []int64       `json:"agent_ids"`
		Mode     assigner.Mode `json:"mode"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Mode != "" && req.Mode != assigner.ModeAdd && req.Mode != assigner.ModeReplace {
		return apiError(fiber.StatusBadRequest, "bad_mode", "mode must be add or replace")
	}
	if req.TeamID == nil && len(req.AgentIDs) == 0 {
		return apiError(fiber.StatusBadRequest, "nothing_to_assign", "give team_id and/or agent_ids")
	}
	if err := checkOptRef("team_id", req.TeamID); err != nil {
		return err
	}
	if err := checkRefs("agent_ids", req.AgentIDs); err != nil {
		return err
	}
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.AssignCommand{ConversationID: id, TeamID: req.TeamID,
		AgentIDs: req.AgentIDs, Mode: req.Mode, By: s.actor(c)})
}

func (s *Server) unassign(c *fiber.Ctx) error {
	agentID, err := refParam(c, "agent_id")
	if err != nil {
		return err
	}
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.UnassignCommand{ConversationID: id, AgentID: agentID, By: s.actor(c)})
}

func (s *Server) claim(c *fiber.Ctx) error {
	var req struct {
		AgentID int64 `json:"agent_id"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.AgentID != 0 {
		if err := checkRef("agent_id", req.AgentID); err != nil {
			return err
		}
	}
	p := who(c)
	switch {
	case req.AgentID == 0 && p.AgentID == 0:
		return apiError(fiber.StatusBadRequest, "agent_required", "claim with an agent's token, or give agent_id as an admin")
	case req.AgentID == 0:
		req.AgentID = p.AgentID
	case req.AgentID != p.AgentID && !p.Admin:
		return apiError(fiber.StatusForbidden, "forbidden", "an agent can claim only for themselves")
	}
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.ClaimCommand{ConversationID: id, AgentID: req.AgentID})
}

func (s *Server) resolve(c *fiber.Ctx) error {
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.ResolveCommand{ConversationID: id, By: s.actor(c)})
}

// snooze snoozes a conversation until an RFC 3339 time in the future, or
// until the contact writes.
func (s *Server) snooze(c *fiber.Ctx) error {
	var req struct {
		Until string `json:"until"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	until, err := time.Parse(time.RFC3339Nano, req.Until)
	// A time whose UTC year is past 9999 (a large negative offset on the
	// last day) cannot be encoded in the command.
	if err != nil || until.UTC().Year() > 9999 {
		return apiError(fiber.StatusBadRequest, "bad_json", `until must be an RFC 3339 time up to 9999-12-31T23:59:59Z ("2026-03-02T09:00:00Z")`)
	}
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.SnoozeCommand{ConversationID: id, Until: until.UTC(), By: s.actor(c)})
}

func (s *Server) reply(c *fiber.Ctx) error {
	var req struct {
		Text        string          `json:"text"`
		PreviewURL  bool            `json:"preview_url"`
		Template    json.RawMessage `json:"template"`
		Interactive json.RawMessage `json:"interactive"`
		ReplyTo     int64           `json:"reply_to"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{req.Text != "", len(req.Template) > 0, len(req.Interactive) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return apiError(fiber.StatusBadRequest, "bad_message", "give exactly one of text, template or interactive")
	}
	if len(req.Text) > 4096 {
		return apiError(fiber.StatusBadRequest, "text_too_long", fmt.Sprintf("text has %d bytes; WhatsApp allows 4096", len(req.Text)))
	}
	for _, obj := range []struct {
		raw  json.RawMessage
		into any
	}{{req.Template, &whatsapp.OutboundTemplate{}}, {req.Interactive, &whatsapp.OutboundInteractive{}}} {
		if len(obj.raw) == 0 {
			continue
		}
		if !bytes.HasPrefix(bytes.TrimSpace(obj.raw), []byte("{")) {
			return apiError(fiber.StatusBadRequest, "bad_message", "template and interactive are JSON objects")
		}
		// The message is sent as the Cloud API client's types carry it: a
		// field they do not have would be dropped from what is sent.
		dec := json.NewDecoder(bytes.NewReader(obj.raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj.into); err != nil {
			return apiError(fiber.StatusBadRequest, "bad_message", "template or interactive: "+err.Error())
		}
	}
	if req.ReplyTo < 0 {
		return apiError(fiber.StatusBadRequest, "bad_id", "reply_to must be a message id (a positive integer)")
	}
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.ReplyCommand{ConversationID: id, AgentID: who(c).AgentID,
		Text: req.Text, PreviewURL: req.PreviewURL, Template: req.Template, Interactive: req.Interactive, ReplyTo: req.ReplyTo})
}

func (s *Server) markRead(c *fiber.Ctx) error {
	var req struct {
		Typing bool `json:"typing"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.MarkReadCommand{ConversationID: id, Typing: req.Typing})
}

// take asks for the contact's thread back from the responder that owns
// it (Conversation Routing); 202 while Meta's answer is pending.
func (s *Server) take(c *fiber.Ctx) error {
	id, key, err := s.conversationKey(c)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.TakeCommand{ConversationID: id, By: s.actor(c)})
}

func (s *Server) setOwners(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var req struct {
		AgentIDs []int64 `json:"agent_ids"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.AgentIDs == nil {
		return apiError(fiber.StatusBadRequest, "bad_json", "agent_ids is required (use [] to clear)")
	}
	if err := checkRefs("agent_ids", req.AgentIDs); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	key, err := s.commands.ContactKey(c.UserContext(), id)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.SetOwnersCommand{ContactID: id, AgentIDs: req.AgentIDs, By: s.actor(c)})
}

func (s *Server) release(c *fiber.Ctx) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var req struct {
		Discard bool `json:"discard"` // delete the held events instead of applying them
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	key, err := s.commands.ContactKey(c.UserContext(), id)
	if err != nil {
		return err
	}
	return s.submit(c, key, event.ReleaseCommand{ContactID: id, Discard: req.Discard})
}
