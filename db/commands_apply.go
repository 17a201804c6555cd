package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

const (
	sqlOutcomeInsert = `INSERT INTO command_results (command_id, conversation_id, contact_id, issued_by, kind, value)
		VALUES ($1, NULLIF($2::bigint, 0), NULLIF($3::bigint, 0), NULLIF($4::bigint, 0), $5, $6) ON CONFLICT DO NOTHING`
	sqlRefusedInsert = `INSERT INTO command_results (command_id, conversation_id, contact_id, issued_by, error_code, error_message)
		VALUES ($1, NULLIF($2::bigint, 0), NULLIF($3::bigint, 0), NULLIF($4::bigint, 0), $5, $6) ON CONFLICT DO NOTHING`
)

// applyCommand applies one command from the API or the relay and stores its
// result for the caller: its outcome, or the domain error that refused it
// (a rule it breaks, something it names that does not exist). Only other
// errors fail the batch.
func (b *batch) applyCommand(ctx context.Context, e *event.Envelope, c contactRow) (Outcome, error) {
	first, err := b.firstTime(ctx, e)
	if err != nil || !first {
		return Outcome{Duplicate: !first}, err
	}
	out, err := b.runCommand(ctx, e)
	subject := subjectOf(e, c.ID)
	if derr, ok := assigner.AsError(err); ok {
		return Outcome{}, b.storeRefused(ctx, subject, derr)
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{}, b.storeOutcome(ctx, subject, out)
}

// runCommand decodes a command and runs its handler.
func (b *batch) runCommand(ctx context.Context, e *event.Envelope) (assigner.Outcome, error) {
	cmd, err := event.DecodeCommand(e)
	if err != nil {
		return nil, err
	}
	switch c := cmd.(type) {
	case event.AssignCommand:
		return b.cmdAssign(ctx, e.ID, c)
	case event.UnassignCommand:
		return b.cmdUnassign(ctx, e.ID, c)
	case event.ClaimCommand:
		return b.cmdClaim(ctx, e.ID, c)
	case event.ResolveCommand:
		return b.cmdResolve(ctx, e.ID, c)
	case event.SetOwnersCommand:
		return b.cmdSetOwners(ctx, c)
	case event.DrainCommand:
		return b.cmdDrain(ctx, e.ID, c, c.Expire)
	case event.ReplyCommand:
		return b.cmdReply(ctx, c)
	case event.MarkReadCommand:
		return b.cmdMarkRead(ctx, c)
	case event.SendResultCommand:
		return b.cmdSendResult(ctx, e.ID, c)
	case event.ReleaseCommand:
		return b.cmdRelease(ctx, c)
	case event.TakeCommand:
		return b.cmdTake(ctx, c)
	case event.TimerCommand:
		return b.cmdTimer(ctx, e.ID, c)
	case event.SnoozeCommand:
		return b.cmdSnooze(ctx, e.ID, c)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownCommand, e.Command.Type)
}

// commandConversation locks the conversation a command names.
func (b *batch) commandConversation(ctx context.Context, id int64) (convState, error) {
	conv, err := b.lockConversation(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return conv, assigner.NotFound("conversation")
	}
	return conv, err
}

// commandAgent reads the agent a command names.
func (b *batch) commandAgent(ctx context.Context, id int64) (assigner.Agent, error) {
	agents, err := b.agents(ctx, []int64{id})
	if err != nil {
		return assigner.Agent{}, err
	}
	a, ok := agents[id]
	if !ok {
		return a, assigner.NotFound("agent")
	}
	return a, nil
}

// resultSubject is a command's id, what it is about and who issued it
// (the API shows its result only to its issuer and to callers who may see
// its subject): the conversation it names, if any, and the contact whose
// partition it was applied on (0 when unknown).
type resultSubject struct {
	command      string
	conversation int64
	contact      int64
	issuedBy     int64
}

func subjectOf(e *event.Envelope, contactID int64) resultSubject {
	conv, by := e.Command.Subject()
	return resultSubject{command: e.ID, conversation: conv, contact: contactID, issuedBy: by}
}

// storeOutcome stores what an applied command did.
func (b *batch) storeOutcome(ctx context.Context, s resultSubject, o assigner.Outcome) error {
	value, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return b.storeResult(ctx, sqlOutcomeInsert, s, string(o.Kind()), string(value))
}

// storeRefused stores why a command was refused.
func (b *batch) storeRefused(ctx context.Context, s resultSubject, e *assigner.Error) error {
	return b.storeResult(ctx, sqlRefusedInsert, s, string(e.Code), e.Message)
}

// storeResult stores a command's result with insert: one statement (the
// API polls for the result, gateway.Server.await; nothing listens for it).
func (b *batch) storeResult(ctx context.Context, insert string, s resultSubject, fields ...any) error {
	if _, err := b.tx.ExecContext(ctx, insert, append([]any{s.command, s.conversation, s.contact, s.issuedBy}, fields...)...); err != nil {
		return fmt.Errorf("command result: %w", err)
	}
	return nil
}

// decided persists d and returns the conversation as it now is.
func (b *batch) decided(ctx context.Context, eventID string, conv convState, d assigner.Decision) (assigner.Outcome, error) {
	if err := b.persist(ctx, eventID, conv, d); err != nil {
		return nil, err
	}
	after, err := b.lockConversation(ctx, conv.ID)
	if err != nil {
		return nil, err
	}
	if after.Snoozed() {
		after.Status = assigner.StatusSnoozed // as the API shows it
	}
	return assigner.NewDecided(after.Conversation, d), nil
}

func (b *batch) actorName(ctx context.Context, a assigner.Actor) string {
	if a.AgentID == 0 {
		return "an admin"
	}
	var name string
	b.tx.QueryRowContext(ctx, `SELECT name FROM agents WHERE id = $1`, a.AgentID).Scan(&name)
	return name
}

func (b *batch) cmdAssign(ctx context.Context, id string, cmd event.AssignCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	// The current assignees too, so that the reasons name whoever is kept or removed.
	load := slices.Clone(cmd.AgentIDs)
	for _, a := range conv.Assignees {
		load = append(load, a.AgentID)
	}
	agents, err := b.agents(ctx, load)
	if err != nil {
		return nil, err
	}
	teams, err := b.lockTeams(ctx, cmd.TeamID, conv.TeamID)
	if err != nil {
		return nil, err
	}
	d, err := assigner.DecideManual(assigner.ManualInput{Now: b.now, Conversation: conv.Conversation, TeamID: cmd.TeamID,
		AgentIDs: cmd.AgentIDs, Mode: cmd.Mode, Agents: agents, Teams: teams, By: b.actorName(ctx, cmd.By),
		PresenceTimeout: b.rules.PresenceTimeout})
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, d)
}

