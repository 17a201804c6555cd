package dbtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
)

// Counter counts the round trips a connection pool makes to Postgres —
// every statement, BEGIN and COMMIT — and how long each shape of
// statement took, for tests that bound the round trips of a code path and
// benchmarks that say where a transaction's time goes.
type Counter struct {
	mu     sync.Mutex
	trips  int
	shapes map[string]*Shape
}

// Shape is one kind of statement: its first words, how many times it
// ran and their total time (from sending it to its last row read).
type Shape struct {
	SQL   string
	Count int
	Time  time.Duration
}

// Counting opens dsn like db.Open does (binary parameters, statements
// prepared once per connection: one round trip per statement with
// arguments) through a driver that counts. It counts the statements run;
// a statement's first run on a connection also prepares it, one round
// trip more that is not counted.
func Counting(t testing.TB, dsn string) (*sqlx.DB, *Counter) {
	t.Helper()
	if !strings.Contains(dsn, "binary_parameters") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "binary_parameters=yes"
	}
	conn, err := pq.NewConnector(dsn)
	if err != nil {
		t.Fatalf("counting connector: %v", err)
	}
	c := &Counter{shapes: map[string]*Shape{}}
	pool := sqlx.NewDb(sql.OpenDB(countingConnector{db.Prepared(conn), c}), "postgres")
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(16)
	t.Cleanup(func() { pool.Close() })
	return pool, c
}

// Trips is the number of round trips so far.
func (c *Counter) Trips() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.trips
}

// Reset forgets what was counted.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips = 0
	clear(c.shapes)
}

// Shapes lists the statement shapes, most total time first.
func (c *Counter) Shapes() []Shape {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Shape, 0, len(c.shapes))
	for _, s := range c.shapes {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Shape) int { return int(b.Time - a.Time) })
	return out
}

// Print writes the shapes, one line each, with their time per call.
func (c *Counter) Print(w io.Writer, per int) {
	for _, s := range c.Shapes() {
		fmt.Fprintf(w, "%8.2f calls %9.3f ms  %s\n", float64(s.Count)/float64(max(per, 1)),
			float64(s.Time.Microseconds())/1000/float64(max(per, 1)), s.SQL)
	}
}

func (c *Counter) record(query string, d time.Duration) {
	shape := strings.Join(strings.Fields(query), " ")
	if len(shape) > 90 {
		shape = shape[:90]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips++
	s := c.shapes[shape]
	if s == nil {
		s = &Shape{SQL: shape}
		c.shapes[shape] = s
	}
	s.Count++
	s.Time += d
}

type countingConnector struct {
	driver.Connector
	c *Counter
}

func (cc countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := cc.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{conn: conn, c: cc.c}, nil
}

// countingConn counts what goes over one connection.
type countingConn struct {
	conn driver.Conn
	c    *Counter
}

func (cc *countingConn) pq() db.DriverConn { return cc.conn.(db.DriverConn) }

func (cc *countingConn) Prepare(q string) (driver.Stmt, error) { return cc.conn.Prepare(q) }
func (cc *countingConn) Close() error                          { return cc.conn.Close() }

// Begin is required by driver.Conn; database/sql calls BeginTx.
func (cc *countingConn) Begin() (driver.Tx, error) {
	return cc.BeginTx(context.Background(), driver.TxOptions{})
}

func (cc *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	start := time.Now()
	tx, err := cc.pq().BeginTx(ctx, opts)
	cc.c.record("BEGIN", time.Since(start))
	if err != nil {
		return nil, err
	}
	return countingTx{tx, cc.c}, nil
}

func (cc *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	start := time.Now()
	rows, err := cc.pq().QueryContext(ctx, q, args)
	if err != nil {
		cc.c.record(q, time.Since(start))
		return nil, err
	}
	return &countingRows{Rows: rows, c: cc.c, q: q, start: start}, nil
}

func (cc *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	start := time.Now()
	res, err := cc.pq().ExecContext(ctx, q, args)
	cc.c.record(q, time.Since(start))
	return res, err
}

func (cc *countingConn) Ping(ctx context.Context) error         { return cc.pq().Ping(ctx) }
func (cc *countingConn) ResetSession(ctx context.Context) error { return cc.pq().ResetSession(ctx) }
func (cc *countingConn) IsValid() bool                          { return cc.pq().IsValid() }
func (cc *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	return cc.pq().CheckNamedValue(nv)
}

type countingTx struct {
	tx driver.Tx
	c  *Counter
}

func (t countingTx) Commit() error {
	start := time.Now()
	err := t.tx.Commit()
	t.c.record("COMMIT", time.Since(start))
	return err
}

func (t countingTx) Rollback() error {
	start := time.Now()
	err := t.tx.Rollback()
	t.c.record("ROLLBACK", time.Since(start))
	return err
}

// countingRows records its statement when it is closed: the time covers
// reading the rows.
type countingRows struct {
	driver.Rows
	c     *Counter
	q     string
	start time.Time
	done  bool
}

func (r *countingRows) Close() error {
	err := r.Rows.Close()
	if !r.done {
		r.done = true
		r.c.record(r.q, time.Since(r.start))
	}
	return err
}

// CPU measures the CPU time a benchmark costs on both sides: this process
// (getrusage) and the Postgres backend behind conn (its schedstat in
// /proc, so Postgres must run on this machine). It limits conn to one
// connection, so that one backend serves every statement. Under a loaded
// machine wall-clock time mostly measures waiting; CPU time does not.
type CPU struct {
	pid      int
	pg0, go0 time.Duration
}

// StartCPU pins conn to one connection and takes the first reading.
func StartCPU(t testing.TB, conn *sqlx.DB) *CPU {
	t.Helper()
	conn.SetMaxOpenConns(1)
	c := &CPU{}
	if err := conn.Get(&c.pid, `SELECT pg_backend_pid()`); err != nil {
		t.Fatalf("backend pid: %v", err)
	}
	c.Reset(t)
	return c
}

// Reset takes the reading the next Since counts from.
func (c *CPU) Reset(t testing.TB) {
	c.pg0, c.go0 = c.backend(t), self()
}

// Since returns the CPU time of the backend and of this process since the
// last Reset.
func (c *CPU) Since(t testing.TB) (postgres, client time.Duration) {
	return c.backend(t) - c.pg0, self() - c.go0
}

func (c *CPU) backend(t testing.TB) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", c.pid))
	if err != nil {
		t.Fatalf("Postgres backend CPU (Postgres on this machine?): %v", err)
	}
	var ns int64
	if _, err := fmt.Sscan(string(raw), &ns); err != nil {
		t.Fatalf("schedstat of %d: %v", c.pid, err)
	}
	return time.Duration(ns)
}

func self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
