package db

import (
	"context"
	"log/slog"
	"time"
)

// Retention. The rows that deduplicate commands and notices, the command
// results API callers poll for, and the Idempotency-Keys of API writes are
// needed for a window: longer than Meta's 7 days of webhook retries and
// than the events topic keeps a record. After it they are deleted in small
// batches in the background. Messages, statuses, conversations and
// decisions are kept. Held events of a blocked contact are kept until it
// is released or they are discarded; held events whose replay failed are
// kept for the window after they failed.

// DefaultRetention is the retention window when none is configured.
const DefaultRetention = 14 * 24 * time.Hour

// Each statement deletes at most $2 rows older than $1.
const (
	sqlPruneProcessed = `DELETE FROM processed_events WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM processed_events WHERE processed_at < $1 LIMIT $2))`
	sqlPruneResults = `DELETE FROM command_results WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM command_results WHERE created_at < $1 LIMIT $2))`
	sqlPruneIdempotency = `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT $2))`
	sqlPruneNotices = `DELETE FROM notices WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM notices WHERE received_at < $1 LIMIT $2))`
	sqlPruneFailedHeld = `DELETE FROM held_events WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM held_events WHERE failed_at < $1 LIMIT $2))`
)

var pruneStatements = []struct{ table, query string }{
	{"processed_events", sqlPruneProcessed},
	{"command_results", sqlPruneResults},
	{"idempotency_keys", sqlPruneIdempotency},
	{"notices", sqlPruneNotices},
	{"held_events", sqlPruneFailedHeld},
}

// Prune deletes, from each table kept for the retention window, at most
// batch rows older than before, each table in its own short statement. It
// returns how many rows it deleted per table.
func (s *Store) Prune(ctx context.Context, before time.Time, batch int) (map[string]int64, error) {
	out := make(map[string]int64, len(pruneStatements))
	for _, p := range pruneStatements {
		res, err := s.db.ExecContext(ctx, p.query, before, batch)
		if err != nil {
			return out, err
		}
		out[p.table], _ = res.RowsAffected()
	}
	return out, nil
}

// RetentionConfig configures RunRetention.
type RetentionConfig struct {
	// Window: rows older than this are deleted. Default DefaultRetention.
	Window time.Duration
	// Batch: rows per table deleted by one statement. Default 1000.
	Batch int
	// Interval between sweeps. Default 10 min.
	Interval time.Duration
	// Pause between the batches of one sweep. Default 100 ms.
	Pause time.Duration
	// Logger. Required.
	Logger *slog.Logger
	Now    func() time.Time
}

func (c RetentionConfig) withDefaults() RetentionConfig {
	if c.Window <= 0 {
		c.Window = DefaultRetention
	}
	if c.Batch <= 0 {
		c.Batch = 1000
	}
	if c.Interval <= 0 {
		c.Interval = 10 * time.Minute
	}
	if c.Pause <= 0 {
		c.Pause = 100 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// RunRetention prunes until ctx ends: a sweep at once and then every
// Interval, each sweep a series of bounded batches until nothing older
// than the window is left. It logs a sweep that deleted rows, and a
// failure once until pruning works again.
func (s *Store) RunRetention(ctx context.Context, cfg RetentionConfig) {
	cfg = cfg.withDefaults()
	failing := false
	for {
		deleted, err := s.sweep(ctx, cfg)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			cfg.Logger.Warn("retention: pruning old rows failed; will retry", "err", err)
			failing = true
		case err == nil && failing:
			cfg.Logger.Info("retention: pruning old rows works again")
			failing = false
		}
		if len(deleted) > 0 {
			args := []any{"window", cfg.Window}
			for table, n := range deleted {
				args = append(args, table, n)
			}
			cfg.Logger.Info("retention: deleted rows older than the window", args...)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Interval):
		}
	}
}

// sweep prunes batch after batch until a batch deletes fewer rows than
// the batch size from every table.
func (s *Store) sweep(ctx context.Context, cfg RetentionConfig) (map[string]int64, error) {
	total := map[string]int64{}
	for {
		n, err := s.Prune(ctx, cfg.Now().Add(-cfg.Window), cfg.Batch)
		full := false
		for table, d := range n {
			if d > 0 {
				total[table] += d
			}
			full = full || d >= int64(cfg.Batch)
		}
		if err != nil || !full {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(cfg.Pause):
		}
	}
}
