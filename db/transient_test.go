package db_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// Only Postgres refusing the data itself (SQLSTATE class 22, class 23) is
// worth giving up on; every other Postgres error, and every connection
// failure, is retried. Errors that come from neither (the store's own
// refusals) are not transient.
func TestIsTransientBySQLState(t *testing.T) {
	t.Parallel()
	pqErr := func(code string) error { return &pq.Error{Code: pq.ErrorCode(code), Message: "test " + code} }
	cases := []struct {
		name string
		err  error
		want bool
	}{
		// data errors: poison
		{"22001 string too long", pqErr("22001"), false},
		{"22003 numeric out of range", pqErr("22003"), false},
		{"22021 invalid byte sequence (NUL in text)", pqErr("22021"), false},
		{"22P02 invalid text representation", pqErr("22P02"), false},
		{"22P05 untranslatable character (\\u0000 in jsonb)", pqErr("22P05"), false},
		{"23502 not null violation", pqErr("23502"), false},
		{"23503 foreign key violation", pqErr("23503"), false},
		{"23505 unique violation", pqErr("23505"), false},
		{"23514 check violation", pqErr("23514"), false},
		{"wrapped 22021", fmt.Errorf("insert message: %w", pqErr("22021")), false},
		// everything else Postgres says: retried
		{"25006 read-only transaction (standby after failover)", pqErr("25006"), true},
		{"25P02 in failed transaction", pqErr("25P02"), true},
		{"42P01 undefined table (not migrated yet)", pqErr("42P01"), true},
		{"42703 undefined column", pqErr("42703"), true},
		{"57P01 admin shutdown", pqErr("57P01"), true},
		{"57P03 cannot connect now", pqErr("57P03"), true},
		{"57014 query canceled (statement timeout)", pqErr("57014"), true},
		{"40001 serialization failure", pqErr("40001"), true},
		{"40P01 deadlock", pqErr("40P01"), true},
		{"08006 connection failure", pqErr("08006"), true},
		{"53300 too many connections", pqErr("53300"), true},
		{"55P03 lock not available", pqErr("55P03"), true},
		{"58030 io error", pqErr("58030"), true},
		{"XX000 internal error", pqErr("XX000"), true},
		{"P0001 raise exception", pqErr("P0001"), true},
		{"wrapped 25006", fmt.Errorf("apply batch: %w", pqErr("25006")), true},
		// connection failures and timeouts: retried
		{"connection refused", fmt.Errorf("dial tcp 127.0.0.1:5432: connect: %w", syscall.ECONNREFUSED), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"EOF", fmt.Errorf("read: %w", io.EOF), true},
		{"bad connection", driver.ErrBadConn, true},
		{"connection done", sql.ErrConnDone, true},
		{"failed transaction (pq)", pq.ErrInFailedTransaction, true},
		{"deadline", context.DeadlineExceeded, true},
		{"canceled", context.Canceled, true},
		// a contact's identity stored by a concurrent transaction: a race,
		// not the event's data, even when it ends in a unique violation
		{"identity race", fmt.Errorf("contact: %w", db.ErrIdentityRace), true},
		{"identity race ending in 23505", fmt.Errorf("contact: %w: %v", db.ErrIdentityRace, pqErr("23505")), true},
		// not from Postgres: the store's own refusal of an event
		{"domain error", errors.New("message event without a message"), false},
		{"unknown command", fmt.Errorf("%w: frobnicate", db.ErrUnknownCommand), false},
		{"not found", db.ErrNotFound, false},
		{"conflict", db.ErrConflict, false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := db.IsTransient(c.err); got != c.want {
			t.Errorf("IsTransient(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// A write in a read-only transaction (what a standby answers after a
// failover) fails with 25006 and is transient.
func TestIsTransientReadOnlyTransaction(t *testing.T) {
	t.Parallel()
	conn, _ := dbtest.New(t)
	ctx := context.Background()
	tx, err := conn.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'read-only test')`)
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "25006" {
		t.Fatalf("write in a read-only transaction: %v, want SQLSTATE 25006", err)
	}
	if !db.IsTransient(err) {
		t.Errorf("IsTransient(%v) = false, want true: a standby becomes writable again or the pool reconnects to the new primary", err)
	}
}
