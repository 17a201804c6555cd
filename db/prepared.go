package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/lib/pq"
)

// maxPrepared bounds the statements one connection keeps prepared. wagw's
// statements are constants (and the API's filtered lists a few
// combinations of them), so the bound is never reached in practice; past
// it, a statement runs unnamed as the driver runs it by default.
const maxPrepared = 512

// Cached plans follow the tables: a connection discards its plans
// (DISCARD PLANS: the statements stay prepared, their next runs are
// planned again) firstReplan after it opened, then after twice as long
// each time, at most maxReplan apart. Postgres keeps a prepared
// statement's generic plan until the tables it reads are analysed; made
// when the tables were small (a fresh database) it reads a whole table
// that has grown since, for as long as nothing analyses it (autovacuum
// off or behind).
const (
	firstReplan = time.Second
	maxReplan   = time.Minute
)

// preparing wraps the driver's connector so that every connection keeps
// the statements it runs with arguments prepared, by their text. The
// driver runs such a statement unnamed, and Postgres parses and plans it
// each time. Prepared once per connection (one round trip more, once),
// each later run is bound and executed by name: Postgres skips the parse,
// and after five runs it keeps a generic plan when that costs no more
// than the custom ones (plan_cache_mode). Parameters are encoded as
// before: the driver encodes them by the types the statement's
// description gives, prepared or not.
type preparing struct{ driver.Connector }

// Prepared wraps a connector of lib/pq so that each of its connections
// keeps the statements it runs with arguments prepared (Open does so
// unless Config.Unprepared).
func Prepared(c driver.Connector) driver.Connector { return preparing{c} }

func (p preparing) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := p.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newPreparedConn(c)
}

// preparedConn is one connection with its prepared statements. What it
// does not override goes to the driver's connection, whose interfaces
// that database/sql relies on are checked when it is made.
type preparedConn struct {
	DriverConn
	stmts   map[string]driver.Stmt
	discard bool // a statement went stale: the pool drops this connection
	// replanAt is when the connection discards its cached plans next,
	// replanEvery the wait after that one.
	replanAt    time.Time
	replanEvery time.Duration
}

// DriverConn is what lib/pq's connection implements and database/sql
// uses: what a wrapper of the connection (the statement cache here, the
// tests' counting driver) forwards.
type DriverConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.ConnBeginTx
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

func newPreparedConn(c driver.Conn) (driver.Conn, error) {
	d, ok := c.(DriverConn)
	if !ok {
		c.Close()
		return nil, errors.New("postgres driver: a connection lacks the interfaces the statement cache forwards")
	}
	return &preparedConn{DriverConn: d, stmts: map[string]driver.Stmt{},
		replanAt: time.Now().Add(firstReplan), replanEvery: 2 * firstReplan}, nil
}

// named is query's prepared statement on this connection, prepared now
// if it is new; nil to run it unnamed: without arguments (the simple
// protocol, one round trip already), or when the connection holds
// maxPrepared statements.
func (c *preparedConn) named(ctx context.Context, query string, args []driver.NamedValue) (driver.Stmt, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	if len(c.stmts) >= maxPrepared {
		return nil, nil
	}
	st, err := c.DriverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

func (c *preparedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.named(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.DriverConn.QueryContext(ctx, query, args)
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	c.stale(err)
	return rows, err
}

func (c *preparedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.named(ctx, query, args)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.DriverConn.ExecContext(ctx, query, args)
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
	c.stale(err)
	return res, err
}

// stale marks the connection for the pool to drop when Postgres says a
// prepared statement no longer holds: its result's shape changed under
// it (a migration of another process; 0A000 "cached plan must not change
// result type") or it is gone (26000, a pooler's DISCARD ALL). The error
// is transient (IsTransient), so the caller's retry prepares it afresh on
// another connection.
func (c *preparedConn) stale(err error) {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && (pqErr.Code == "0A000" || pqErr.Code == "26000") {
		c.discard = true
	}
}

// ResetSession runs between two uses of the connection, outside any
// transaction: there it discards the cached plans when their time came.
func (c *preparedConn) ResetSession(ctx context.Context) error {
	if c.discard {
		return driver.ErrBadConn
	}
	if err := c.DriverConn.ResetSession(ctx); err != nil {
		return err
	}
	if now := time.Now(); len(c.stmts) > 0 && now.After(c.replanAt) {
		if _, err := c.DriverConn.ExecContext(ctx, "DISCARD PLANS", nil); err != nil {
			return driver.ErrBadConn // the pool takes another connection
		}
		c.replanAt, c.replanEvery = now.Add(c.replanEvery), min(2*c.replanEvery, maxReplan)
	}
	return nil
}

func (c *preparedConn) IsValid() bool { return !c.discard && c.DriverConn.IsValid() }
