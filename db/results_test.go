package db_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// Each command's result is stored as data: the kind of what it did with
// its value, or the code of the domain error that refused it. A
// redelivered command is a duplicate and keeps its first result.
func TestCommandResultsAreOutcomesOrDomainErrors(t *testing.T) {
	f := newApplyFixture(t)
	ana := who{wa: "31644440001"}
	f.apply(f.message(ana, "wamid.R1", "hello"))
	conv := f.conversationOf("wamid.R1")
	contact := f.contactOf("wamid.R1")
	key := f.key(contact)
	agent := f.agent("Ana")
	tmpl := json.RawMessage(`{"name":"order_update","language":{"code":"en_US"}}`)

	steps := []struct {
		id   string
		typ  string
		cmd  any
		kind assigner.OutcomeKind
		code assigner.ErrorCode
	}{
		{"reply", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "hi"}, assigner.OutcomeReplyQueued, ""},
		{"template_nameless", event.CmdReply, event.ReplyCommand{ConversationID: conv, Template: json.RawMessage(`{"language":{"code":"en"}}`)}, "", assigner.ErrCodeInvalidTemplate},
		{"template", event.CmdReply, event.ReplyCommand{ConversationID: conv, Template: tmpl}, assigner.OutcomeReplyQueued, ""},
		{"interactive_malformed", event.CmdReply, event.ReplyCommand{ConversationID: conv, Interactive: json.RawMessage(`{"type":7}`)}, "", assigner.ErrCodeInvalidInteractive},
		{"reply_to_unknown", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "re", ReplyTo: 999999}, "", assigner.ErrCodeUnknownReplyTo},
		{"read", event.CmdMarkRead, event.MarkReadCommand{ConversationID: conv}, assigner.OutcomeReadQueued, ""},
		{"owners", event.CmdSetOwners, event.SetOwnersCommand{ContactID: contact, AgentIDs: []int64{agent}}, assigner.OutcomeOwnersSet, ""},
		{"owners_unknown", event.CmdSetOwners, event.SetOwnersCommand{ContactID: contact, AgentIDs: []int64{999999}}, "", assigner.ErrCodeUnknownAgent},
		{"drain", event.CmdDrain, event.DrainCommand{ConversationID: conv}, assigner.OutcomeUnchanged, ""},
		{"claim_nobody", event.CmdClaim, event.ClaimCommand{ConversationID: conv, AgentID: 999999}, "", assigner.ErrCodeNotFound},
		{"resolve", event.CmdResolve, event.ResolveCommand{ConversationID: conv}, assigner.OutcomeDecided, ""},
		{"claim_resolved", event.CmdClaim, event.ClaimCommand{ConversationID: conv, AgentID: agent}, "", assigner.ErrCodeConversationResolved},
		{"resolve_nothing", event.CmdResolve, event.ResolveCommand{ConversationID: 999999}, "", assigner.ErrCodeNotFound},
	}
	for _, s := range steps {
		f.apply(f.command(key, s.id, s.typ, s.cmd))
		kind, code, text := f.result(s.id)
		if kind != s.kind || code != s.code || text == "" {
			t.Errorf("%s: result %q %q %s, want %q %q", s.id, kind, code, text, s.kind, s.code)
		}
	}
	// A day after the contact's last message, only a template goes.
	f.apply(f.message(ana, "wamid.R2", "again"))
	later := f.conversationOf("wamid.R2")
	if _, err := f.conn.Exec(`UPDATE contacts SET last_inbound_at = now() - interval '25 hours' WHERE id = $1`, contact); err != nil {
		t.Fatal(err)
	}
	f.apply(f.command(key, "late_text", event.CmdReply, event.ReplyCommand{ConversationID: later, Text: "late"}),
		f.command(key, "late_template", event.CmdReply, event.ReplyCommand{ConversationID: later, Template: tmpl}))
	if _, code, _ := f.result("late_text"); code != assigner.ErrCodeOutsideServiceWindow {
		t.Errorf("late text: %q, want outside_customer_service_window", code)
	}
	if kind, _, _ := f.result("late_template"); kind != assigner.OutcomeReplyQueued {
		t.Errorf("late template: %q, want reply_queued", kind)
	}
	if _, _, msg := f.result("resolve_nothing"); msg != "no such conversation" {
		t.Errorf("not found says %q", msg)
	}
	var decided struct {
		Conversation assigner.Conversation `json:"conversation"`
		Decision     struct{ Rule string } `json:"decision"`
	}
	if _, _, value := f.result("resolve"); json.Unmarshal([]byte(value), &decided) != nil ||
		decided.Conversation.ID != conv || decided.Conversation.Status != assigner.StatusResolved || decided.Decision.Rule != "resolve" {
		t.Errorf("resolve's outcome %s", value)
	}

	out, err := f.store.ApplyOutcomes(context.Background(), []event.Envelope{
		f.command(key, "reply", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "again"}),
		f.command(key, "read", event.CmdMarkRead, event.MarkReadCommand{ConversationID: conv})}, time.Now())
	if err != nil || len(out) != 2 || !out[0].Duplicate || !out[1].Duplicate {
		t.Fatalf("redelivered commands: %+v %v, want duplicates", out, err)
	}
	if kind, _, _ := f.result("reply"); kind != assigner.OutcomeReplyQueued {
		t.Errorf("redelivered reply's result %q", kind)
	}
}

// Ids are bigint everywhere: a command about a conversation and contact
// whose ids are past 2^31 stores its result like any other.
func TestCommandResultsTakeIdsPast32Bits(t *testing.T) {
	f := newApplyFixture(t)
	for _, seq := range []string{"conversations_id_seq", "contacts_id_seq"} {
		if _, err := f.conn.Exec(`SELECT setval($1::regclass, 3000000000)`, seq); err != nil {
			t.Fatal(err)
		}
	}
	ana := who{wa: "31644440077"}
	f.apply(f.message(ana, "wamid.BIG1", "hello"))
	conv, contact := f.conversationOf("wamid.BIG1"), f.contactOf("wamid.BIG1")
	if conv <= 1<<31 || contact <= 1<<31 {
		t.Fatalf("conversation %d, contact %d: want ids past 2^31", conv, contact)
	}
	f.apply(f.command(f.key(contact), "big_resolve", event.CmdResolve, event.ResolveCommand{ConversationID: conv}))
	if kind, code, msg := f.result("big_resolve"); kind != assigner.OutcomeDecided {
		t.Errorf("resolve of conversation %d: %q %q %s, want decided", conv, kind, code, msg)
	}
}
