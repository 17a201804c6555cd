package db_test

import (
	"encoding/json"
	"testing"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// Commands the store cannot take (a NUL in a reply, a team id beyond a
// Postgres int, an unknown type, data that is not JSON) are refused: each
// gets a stored failed result with a code, the rest of the batch is
// applied, the contact is not blocked and its later events flow. Only
// events from Meta can be poison.
func TestRefusedCommandsBecomeFailedResults(t *testing.T) {
	f := newApplyFixture(t)
	ana := who{wa: "31611110001"}
	bob := who{wa: "31611110002"}
	f.apply(f.message(ana, "wamid.A1", "hello"))
	conv := f.conversationOf("wamid.A1")
	contact := f.contactOf("wamid.A1")
	key := f.key(contact)
	team := int64(3000000000)

	// Two messages make the batch take the fast path; the commands sit
	// between them.
	f.apply(
		f.message(ana, "wamid.A2", "second"),
		f.command(key, "cmd_nul", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "NUL \x00 here"}),
		f.command(key, "cmd_range", event.CmdAssign, event.AssignCommand{ConversationID: conv, TeamID: &team}),
		f.command(key, "cmd_unknown", "frobnicate", map[string]int{"x": 1}),
		f.command(key, "cmd_badjson", event.CmdResolve, json.RawMessage(`{"conversation_id":"seven"}`)),
		f.message(bob, "wamid.B1", "other contact"),
		f.command(key, "cmd_ok", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "fine"}),
		f.message(ana, "wamid.A3", "third"),
	)
	for _, w := range []struct {
		id   string
		kind assigner.OutcomeKind
		code assigner.ErrorCode
	}{
		{"cmd_nul", "", assigner.ErrCodeInvalidText},
		{"cmd_range", "", assigner.ErrCodeOutOfRange},
		{"cmd_unknown", "", assigner.ErrCodeUnknownCommand},
		{"cmd_badjson", "", assigner.ErrCodeInvalidCommand},
		{"cmd_ok", assigner.OutcomeReplyQueued, ""},
	} {
		kind, code, body := f.result(w.id)
		if kind != w.kind || code != w.code {
			t.Errorf("%s: result %q %q (%s), want %q %q", w.id, kind, code, body, w.kind, w.code)
		}
	}
	if f.blocked(contact) {
		t.Error("the contact was blocked by API commands")
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE wamid IN ('wamid.A2', 'wamid.A3', 'wamid.B1')`); n != 3 {
		t.Errorf("%d of the batch's 3 messages stored", n)
	}
	// The refused reply left nothing behind; the good one is queued.
	if n := f.count(`SELECT count(*) FROM messages WHERE direction = 'out'`); n != 1 {
		t.Errorf("%d outbound messages, want only the accepted reply", n)
	}
	if n := f.count(`SELECT count(*) FROM conversations WHERE team_id IS NOT NULL`); n != 0 {
		t.Errorf("the refused assignment changed %d conversations", n)
	}

	// A redelivery changes nothing; the contact's later events flow.
	f.apply(f.command(key, "cmd_nul", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "NUL \x00 here"}),
		f.message(ana, "wamid.A4", "fourth"))
	if _, code, _ := f.result("cmd_nul"); code != assigner.ErrCodeInvalidText {
		t.Errorf("after redelivery: %q", code)
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE wamid = 'wamid.A4' AND conversation_id = $1`, conv); n != 1 {
		t.Error("the contact's later message was not applied to its conversation")
	}
	if n := f.count(`SELECT count(*) FROM held_events`); n != 0 {
		t.Errorf("%d events held", n)
	}
}

// A batch of one refused command takes the one-by-one path directly.
func TestRefusedCommandAlone(t *testing.T) {
	f := newApplyFixture(t)
	conv, key := f.opened(who{user: "BR.5550001"}, "wamid.U1")
	team := int64(-9_000_000_000)
	f.apply(f.command(key, "cmd_neg", event.CmdAssign, event.AssignCommand{ConversationID: conv, TeamID: &team}))
	if _, code, body := f.result("cmd_neg"); code != assigner.ErrCodeOutOfRange {
		t.Errorf("result %q %s, want out_of_range", code, body)
	}
	if f.blocked(f.contactOf("wamid.U1")) {
		t.Error("contact blocked")
	}
}
