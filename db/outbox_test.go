package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// TestClaimReadsOnlyWhatItTakes: with a backlog of due rows (welcome
// messages behind a number's rate limit) and statistics taken while the
// outbox was empty, a claim of 16 rows reads the pending index in order and
// stops: it neither sorts nor checks every row of the backlog. Before, the
// claim took every due row, checked each one's earlier rows and sorted
// them all: its cost grew with the backlog (13 ms a claim at 1,600 rows).
func TestClaimReadsOnlyWhatItTakes(t *testing.T) {
	conn, _ := dbtest.New(t)
	store := db.NewStore(conn)
	ctx := context.Background()
	conn.MustExec(`ANALYZE outbox`) // the statistics of an empty outbox
	conn.MustExec(`INSERT INTO contacts (key, wa_id) SELECT 'c' || g, 'c' || g FROM generate_series(1, 3000) g`)
	conn.MustExec(`INSERT INTO messages (wamid, direction, contact_id, inbox, type, body, sent_at, received_at)
		SELECT 'w' || c.id, 'out', c.id, '1065', 'text', 'hi', now(), now() FROM contacts c`)
	conn.MustExec(`INSERT INTO outbox (contact_id, contact_key, message_id, phone_number_id, recipient, kind, payload, next_attempt_at)
		SELECT m.contact_id, 'c' || m.contact_id, m.id, '1065', 'c', 'welcome', '{}', now() - interval '1 minute'
		FROM messages m ORDER BY m.id`)
	now := time.Now()

	nodes := func(bare bool) (sorts, rows int) {
		plan, err := store.ExplainClaim(ctx, bare, 16, now)
		if err != nil {
			t.Fatal(err)
		}
		walkPlan(t, plan, func(n map[string]any) {
			if n["Node Type"] == "Sort" {
				sorts++
			}
			if rel, _ := n["Relation Name"].(string); rel == "outbox" && n["Alias"] == "c" {
				r, _ := n["Actual Rows"].(float64)
				rows += int(r)
			}
		})
		return sorts, rows
	}
	sorts, read := nodes(false)
	t.Logf("claim of 16 from 3,000 due rows: %d sorts, %d candidate rows read", sorts, read)
	if sorts != 0 || read > 64 {
		t.Errorf("the claim sorted (%d) or read %d candidates: its cost grows with the backlog", sorts, read)
	}
	bs, br := nodes(true)
	t.Logf("without the claim's session settings: %d sorts, %d candidate rows read", bs, br)

	items, err := store.ClaimOutbox(ctx, 16, time.Minute, nil, now)
	if err != nil || len(items) != 16 {
		t.Fatalf("claimed %d rows (%v), want 16", len(items), err)
	}
	for i, it := range items {
		if i > 0 && it.ID <= items[i-1].ID {
			t.Fatalf("claimed out of order: %d after %d", it.ID, items[i-1].ID)
		}
	}
}

// walkPlan calls visit on every node of an EXPLAIN (FORMAT JSON) plan.
func walkPlan(t *testing.T, plan string, visit func(n map[string]any)) {
	t.Helper()
	var doc []struct{ Plan map[string]any }
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("plan: %v\n%s", err, plan)
	}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		visit(n)
		subs, _ := n["Plans"].([]any)
		for _, s := range subs {
			walk(s.(map[string]any))
		}
	}
	walk(doc[0].Plan)
}

// rowsRead counts the rows the plan's scans of relation read (returned,
// and removed by a filter when filtered is set), in every loop, and fails
// the test for a sequential scan of it.
func rowsRead(t *testing.T, plan, relation string, filtered bool) int {
	t.Helper()
	read := 0
	walkPlan(t, plan, func(n map[string]any) {
		if n["Relation Name"] != relation {
			return
		}
		if n["Node Type"] == "Seq Scan" {
			t.Errorf("the plan reads %s sequentially", relation)
		}
		r, _ := n["Actual Rows"].(float64)
		if filtered {
			removed, _ := n["Rows Removed by Filter"].(float64)
			r += removed
		}
		loops, _ := n["Actual Loops"].(float64)
		read += int(r * loops)
	})
	return read
}

// TestSettleReadsOnlyItsMessages: settling the statuses of a few wamids
// finds their messages by wamid, whatever Postgres's statistics say.
// Before, without statistics, Postgres expected 200 rows from the
// statuses subquery and joined it with a sequential scan of every message
// stored, in every batch that settled a status (16 ms at 13,000 messages
// in a load test's first minute).
func TestSettleReadsOnlyItsMessages(t *testing.T) {
	conn, _ := dbtest.New(t)
	store := db.NewStore(conn)
	ctx := context.Background()
	conn.MustExec(`INSERT INTO contacts (key, wa_id) SELECT 'c' || g, 'c' || g FROM generate_series(1, 2000) g`)
	conn.MustExec(`INSERT INTO messages (wamid, direction, contact_id, inbox, type, body, sent_at, received_at, status, status_rank)
		SELECT 'w' || g, CASE WHEN g % 3 = 0 THEN 'out' ELSE 'in' END, 1 + g % 2000, '1065', 'text', 'hi', now(), now(),
			CASE WHEN g % 3 = 0 THEN 'accepted' ELSE '' END, CASE WHEN g % 3 = 0 THEN 1 ELSE 0 END
		FROM generate_series(1, 30000) g`)
	var wamids []string
	for g := 3; g <= 90; g += 3 { // messages out
		wamids = append(wamids, fmt.Sprintf("w%d", g))
	}
	// No statistics yet (a fresh database: autovacuum analyzes a table a
	// minute or more after it grew), as in a load test's first minutes.
	conn.MustExec(`INSERT INTO statuses (wamid, status, rank, occurred_at, received_at, raw)
		SELECT 'w' || (3 * g), s, r, now(), now(), '{}' FROM generate_series(1, 3000) g,
			(VALUES ('sent', 2), ('delivered', 3)) AS v(s, r)`)
	plan, err := store.ExplainSettle(ctx, wamids)
	if err != nil {
		t.Fatal(err)
	}
	read := rowsRead(t, plan, "messages", false)
	if read > 4*len(wamids) {
		t.Errorf("the settle of %d wamids read %d message rows", len(wamids), read)
	}
	t.Logf("read %d message rows for %d wamids", read, len(wamids))
}

