package db

import (
	"context"
	"time"

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