func (b *batch) cmdUnassign(ctx context.Context, id string, cmd event.UnassignCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	a, err := b.commandAgent(ctx, cmd.AgentID)
	if err != nil {
		return nil, err
	}
	d, err := assigner.DecideUnassign(conv.Conversation, a)
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, d)
}

func (b *batch) cmdClaim(ctx context.Context, id string, cmd event.ClaimCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	a, err := b.commandAgent(ctx, cmd.AgentID)
	if err != nil {
		return nil, err
	}
	teams, err := b.lockTeams(ctx, conv.TeamID)
	if err != nil {
		return nil, err
	}
	d, err := assigner.DecideClaim(assigner.ClaimInput{Now: b.now, Conversation: conv.Conversation, Agent: a, Teams: teams})
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, d)
}

func (b *batch) cmdResolve(ctx context.Context, id string, cmd event.ResolveCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, assigner.DecideResolve(conv.Conversation))
}

func (b *batch) cmdSnooze(ctx context.Context, id string, cmd event.SnoozeCommand) (assigner.Outcome, error) {
	conv, err := b.commandConversation(ctx, cmd.ConversationID)
	if err != nil {
		return nil, err
	}
	d, err := assigner.DecideSnooze(conv.Conversation, cmd.Until, b.now, b.actorName(ctx, cmd.By))
	if err != nil {
		return nil, err
	}
	return b.decided(ctx, id, conv, d)
}

const (
	sqlOwnersDelete = `DELETE FROM contact_owners WHERE contact_id = $1 AND NOT (agent_id = ANY($2))`
	sqlContactExist = `SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $1)`
)

func (b *batch) cmdSetOwners(ctx context.Context, cmd event.SetOwnersCommand) (assigner.Outcome, error) {
	var exists bool
	if err := b.tx.QueryRowContext(ctx, sqlContactExist, cmd.ContactID).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, assigner.NotFound("contact")
	}
	agents, err := b.agents(ctx, cmd.AgentIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range cmd.AgentIDs {
		if _, ok := agents[id]; !ok {
			return nil, assigner.NewError(assigner.ErrCodeUnknownAgent, fmt.Sprintf("agent %d does not exist", id))
		}
	}
	if _, err := b.tx.ExecContext(ctx, sqlOwnersDelete, cmd.ContactID, pq.Array(cmd.AgentIDs)); err != nil {
		return nil, err
	}
	for _, id := range cmd.AgentIDs {
		if _, err := b.tx.ExecContext(ctx, sqlOwnerAdd, cmd.ContactID, id, "manual"); err != nil {
			return nil, err
		}
	}
	ids := slices.Clone(cmd.AgentIDs)
	if ids == nil {
		ids = []int64{}
	}
	return assigner.OwnersSet{ContactID: cmd.ContactID, OwnerIDs: ids}, nil
}
