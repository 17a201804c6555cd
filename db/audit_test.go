package db_test

import (
	"context"
	"testing"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
)

// TestAuditReadsWhatARunAdded: after a baseline, the audit sees the
// inbound messages a run stored, the conversations they opened with their
// decision and welcome, and the agents; before the baseline nothing.
func TestAuditReadsWhatARunAdded(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	audit := db.NewAudit(f.conn)
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, WelcomeMessage: "Welcome!"}); err != nil {
		t.Fatal(err)
	}
	f.apply(f.message(who{wa: "15550000001"}, "wamid.before", "before the run"))
	msgBase, convBase, err := audit.Baseline(ctx)
	if err != nil || msgBase == 0 || convBase == 0 {
		t.Fatalf("baseline %d, %d, %v: want the rows stored so far", msgBase, convBase, err)
	}
	agent := f.agent("Ana")
	f.apply(f.message(who{wa: "15550000002"}, "wamid.first", "hello"), f.message(who{wa: "15550000002"}, "wamid.second", "again"))

	if n, err := audit.CountInbound(ctx, msgBase); err != nil || n != 2 {
		t.Fatalf("CountInbound = %d, %v; want 2", n, err)
	}
	msgs, err := audit.InboundMessages(ctx, msgBase)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("InboundMessages = %+v, %v; want the run's 2", msgs, err)
	}
	if msgs[0].WAMID != "wamid.first" || msgs[1].WAMID != "wamid.second" || msgs[0].ContactKey != "15550000002" ||
		msgs[0].Inbox != applyInbox || msgs[0].Type != "text" || msgs[0].ConversationID == 0 || msgs[0].StoredAt.IsZero() {
		t.Errorf("messages %+v", msgs)
	}
	convs, err := audit.Conversations(ctx, []int64{msgs[0].ConversationID})
	if err != nil || len(convs) != 1 {
		t.Fatalf("Conversations = %+v, %v", convs, err)
	}
	c := convs[0]
	if c.ID <= convBase || c.OpenedBy != "wamid.first" || c.Status != "open" || c.OpenDecisions != 1 ||
		c.Welcomes != 1 || c.WelcomeState == "" || !c.InboxWelcome || c.ContactKey != "15550000002" {
		t.Errorf("conversation %+v", c)
	}
	agents, err := audit.Agents(ctx)
	if err != nil || len(agents) != 1 || agents[0].ID != agent || agents[0].Name != "Ana" || agents[0].Presence != "online" {
		t.Errorf("Agents = %+v, %v", agents, err)
	}
	if st, err := audit.Statuses(ctx, []string{"wamid.unknown"}); err != nil || len(st) != 0 {
		t.Errorf("Statuses of an unknown wamid = %+v, %v", st, err)
	}
}
