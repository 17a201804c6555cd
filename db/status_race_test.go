package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// A status may reach the store before the relay's report of its send (the
// command that records the wamid on the message), and on another
// partition: a status naming only the wa_id of a contact keyed by its user
// id. The two transactions then run at once; before, the status found no
// message with its wamid and the report did not see the status (not
// committed yet), so the status was never applied: a welcome stayed
// "accepted" or "sent" for good after its "read" had arrived.
func TestStatusRacingItsSendReportIsApplied(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	u := who{wa: "31693000001", user: "NL.9300000000000000001"}
	f.apply(f.message(u, "wamid.in.1", "hello"))
	conv := f.conversationOf("wamid.in.1")
	const rounds = 120
	for i := range rounds {
		f.apply(f.command(u.user, fmt.Sprintf("cmd_reply_%d", i), event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "hi"}))
		var msgID int64
		if err := f.conn.Get(&msgID, `SELECT max(id) FROM messages WHERE direction = 'out'`); err != nil {
			t.Fatal(err)
		}
		wamid := fmt.Sprintf("wamid.out.%d", i)
		report := []event.Envelope{f.command(u.user, fmt.Sprintf("cmd_sent_%d", i), event.CmdSendResult,
			event.SendResultCommand{MessageID: msgID, WAMID: wamid, AcceptedAt: time.Now().Format(time.RFC3339Nano)})}
		// A legacy status (the number only), alone (one by one) or with
		// another (the fast path).
		statuses := []event.Envelope{f.status(who{wa: u.wa}, wamid, whatsapp.StatusRead)}
		if i%2 == 1 {
			statuses = append(statuses, f.status(who{wa: u.wa}, wamid, whatsapp.StatusDelivered))
		}
		errs := f.applyAtOnce(ctx, report, statuses)
		for j, err := range errs {
			if err != nil {
				t.Fatalf("round %d: batch %d: %v", i, j, err)
			}
		}
		var status string
		if err := f.conn.Get(&status, `SELECT status FROM messages WHERE id = $1`, msgID); err != nil {
			t.Fatal(err)
		}
		if status != whatsapp.StatusRead {
			t.Fatalf("round %d: message status %q after its read status and its send report, want read", i, status)
		}
	}
}
