package db_test

import (
	"database/sql"
	"database/sql/driver"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// awkwardTexts are strings an array literal must quote or escape.
var awkwardTexts = []string{"", "plain", `say "hi"`, `back\slash`, `\"`, `"`, `\`, "a,b", "{x}", "NULL", "null",
	" lead and trail ", "tab\there", "line\nbreak", "ünïcödé ✓", `{"id":"wamid.X","text":{"body":"a \"q\" \\ b"}}`}

// The apply engine's array parameters reach Postgres as the same arrays
// pq.Array sends: element by element, NULLs where the Go value is not
// valid, SQL NULL for a nil slice and the empty array for an empty one.
func TestArrayParamsAreReadAsPqArrayIs(t *testing.T) {
	conn, _ := dbtest.New(t)
	rng := rand.New(rand.NewPCG(1, 2))
	random := func() string {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = ` "\,{}aZ9é`[rng.IntN(11)]
		}
		return strings.ToValidUTF8(string(b), "?")
	}
	cases := [][]string{nil, {}, awkwardTexts}
	for range 50 {
		c := make([]string, rng.IntN(20))
		for i := range c {
			c[i] = random()
		}
		cases = append(cases, c)
	}
	for _, ss := range cases {
		var ns []sql.NullString
		var is []sql.NullInt64
		if ss != nil {
			ns, is = []sql.NullString{}, []sql.NullInt64{}
		}
		for i, s := range ss {
			ns = append(ns, sql.NullString{String: s, Valid: i%3 != 1})
			is = append(is, sql.NullInt64{Int64: int64(rng.Uint64()) >> rng.IntN(64), Valid: i%4 != 2})
		}
		if len(is) > 1 {
			is[0], is[1] = sql.NullInt64{Int64: math.MinInt64, Valid: true}, sql.NullInt64{Int64: math.MaxInt64, Valid: true}
		}
		texts, nullTexts, nullInts := db.ArrayParams(ss, ns, is)
		var same [3]bool
		var n sql.NullInt64
		if err := conn.QueryRow(`SELECT $1::text[] IS NOT DISTINCT FROM $2::text[], $3::text[] IS NOT DISTINCT FROM $4::text[],
				$5::bigint[] IS NOT DISTINCT FROM $6::bigint[], cardinality($1::text[])`,
			texts, pq.Array(ss), nullTexts, pq.Array(ns), nullInts, pq.Array(is)).Scan(&same[0], &same[1], &same[2], &n); err != nil {
			t.Fatalf("%q: %v", ss, err)
		}
		if same != [3]bool{true, true, true} {
			t.Errorf("%q: read as pq.Array's (text, nullable text, nullable bigint): %v", ss, same)
		}
		if want := (sql.NullInt64{Int64: int64(len(ss)), Valid: ss != nil}); n != want {
			t.Errorf("%q: cardinality %v, want %v", ss, n, want)
		}
	}
}

// BenchmarkArrayParams encodes the messages insert's raw JSON column of a
// batch of 145 webhooks (the batch size of the consumer at 8,000
// webhooks/s) as pq.Array did and as the apply engine does.
func BenchmarkArrayParams(b *testing.B) {
	raws := make([]sql.NullString, 145)
	for i := range raws {
		raws[i] = sql.NullString{Valid: true, String: `{"id": "wamid.HBgLaThocGd5LmluLjI=", "from": "346120007725", ` +
			`"text": {"body": "yes #` + strings.Repeat("1", i%7) + `"}, "type": "text", "timestamp": "1796351269"}`}
	}
	_, own, _ := db.ArrayParams(nil, raws, nil)
	for _, c := range []struct {
		name string
		v    driver.Valuer
	}{{"pq.Array", pq.Array(raws).(driver.Valuer)}, {"own", own}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.v.Value(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