// TestSettleReadsOnlyItsStatuses: settling the statuses of a batch's
// wamids reads each wamid's statuses by the primary key, whatever
// Postgres's statistics say. Before, without statistics (a table neither
// analysed nor vacuumed yet), Postgres expected a quarter of the table
// from "wamid = ANY" of 50 wamids and read every status stored: 29,127
// pages, 300 to 430 ms, for 50 wamids at 3,000,000 statuses, in each
// batch that settled as many.
func TestSettleReadsOnlyItsStatuses(t *testing.T) {
	conn, _ := dbtest.New(t)
	store := db.NewStore(conn)
	conn.MustExec(`INSERT INTO contacts (key, wa_id) SELECT 'c' || g, 'c' || g FROM generate_series(1, 100) g`)
	conn.MustExec(`INSERT INTO messages (wamid, direction, contact_id, inbox, type, body, sent_at, received_at, status, status_rank)
		SELECT 'w' || g, 'out', 1 + g % 100, '1065', 'text', 'hi', now(), now(), 'accepted', 1
		FROM generate_series(1, 300) g`)
	// Statuses of many more wamids than the batch names, never analysed.
	conn.MustExec(`INSERT INTO statuses (wamid, status, rank, occurred_at, received_at, raw)
		SELECT 'w' || g, s, r, now(), now(), '{}' FROM generate_series(1, 20000) g,
			(VALUES ('sent', 2), ('delivered', 3), ('read', 4)) AS v(s, r)`)
	var wamids []string
	for g := 1; g <= 50; g++ {
		wamids = append(wamids, fmt.Sprintf("w%d", g*5))
	}
	plan, err := store.ExplainSettle(context.Background(), wamids)
	if err != nil {
		t.Fatal(err)
	}
	read := rowsRead(t, plan, "statuses", true)
	if read > 4*len(wamids) {
		t.Errorf("the settle of %d wamids read %d status rows", len(wamids), read)
	}
	var moved int
	if err := conn.Get(&moved, `SELECT count(*) FROM messages WHERE status_rank = 4`); err != nil || moved != 0 {
		t.Errorf("the explain was not rolled back: %d messages moved (%v)", moved, err)
	}
	t.Logf("read %d status rows for %d wamids", read, len(wamids))
}

// TestOutboxReportedIsOneRoundTrip: marking an outcome reported, once per
// message sent, is one statement (it was an explicit transaction with SET
// LOCAL: four round trips), and the asynchronous commit it asks for stays
// in its own transaction: the pool's connection commits synchronously
// afterwards.
func TestOutboxReportedIsOneRoundTrip(t *testing.T) {
	_, dsn := dbtest.New(t)
	conn, counter := dbtest.Counting(t, dsn)
	conn.SetMaxOpenConns(1) // the statement after it runs on its connection
	store := db.NewStore(conn)
	ctx := context.Background()
	conn.MustExec(`INSERT INTO contacts (key, wa_id) VALUES ('c1', 'c1')`)
	conn.MustExec(`INSERT INTO messages (direction, contact_id, inbox, type, body, sent_at, received_at)
		SELECT 'out', id, '1065', 'text', 'hi', now(), now() FROM contacts`)
	conn.MustExec(`INSERT INTO outbox (contact_id, contact_key, message_id, phone_number_id, recipient, kind, payload, next_attempt_at)
		SELECT contact_id, 'c1', id, '1065', 'c1', 'welcome', '{}', now() - interval '1 minute' FROM messages`)
	now := time.Now()
	items, err := store.ClaimOutbox(ctx, 1, time.Minute, nil, now)
	if err != nil || len(items) != 1 {
		t.Fatalf("claimed %d rows (%v), want 1", len(items), err)
	}
	if err := store.OutboxSent(ctx, []assigner.OutboxSend{{ID: items[0].ID, WAMID: "wamid.r1", SentAt: now}}); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	if err := store.OutboxReported(ctx, []int64{items[0].ID}); err != nil {
		t.Fatal(err)
	}
	if n := counter.Trips(); n != 1 {
		t.Errorf("OutboxReported took %d round trips, want 1", n)
	}
	var reported, leased bool
	if err := conn.QueryRowx(`SELECT reported, lease_until IS NOT NULL FROM outbox WHERE id = $1`, items[0].ID).Scan(&reported, &leased); err != nil {
		t.Fatal(err)
	}
	if !reported || leased {
		t.Errorf("reported %v, still leased %v: want reported and the lease gone", reported, leased)
	}
	var sync string
	if err := conn.Get(&sync, `SHOW synchronous_commit`); err != nil || sync != "on" {
		t.Errorf("synchronous_commit on the pool's connection afterwards: %q (%v), want on", sync, err)
	}
	if err := store.OutboxReported(ctx, []int64{items[0].ID + 1000}); err != nil {
		t.Errorf("reporting a row that does not exist: %v, want no error (nothing written)", err)
	}
}
