package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/event"
)

// ErrIdentityRace lets tests name the race of two transactions over a
// contact's identities.
var ErrIdentityRace = errIdentityRace

// Hold holds e for the contact contactID as the apply engine does, in a
// transaction of its own.
func (s *Store) Hold(ctx context.Context, e *event.Envelope, contactID int64) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	b := &batch{tx: tx}
	if _, err := b.hold(ctx, e, contactRow{ID: contactID, Blocked: true}); err != nil {
		return err
	}
	return tx.Commit()
}

// ApplyOneByOne applies events as Apply does, but never through the bulk
// fast path: every event on its own, in order.
func (s *Store) ApplyOneByOne(ctx context.Context, events []event.Envelope, now time.Time) error {
	_, err := s.applyOutcomes(ctx, events, now, oneByOne)
	return err
}

// ExplainClaim explains (analyzed, as JSON) the statement ClaimOutbox
// runs, in the session ClaimOutbox sets up unless bare, and rolls it back.
func (s *Store) ExplainClaim(ctx context.Context, bare bool, limit int, now time.Time) (string, error) {
	set := sqlClaimSession
	if bare {
		set = `SET LOCAL enable_sort = on`
	}
	return s.explain(ctx, set, sqlClaimOutbox, now, limit, now.Add(time.Minute), "{}")
}

// ExplainSettle explains (analyzed, as JSON) the statement that settles
// the statuses of wamids, and rolls it back.
func (s *Store) ExplainSettle(ctx context.Context, wamids []string) (string, error) {
	return s.explain(ctx, `SET LOCAL enable_sort = on`, sqlSettleStatuses, pq.Array(wamids))
}

// errRolledBack ends explain's transaction without committing it.
var errRolledBack = errors.New("rolled back")

// explain runs EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of query as inTx
// runs statements, after set, and rolls it back.
func (s *Store) explain(ctx context.Context, set, query string, args ...any) (plan string, err error) {
	err = s.inTx(ctx, set, func(tx *sqlx.Tx) error {
		if err := tx.QueryRowContext(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+query, args...).Scan(&plan); err != nil {
			return err
		}
		return errRolledBack
	})
	if errors.Is(err, errRolledBack) {
		err = nil
	}
	return plan, err
}

// ArrayParams are the apply engine's array parameters (arrays.go), for
// tests that compare them with pq.Array through Postgres.
func ArrayParams(ss []string, ns []sql.NullString, is []sql.NullInt64) (t, n, i driver.Valuer) {
	return texts(ss), nullTexts(ns), nullInt64s(is)
}

// NextSyncToken is the payload w's next Sync will send.
func NextSyncToken(w *CommitWatch) string { return w.token(w.seq.Load() + 1) }

// ExplainWroteRules explains (analyzed, as JSON) the check a batch with
// messages in existing conversations makes once (messageRules).
func (s *Store) ExplainWroteRules(ctx context.Context) (string, error) {
	return s.explain(ctx, `SET LOCAL enable_sort = on`, sqlWroteRules)
}

// InboxColumnLists are the inbox's settings columns as the admin API and
// the batch read them, and as the batch's inbox check reads them.
var InboxColumnLists = [2]string{sqlInboxCols, sqlInboxJoinedSettings}
