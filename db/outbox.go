package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

// ClaimOutbox leases up to limit sendable rows for lease: pending, due, not
// leased by another relay, not on a paused number, and the oldest pending
// row of their contact (so a contact's second message never goes before
// its first is accepted or failed for good) whose earlier rows' outcomes
// are all published (so that the contact's partition sees the outcomes in
// send order, whatever relay sends them, even when a publish fails for a
// while). FOR UPDATE SKIP LOCKED lets several relays claim at once without
// taking the same row.
func (s *Store) ClaimOutbox(ctx context.Context, limit int, lease time.Duration, paused []string, now time.Time) ([]assigner.OutboxItem, error) {
	if paused == nil {
		paused = []string{}
	}
	// The candidates must be read in (next_attempt_at, id) order from the
	// outbox_pending index, stopping once limit rows qualified. Postgres
	// otherwise takes every due row (a bitmap scan), checks each one's
	// earlier rows and sorts them all, whenever its statistics say few
	// rows are pending: a claim then costs in proportion to the backlog
	// (a burst of welcome messages behind a number's rate limit, 1,600 due
	// rows at 1,000 webhooks/s: 13 ms a claim on average; EXPLAIN ANALYZE
	// in that state: finding the candidates took 55 ms, 3.4 ms with the
	// ordered scan).
	var rows []assigner.OutboxItem
	if err := s.inTx(ctx, sqlClaimSession, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &rows, sqlClaimOutbox, now, limit, now.Add(lease), pq.Array(paused))
	}); err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return rows, nil
}

// sqlClaimSession makes the claim's transaction read candidates in index
// order (see ClaimOutbox).
const sqlClaimSession = `SET LOCAL enable_sort = off`

// inTx runs fn in one transaction, after the SET LOCAL statement set.
func (s *Store) inTx(ctx context.Context, set string, fn func(*sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, set); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// sqlClaimOutbox leases the rows ClaimOutbox takes. The ids go in an
// array, so that the rows are found by id: with o.id IN (…) Postgres
// hashed the claimed ids and read the whole outbox to find them (a seq
// scan of every row ever sent, each claim).
const sqlClaimOutbox = `UPDATE outbox o SET lease_until = $3, attempts = o.attempts + 1
	WHERE o.id = ANY(ARRAY(
		SELECT c.id FROM outbox c
		WHERE c.state = 'pending' AND c.next_attempt_at <= $1
		  AND (c.lease_until IS NULL OR c.lease_until < $1)
		  AND NOT (c.phone_number_id = ANY($4))
		  AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.contact_id = c.contact_id AND p.state = 'pending' AND p.id < c.id)
		  AND NOT EXISTS (SELECT 1 FROM outbox u WHERE u.contact_id = c.contact_id AND u.state <> 'pending' AND NOT u.reported
			AND u.id < c.id)
		ORDER BY c.next_attempt_at, c.id
		LIMIT $2
		FOR UPDATE SKIP LOCKED))
	RETURNING o.id, o.contact_key, o.conversation_id, o.message_id, o.phone_number_id, o.recipient, o.kind,
		o.agent_id, o.payload, o.attempts, o.wamid`

// OutboxSent records the wamids the Cloud API returned, for every row of
// sent in one statement (the relay gathers the sends that finish while
// its previous record is being written: one commit, one WAL flush, for all
// of them).
func (s *Store) OutboxSent(ctx context.Context, sent []assigner.OutboxSend) error {
	if len(sent) == 0 {
		return nil
	}
	ids, wamids, ats := make([]int64, len(sent)), make([]string, len(sent)), make([]string, len(sent))
	for i, r := range sent {
		ids[i], wamids[i], ats[i] = r.ID, r.WAMID, r.SentAt.UTC().Format(time.RFC3339Nano)
	}
	// The lease stays until the outcome is published (OutboxReported), so
	// that another loop does not publish it too.
	_, err := s.db.ExecContext(ctx, sqlOutboxSent, pq.Array(ids), pq.Array(wamids), pq.Array(ats))
	return err
}

// sqlOutboxSent: the rows are leased to the relay that writes them (a
// claim skips rows another transaction holds), so two relays' records
// touch different rows and cannot wait for each other.
const sqlOutboxSent = `UPDATE outbox o SET state = 'sent', wamid = u.w, sent_at = u.t::timestamptz, error_code = NULL, error_message = ''
	FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, w, t)
	WHERE o.id = u.id`

// OutboxFailed records a permanent failure.
func (s *Store) OutboxFailed(ctx context.Context, id int64, code int, msg string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET state = 'failed', error_code = $2, error_message = $3
		WHERE id = $1`, id, code, msg)
	return err
}

// OutboxRetry puts a row back for a later attempt. countAttempt=false
// gives the attempt back (the send was never tried: breaker open, paused).
func (s *Store) OutboxRetry(ctx context.Context, id int64, at time.Time, code int, msg string, countAttempt bool) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = $2, lease_until = NULL,
		error_code = NULLIF($3, 0), error_message = $4,
		attempts = CASE WHEN $5 THEN attempts ELSE GREATEST(0, attempts - 1) END WHERE id = $1`, id, at, code, msg, countAttempt)
	return err
}

// OutboxReported marks that the rows' outcomes are on their contacts'
// partitions. Its commit does not wait for the disk (synchronous_commit
// off, this transaction only): losing it in a crash only publishes the
// outcome again once the lease ends, which the consumer applies once (its
// id is the row's), and a later commit that waited (the contact's next
// claim) makes it durable first, since the log is written in order. One
// fsync less per message sent, on the disk the embedded broker syncs to.
func (s *Store) OutboxReported(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, sqlOutboxReported, pq.Array(ids))
	return err
}

// sqlOutboxReported is one statement, one round trip (an explicit
// transaction with SET LOCAL took four): set_config's third argument
// keeps the setting to the statement's own transaction, and the commit
// reads it. It is evaluated on the rows found by id, before they are
// changed; no row found, nothing is written.
const sqlOutboxReported = `UPDATE outbox SET reported = true, lease_until = NULL
	WHERE id = ANY($1::bigint[]) AND set_config('synchronous_commit', 'off', true) IS NOT NULL`

// OutboxUnlease gives a finished row's outcome to whichever relay loop
// publishes it next (its own publish failed).
func (s *Store) OutboxUnlease(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET lease_until = NULL WHERE id = $1`, id)
	return err
}

// OutboxRenew extends the lease of a row its relay still holds (it is
// recording the row's outcome), so that no other relay claims it.
func (s *Store) OutboxRenew(ctx context.Context, id int64, until time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE outbox SET lease_until = $2 WHERE id = $1`, id, until)
	return err
}

// OutboxUnreported lists finished rows whose outcome was not published
// while their lease ran (a relay stopped or Kafka refused the write).
func (s *Store) OutboxUnreported(ctx context.Context, limit int) ([]assigner.OutboxResult, error) {
	var rows []assigner.OutboxResult
	err := s.db.SelectContext(ctx, &rows, `SELECT id, contact_key, message_id, kind, state, COALESCE(wamid, '') AS wamid,
		COALESCE(error_code, 0) AS error_code, error_message, COALESCE(sent_at, now()) AS sent_at
		FROM outbox WHERE state <> 'pending' AND NOT reported AND (lease_until IS NULL OR lease_until < now())
		ORDER BY id LIMIT $1`, limit)
	return rows, err
}
