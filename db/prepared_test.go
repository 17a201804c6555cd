package db_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
)

// prepared counts the statements the pool's only connection holds
// prepared with this text (pg_prepared_statements is per session).
func prepared(t *testing.T, conn *sqlx.DB, text string) int {
	t.Helper()
	var n int
	if err := conn.Get(&n, `SELECT count(*) FROM pg_prepared_statements WHERE statement = $1`, text); err != nil {
		t.Fatal(err)
	}
	return n
}

// A statement with arguments is prepared once per connection and run by
// name afterwards, so Postgres parses it once (and may keep its plan);
// Unprepared runs it unnamed each time, as a pooler in transaction mode
// needs.
func TestStatementsArePreparedOncePerConnection(t *testing.T) {
	_, dsn := dbtest.New(t)
	const q = `SELECT $1::int + 1`
	for _, unprepared := range []bool{false, true} {
		t.Run(fmt.Sprint("unprepared=", unprepared), func(t *testing.T) {
			conn, err := db.Open(context.Background(), db.Config{URL: dsn, MaxOpenConns: 1, Unprepared: unprepared})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for i := range 10 {
				var got int
				if err := conn.Get(&got, q, i); err != nil || got != i+1 {
					t.Fatalf("run %d: %d, %v", i, got, err)
				}
			}
			want := 1
			if unprepared {
				want = 0
			}
			if n := prepared(t, conn, q); n != want {
				t.Errorf("%d statements prepared as %q, want %d", n, q, want)
			}
		})
	}
}

// The store's statements keep their preparation across batches: applying
// more batches prepares nothing new.
func TestBatchesReuseTheirPreparedStatements(t *testing.T) {
	_, dsn := dbtest.New(t)
	conn, err := db.Open(context.Background(), db.Config{URL: dsn, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	store := db.NewStore(conn)
	now := time.Now()
	roundRobinInbox(t, store, now)
	ctx := context.Background()
	apply := func(from int) {
		for i := from; i < from+5; i++ {
			if err := store.Apply(ctx, []event.Envelope{textMessage(fmt.Sprintf("wamid.ps%d", i), fmt.Sprintf("4917100%04d", i%3), now)}, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() (n int) {
		if err := conn.Get(&n, `SELECT count(*) FROM pg_prepared_statements`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	apply(0)
	before := count()
	if before == 0 {
		t.Fatal("the batches prepared no statement")
	}
	apply(5)
	if after := count(); after != before {
		t.Errorf("%d statements prepared after more batches of the same kind, %d before", after, before)
	}
}

// A prepared statement whose result changed shape under it (another
// process migrated the table) fails with 0A000, which is transient; the
// connection holding it is dropped, so the retry prepares it afresh.
func TestAStaleStatementIsPreparedAgain(t *testing.T) {
	admin, dsn := dbtest.New(t)
	admin.MustExec(`CREATE TABLE stale (id int)`)
	admin.MustExec(`INSERT INTO stale VALUES (1)`)
	conn, err := db.Open(context.Background(), db.Config{URL: dsn, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const q = `SELECT * FROM stale WHERE id = $1`
	cols := func() ([]string, error) {
		rows, err := conn.Queryx(q, 1)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return rows.Columns()
	}
	if c, err := cols(); err != nil || len(c) != 1 {
		t.Fatalf("columns %v, %v", c, err)
	}
	admin.MustExec(`ALTER TABLE stale ADD COLUMN name text`)
	_, err = cols()
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "0A000" || !db.IsTransient(err) {
		t.Fatalf("after the migration: %v, want a transient 0A000", err)
	}
	if c, err := cols(); err != nil || len(c) != 2 {
		t.Fatalf("the retry: columns %v, %v; want both columns", c, err)
	}
}

// A generic plan made while a table was small reads the whole table once
// it has grown, for as long as nothing analyses the table (autovacuum off
// here); the connection discards its cached plans on a schedule, so the
// statement is planned again for the table as it is now. The connection
// always takes the generic plan here (plan_cache_mode), where Postgres
// would choose it after five runs when it costs no more than theirs.
func TestCachedPlansFollowAGrowingTable(t *testing.T) {
	admin, dsn := dbtest.New(t)
	admin.MustExec(`CREATE TABLE grows (id serial PRIMARY KEY, a text UNIQUE, b text UNIQUE)`)
	fill := func(from, to int) {
		admin.MustExec(`INSERT INTO grows (a, b) SELECT 'a' || g, 'b' || g FROM generate_series($1::int, $2::int) g`, from, to)
	}
	fill(1, 2000)
	conn, err := db.Open(context.Background(), db.Config{URL: dsn + "&plan_cache_mode=force_generic_plan", MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const q = `SELECT id FROM grows WHERE a = ANY($1) OR b = ANY($1)`
	var ids []int64
	if err := conn.Select(&ids, q, pq.Array([]string{"a1"})); err != nil || len(ids) != 1 {
		t.Fatalf("%v, %v", ids, err)
	}
	var name string
	if err := conn.Get(&name, `SELECT name FROM pg_prepared_statements WHERE statement = $1`, q); err != nil {
		t.Fatal(err)
	}
	plan := func() string {
		var lines []string
		if err := conn.Select(&lines, `EXPLAIN EXECUTE "`+name+`"('{a1}')`); err != nil {
			t.Fatal(err)
		}
		return strings.Join(lines, "\n")
	}
	if p := plan(); !strings.Contains(p, "Seq Scan") {
		t.Fatalf("the generic plan on 2,000 rows does not read the table: the test needs it to:\n%s", p)
	}
	fill(2001, 100000)
	time.Sleep(1200 * time.Millisecond) // past the first replanning
	if err := conn.Select(&ids, q, pq.Array([]string{"a1"})); err != nil || len(ids) != 1 {
		t.Fatalf("%v, %v", ids, err)
	}
	if p := plan(); strings.Contains(p, "Seq Scan") {
		t.Fatalf("the statement still reads the whole table of 100,000 rows:\n%s", p)
	}
}
