package db_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

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
	read := 0
	walkPlan(t, plan, func(n map[string]any) {
		if n["Node Type"] == "Seq Scan" && n["Relation Name"] == "statuses" {
			t.Errorf("the settle reads statuses sequentially")
		}
		if n["Relation Name"] == "statuses" {
			r, _ := n["Actual Rows"].(float64)
			removed, _ := n["Rows Removed by Filter"].(float64)
			loops, _ := n["Actual Loops"].(float64)
			read += int((r + removed) * loops)
		}
	})
	if read > 4*len(wamids) {
		t.Errorf("the settle of %d wamids read %d status rows", len(wamids), read)
	}
	var moved int
	if err := conn.Get(&moved, `SELECT count(*) FROM messages WHERE status_rank = 4`); err != nil || moved != 0 {
		t.Errorf("the explain was not rolled back: %d messages moved (%v)", moved, err)
	}
	t.Logf("read %d status rows for %d wamids", read, len(wamids))
}
