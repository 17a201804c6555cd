package db_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/event"
)

// A batch whose webhooks carry new metadata for a number does not wait for
// another transaction that holds the inbox row (another consumer's batch
// writing the same change, or the API): it leaves the write to that one.
// A later batch, with the row free, writes the change.
func TestInboxMetadataDoesNotWaitForTheRow(t *testing.T) {
	f := newApplyFixture(t)
	f.apply(f.message(who{wa: "15551230001"}, "wamid.inbox.1", "hello"))
	const display = "15550001111" // what the fixture's webhooks carry
	if _, err := f.conn.Exec(`UPDATE inboxes SET display_phone_number = '1 555 000 1111' WHERE phone_number_id = $1`, applyInbox); err != nil {
		t.Fatal(err)
	}

	holder, err := f.conn.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	// the lock an UPDATE of the number's metadata takes until its commit
	if _, err := holder.Exec(`SELECT 1 FROM inboxes WHERE phone_number_id = $1 FOR NO KEY UPDATE`, applyInbox); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := f.store.Apply(ctx, []event.Envelope{f.message(who{wa: "15551230002"}, "wamid.inbox.2", "hello")}, time.Now()); err != nil {
		t.Fatalf("apply while another transaction holds the inbox row (after %v): %v", time.Since(start).Round(time.Millisecond), err)
	}
	if n := f.count(`SELECT count(*) FROM inboxes WHERE phone_number_id = $1 AND display_phone_number = $2`, applyInbox, display); n != 0 {
		t.Fatalf("the held row was written (%d)", n)
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}

	f.apply(f.message(who{wa: "15551230003"}, "wamid.inbox.3", "hello"))
	if n := f.count(`SELECT count(*) FROM inboxes WHERE phone_number_id = $1 AND display_phone_number = $2`, applyInbox, display); n != 1 {
		t.Fatalf("the next batch did not write the number's metadata")
	}
}

// The batch's inbox check reads the settings columns the other reads of
// an inbox read, in the same order (it wraps them for a missing row).
func TestInboxColumnListsAgree(t *testing.T) {
	names := func(list string) []string {
		var out []string
		for _, col := range strings.Split(list, ",") {
			col = strings.TrimSpace(col)
			col = strings.TrimPrefix(col, "COALESCE(")
			col = strings.TrimPrefix(col, "i.")
			if col != "" && !strings.HasPrefix(col, "$") && !strings.HasPrefix(col, "'") && col != "false)" {
				out = append(out, col)
			}
		}
		return out
	}
	plain, joined := names(db.InboxColumnLists[0]), names(db.InboxColumnLists[1])
	if !slices.Equal(plain, joined) {
		t.Errorf("the inbox check reads %v, the other reads %v", joined, plain)
	}
}
