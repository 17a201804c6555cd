package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Warm opens up to n connections of the pool at once (no more than its
// maximum, if it has one) and has each plan a read of every table of the
// schema, then gives them back to the pool, where they stay idle. A new Postgres
// backend spends its first statements loading the catalog entries of the
// tables and indexes they touch; without this, the first burst after a
// start is served by backends opened during it, each slow at first
// (scenario 1's first second stored messages at a p50 of 75 to 111 ms,
// against 35 to 50 ms later in the run). It is best effort: it
// stops at the first connection Postgres refuses, and returns how many it
// warmed with the error that stopped it, if any. Call it after Migrate.
func Warm(ctx context.Context, conn *sqlx.DB, n int) (int, error) {
	if limit := conn.Stats().MaxOpenConnections; limit > 0 { // 0: unlimited
		n = min(n, limit)
	}
	if n <= 0 {
		n = 1
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var q string
	if err := conn.GetContext(ctx, &q, sqlWarmQuery); err != nil {
		return 0, fmt.Errorf("warm: %w", err)
	}
	held := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range n {
		c, err := conn.Conn(ctx)
		if err != nil {
			return len(held), fmt.Errorf("warm: %w", err)
		}
		held = append(held, c)
		if _, err := c.ExecContext(ctx, q); err != nil {
			return len(held), fmt.Errorf("warm: %w", err)
		}
	}
	return len(held), nil
}

// sqlWarmQuery builds the statement Warm runs on each connection: an
// empty read of every table of the schema, each planned on its own.
const sqlWarmQuery = `SELECT COALESCE(string_agg(format('(SELECT 1 FROM %I.%I LIMIT 0)', schemaname, tablename), ' UNION ALL '), 'SELECT 1')
	FROM pg_tables WHERE schemaname = current_schema()`

// IdleTimeout is how long a connection of the pool Open returns may stay
// idle before the pool closes it.
const IdleTimeout = 5 * time.Minute

// KeepWarm runs Warm every interval until ctx ends, for as many of the n
// connections as are not in use at that moment, so that a quiet spell
// longer than the pool's idle timeout closes only the connections beyond
// n: without it, such a spell closes every connection Warm opened, and
// the first burst after it is served by new backends, each slow at first
// (Warm). The pool hands out the connection idle the shortest time first,
// so the ones Warm holds are the ones kept. Failures are left to the next
// round: a Postgres that is away is reported by the statements that need
// it.
func KeepWarm(ctx context.Context, conn *sqlx.DB, n int, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if idle := n - conn.Stats().InUse; idle > 0 {
			// not cut off by ctx: a statement cancelled midway costs
			// its connection
			Warm(context.WithoutCancel(ctx), conn, idle)
		}
	}
}
