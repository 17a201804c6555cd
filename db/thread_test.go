package db_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// While another responder owns the contact's thread, the apply engine
// refuses free-form replies with thread_controlled_elsewhere and queues
// nothing, still takes templates, and the conversation view names the
// owner. A contact's message on the messages field gives the thread back
// to wagw (Meta's "Prepare for Conversation Routing": an inbound messages
// webhook tells the receiver it is the thread owner and responds), in
// partition order: a free-form reply before it is refused, one after it
// goes. Both apply paths: each reply is applied alone and in a batch of
// several.
func TestReplyRefusedWhileAnotherResponderOwnsTheThread(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	u := who{wa: "31622220001"}
	f.apply(f.message(u, "wamid.T1", "hello"))
	conv, contact := f.conversationOf("wamid.T1"), f.contactOf("wamid.T1")
	key := f.key(contact)
	if v, err := f.store.Conversation(ctx, conv); err != nil || v.ThreadOwner.Owner != assigner.ThreadOwnerWagw {
		t.Fatalf("a new contact's thread owner is %+v (%v), want wagw", v.ThreadOwner, err)
	}
	if _, err := f.conn.Exec(`UPDATE contacts SET thread_owner = 'other', thread_owner_role = 'ai_agent' WHERE id = $1`, contact); err != nil {
		t.Fatal(err)
	}
	tmpl := json.RawMessage(`{"name":"order_update","language":{"code":"en"}}`)
	f.apply(f.command(key, "cmd_text", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "hi"}))
	v, err := f.store.Conversation(ctx, conv)
	if err != nil || v.ThreadOwner != (assigner.ThreadOwner{Owner: assigner.ThreadOwnerOther, Role: "ai_agent"}) {
		t.Errorf("conversation view: thread owner %+v (%v), want other (ai_agent)", v.ThreadOwner, err)
	}
	f.apply(
		f.command(key, "cmd_interactive", event.CmdReply, event.ReplyCommand{ConversationID: conv,
			Interactive: json.RawMessage(`{"type":"button","body":{"text":"pick"},"action":{"buttons":[{"type":"reply","reply":{"id":"a","title":"A"}}]}}`)}),
		f.command(key, "cmd_template", event.CmdReply, event.ReplyCommand{ConversationID: conv, Template: tmpl}),
		f.message(u, "wamid.T2", "hello again"), // on the messages field: wagw owns the thread again
		f.command(key, "cmd_after", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "we are back"}),
		f.message(u, "wamid.T3", "another"),
	)
	for id, want := range map[string]assigner.ErrorCode{"cmd_text": assigner.ErrCodeThreadControlledElsewhere,
		"cmd_interactive": assigner.ErrCodeThreadControlledElsewhere, "cmd_template": "", "cmd_after": ""} {
		if _, code, msg := f.result(id); code != want {
			t.Errorf("%s: code %q (%s), want %q", id, code, msg, want)
		}
	}
	if kind, code, msg := f.result("cmd_after"); kind != assigner.OutcomeReplyQueued {
		t.Errorf("reply after the contact's message: %q %q %s", kind, code, msg)
	}
	if n := f.count(`SELECT count(*) FROM outbox WHERE conversation_id = $1`, conv); n != 2 {
		t.Errorf("%d outbox rows, want 2 (the template and the reply after the message)", n)
	}
	if v, err := f.store.Conversation(ctx, conv); err != nil || v.ThreadOwner != (assigner.ThreadOwner{Owner: assigner.ThreadOwnerWagw}) {
		t.Errorf("after the contact's message: thread owner %+v (%v), want wagw", v.ThreadOwner, err)
	}
	ds, err := f.store.Decisions(ctx, conv)
	if err != nil || len(ds) == 0 || ds[len(ds)-1].Rule != "handover" ||
		!strings.Contains(ds[len(ds)-1].Reasons[0].Text, "Routing delivered the contact's message to wagw") {
		t.Errorf("decisions %+v (%v): want the last one logging routing's delivery to wagw", ds, err)
	}
}

// A take is queued in the outbox as a thread control request only while
// another responder owns the thread; Meta's refusal changes nothing, its
// acceptance gives the thread to wagw with a handover decision.
func TestTakeQueuedAndApplied(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	u := who{wa: "31622220002"}
	f.apply(f.message(u, "wamid.K1", "hello"))
	conv, contact := f.conversationOf("wamid.K1"), f.contactOf("wamid.K1")
	key := f.key(contact)
	f.apply(f.command(key, "cmd_take0", event.CmdTake, event.TakeCommand{ConversationID: conv}))
	if kind, _, _ := f.result("cmd_take0"); kind != assigner.OutcomeUnchanged || f.count(`SELECT count(*) FROM outbox WHERE kind = 'take'`) != 0 {
		t.Fatalf("take while wagw owns the thread: %q, %d take rows", kind, f.count(`SELECT count(*) FROM outbox WHERE kind = 'take'`))
	}
	if _, err := f.conn.Exec(`UPDATE contacts SET thread_owner = 'other', thread_owner_role = 'ai_agent' WHERE id = $1`, contact); err != nil {
		t.Fatal(err)
	}
	f.apply(f.command(key, "cmd_take1", event.CmdTake, event.TakeCommand{ConversationID: conv}))
	if kind, code, msg := f.result("cmd_take1"); kind != assigner.OutcomeTakeQueued {
		t.Fatalf("take: %q %q %s", kind, code, msg)
	}
	var outboxID, msgID int64
	var payload string
	if err := f.conn.QueryRow(`SELECT id, message_id, payload FROM outbox WHERE kind = 'take'`).Scan(&outboxID, &msgID, &payload); err != nil {
		t.Fatal(err)
	}
	var req map[string]any
	if json.Unmarshal([]byte(payload), &req) != nil || req["action"] != "take" || req["recipient"] != u.wa || req["messaging_product"] != "whatsapp" {
		t.Errorf("take payload %s", payload)
	}
	refused := event.SendResultCommand{OutboxID: outboxID, Kind: assigner.OutboxTake, MessageID: msgID, Failed: true, ErrorCode: 100}
	f.apply(f.command(key, "res_refused", event.CmdSendResult, refused))
	if v, _ := f.store.Conversation(ctx, conv); v.ThreadOwner.Owner != assigner.ThreadOwnerOther {
		t.Errorf("after Meta refused the take the owner is %+v", v.ThreadOwner)
	}
	f.apply(f.command(key, "res_ok", event.CmdSendResult, event.SendResultCommand{OutboxID: outboxID, Kind: assigner.OutboxTake, MessageID: msgID}))
	if v, _ := f.store.Conversation(ctx, conv); v.ThreadOwner != (assigner.ThreadOwner{Owner: assigner.ThreadOwnerWagw}) {
		t.Errorf("after Meta accepted the take the owner is %+v", v.ThreadOwner)
	}
	ds, err := f.store.Decisions(ctx, conv)
	if err != nil || len(ds) == 0 || ds[len(ds)-1].Rule != "handover" || ds[len(ds)-1].Reasons[0].Code != assigner.CodeHandover {
		t.Errorf("decisions %+v (%v): want a handover last", ds, err)
	}
}
