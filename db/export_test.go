package db

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/event"
)

// ErrIdentityRace lets tests name the race of two transactions over a
// contact's identities.
var ErrIdentityRace = errIdentityRace

// ApplyOneByOne applies events as Apply does, but never through the bulk
// fast path: every event on its own, in order.
func (s *Store) ApplyOneByOne(ctx context.Context, events []event.Envelope, now time.Time) error {
	_, err := s.applyOutcomes(ctx, events, now, true)
	return err
}

// ExplainClaim explains (analyzed, as JSON) the statement ClaimOutbox
// runs, in the session ClaimOutbox sets up unless bare, and rolls it back.
func (s *Store) ExplainClaim(ctx context.Context, bare bool, limit int, now time.Time) (string, error) {
	setup := claimSession
	if bare {
		setup = nil
	}
	return s.explain(ctx, setup, sqlClaimOutbox, now, limit, now.Add(time.Minute), "{}")
}

// ExplainSettle explains (analyzed, as JSON) the statement that settles
// the statuses of wamids, and rolls it back.
func (s *Store) ExplainSettle(ctx context.Context, wamids []string) (string, error) {
	return s.explain(ctx, nil, sqlSettleStatuses, pq.Array(wamids))
}

// explain runs EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of query in a
// transaction set up by setup (when not nil) and rolled back.
func (s *Store) explain(ctx context.Context, setup func(context.Context, *sqlx.Tx) error, query string, args ...any) (string, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if setup != nil {
		if err := setup(ctx, tx); err != nil {
			return "", err
		}
	}
	var plan string
	err = tx.QueryRowContext(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+query, args...).Scan(&plan)
	return plan, err
}
