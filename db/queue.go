package db

import (
	"context"
	"database/sql"
	"time"
)

// QueueStats is the queue of open conversations waiting for an eligible
// agent: how many, and when the one waiting longest was queued (zero when
// none waits).
type QueueStats struct {
	Length int
	Oldest time.Time
}

// QueueStats counts the queued open conversations (the partial index
// conversations_queue answers it).
func (s *Store) QueueStats(ctx context.Context) (QueueStats, error) {
	const q = `SELECT count(*), min(queued_at) FROM conversations WHERE queued_at IS NOT NULL AND status = 'open'`
	var out QueueStats
	var oldest sql.NullTime
	if err := s.db.QueryRowContext(ctx, q).Scan(&out.Length, &oldest); err != nil {
		return out, err
	}
	if oldest.Valid {
		out.Oldest = oldest.Time
	}
	return out, nil
}
