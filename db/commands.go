package db

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/wagw/wagw/assigner"
)

const sqlConversationKey = `SELECT ct.key FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = $1`

// ConversationContactKey returns the partition key of a conversation's contact.
func (s *Store) ConversationContactKey(ctx context.Context, conversationID int64) (string, error) {
	var key string
	err := s.db.GetContext(ctx, &key, sqlConversationKey, conversationID)
	return key, mapErr(err)
}

// ContactKey returns the partition key of a contact.
func (s *Store) ContactKey(ctx context.Context, contactID int64) (string, error) {
	var key string
	err := s.db.GetContext(ctx, &key, `SELECT key FROM contacts WHERE id = $1`, contactID)
	return key, mapErr(err)
}

const sqlCommandResult = `SELECT COALESCE(kind, ''), value, error_code, COALESCE(error_message, ''),
	COALESCE(conversation_id, 0), COALESCE(contact_id, 0), COALESCE(issued_by, 0)
	FROM command_results WHERE command_id = $1`

// CommandResult returns what became of a command: its outcome, or the
// domain error that refused it; ErrNotFound while it is pending.
func (s *Store) CommandResult(ctx context.Context, commandID string) (assigner.CommandResult, error) {
	r := assigner.CommandResult{CommandID: commandID}
	var kind, message string
	var value []byte
	var code *string
	err := s.db.QueryRowContext(ctx, sqlCommandResult, commandID).Scan(&kind, &value, &code, &message, &r.ConversationID, &r.ContactID, &r.IssuedBy)
	if err != nil {
		return r, mapErr(err)
	}
	if code != nil {
		r.Err = assigner.NewError(assigner.ErrorCode(*code), message)
		return r, nil
	}
	r.Kind, r.Value = assigner.OutcomeKind(kind), json.RawMessage(value)
	return r, nil
}

// ClaimIdempotencyKey binds (caller, key) to commandID. When the key was
// used before it returns the earlier command id and whether the request
// was the same.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, caller, key string, requestHash []byte, commandID string) (existing string, sameRequest bool, err error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (caller, key, request_hash, command_id)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, caller, key, requestHash, commandID)
	if err != nil {
		return "", false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return "", true, nil
	}
	var hash []byte
	err = s.db.QueryRowContext(ctx, `SELECT command_id, request_hash FROM idempotency_keys WHERE caller = $1 AND key = $2`,
		caller, key).Scan(&existing, &hash)
	if err != nil {
		return "", false, mapErr(err)
	}
	return existing, string(hash) == string(requestHash), nil
}

// Decisions lists a conversation's decisions, oldest first.
func (s *Store) Decisions(ctx context.Context, conversationID int64) ([]assigner.DecisionView, error) {
	if _, err := s.ConversationContactKey(ctx, conversationID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, event_id, rule, summary, decision, created_at
		FROM decisions WHERE conversation_id = $1 ORDER BY id`, conversationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []assigner.DecisionView{}
	for rows.Next() {
		var v assigner.DecisionView
		var raw []byte
		if err := rows.Scan(&v.ID, &v.EventID, &v.Rule, &v.Summary, &raw, &v.CreatedAt); err != nil {
			return nil, err
		}
		var d assigner.Decision
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, errors.New("decision log row is not a decision")
		}
		v.Reasons, v.Warnings, v.Assignees, v.TeamID, v.Queued = d.Reasons, d.Warnings, d.Assignees, d.TeamID, d.Queued
		v.SLABreach = d.SLABreach
		out = append(out, v)
	}
	return out, rows.Err()
}
