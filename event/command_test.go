package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
)

// TestCommandRoundTrip: every command decodes from its record to the
// payload it was made of, through the record's JSON as it travels.
func TestCommandRoundTrip(t *testing.T) {
	team := int64(3)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, p := range []Payload{
		AssignCommand{ConversationID: 1, TeamID: &team, AgentIDs: []int64{4, 5}, Mode: assigner.ModeReplace, By: assigner.Actor{AgentID: 9}},
		UnassignCommand{ConversationID: 1, AgentID: 4, By: assigner.Actor{Admin: true}},
		ClaimCommand{ConversationID: 1, AgentID: 4},
		ResolveCommand{ConversationID: 1},
		SetOwnersCommand{ContactID: 2, AgentIDs: []int64{}},
		DrainCommand{ConversationID: 1},
		DrainCommand{ConversationID: 1, Expire: true},
		ReplyCommand{ConversationID: 1, AgentID: 4, Template: json.RawMessage(`{"name":"hello_world"}`), ReplyTo: 7},
		MarkReadCommand{ConversationID: 1, Typing: true},
		SendResultCommand{OutboxID: 8, MessageID: 7, Failed: true, ErrorCode: 131047, ErrorTitle: "Re-engagement message"},
		ReleaseCommand{ContactID: 2, Discard: true},
		TimerCommand{ConversationID: 1, Kind: assigner.TimerNoReply, DueAt: at.Add(90 * time.Second)},
		SnoozeCommand{ConversationID: 1, Until: at.Add(time.Hour), By: assigner.Actor{AgentID: 4}},
	} {
		env, err := NewCommand("id-1", "491700000001", p, at)
		if err != nil {
			t.Fatalf("%T: %v", p, err)
		}
		if env.Kind != KindCommand || env.Version != Version || env.Key() != "491700000001" || env.ID != "id-1" ||
			env.Command.Type != p.CommandType() || !env.OccurredAt.Equal(at) || !env.ReceivedAt.Equal(at) {
			t.Fatalf("%T: envelope %+v", p, env)
		}
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		var back Envelope
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeCommand(&back)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("%s: decoded %#v, %v; want %#v", p.CommandType(), got, err, p)
		}
	}
}

// TestDecodeCommandErrors: an unknown type and data of the wrong shape are
// errors the store can tell apart (it stores them as the command's failed
// result); a record without a command is an error too.
func TestDecodeCommandErrors(t *testing.T) {
	cmd := func(typ, data string) *Envelope {
		return &Envelope{ID: "c", Kind: KindCommand, Command: &Command{Type: typ, Data: json.RawMessage(data)}}
	}
	if _, err := DecodeCommand(cmd("frobnicate", `{}`)); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("unknown type: %v", err)
	}
	var typ *json.UnmarshalTypeError
	if _, err := DecodeCommand(cmd(CmdClaim, `{"conversation_id":"seven"}`)); !errors.As(err, &typ) {
		t.Errorf("wrong shape: %v", err)
	}
	var syntax *json.SyntaxError
	if _, err := DecodeCommand(cmd(CmdExpire, `{"conversation_id":`)); !errors.As(err, &syntax) {
		t.Errorf("not JSON: %v", err)
	}
	if p, err := DecodeCommand(&Envelope{ID: "m", Kind: KindMessage}); err == nil || p != nil {
		t.Errorf("no command: %v, %v", p, err)
	}
	if _, err := NewCommand("c", "k", ReplyCommand{Template: json.RawMessage(`{`)}, time.Now()); err == nil {
		t.Error("a payload that does not encode made a record")
	}
}

// TestCommandIDs: the four schemes, and what makes each apply once.
func TestCommandIDs(t *testing.T) {
	if a, b := NewCommandID(), NewCommandID(); a == b || !regexp.MustCompile(`^cmd_[0-9a-f]{32}$`).MatchString(a) {
		t.Errorf("API command ids %q, %q", a, b)
	}
	at := time.Unix(1749416383, 5)
	if got := ScheduledID(DrainCommand{ConversationID: 7, Expire: true}, 7, at); got != "expire:7:1749416383000000005" {
		t.Errorf("scheduled id %q", got)
	}
	if got := ScheduledID(DrainCommand{ConversationID: 7}, 7, at.Add(time.Second)); got != "drain:7:1749416384000000005" {
		t.Errorf("scheduled id %q", got)
	}
	timer := TimerCommand{ConversationID: 7, Kind: assigner.TimerNoReply, DueAt: at}
	if got := TimerID(timer); got != "timer:no_reply:7:1749416383000000005" || TimerID(timer) != got {
		t.Errorf("timer id %q", got)
	}
	if moved := timer; TimerID(moved) == TimerID(TimerCommand{ConversationID: 7, Kind: assigner.TimerNoReply, DueAt: at.Add(time.Microsecond)}) {
		t.Error("a deadline that moved kept its command id")
	}
	if got := ResultID(42); got != "send_result:42" || ResultID(42) != got {
		t.Errorf("result id %q", got)
	}
}

// Subject names who issued a command: "by" for most, the claiming or
// writing agent for a claim and a reply, never an unassign's target.
func TestCommandSubject(t *testing.T) {
	cases := []struct {
		typ      string
		data     string
		conv, by int64
	}{
		{CmdResolve, `{"conversation_id":7,"by":{"agent_id":3}}`, 7, 3},
		{CmdClaim, `{"conversation_id":7,"agent_id":4}`, 7, 4},
		{CmdReply, `{"conversation_id":7,"agent_id":5,"text":"hi"}`, 7, 5},
		{CmdReply, `{"conversation_id":7,"text":"from the admin token"}`, 7, 0},
		{CmdUnassign, `{"conversation_id":7,"agent_id":6,"by":{"agent_id":2}}`, 7, 2},
		{CmdSetOwners, `{"contact_id":9,"agent_ids":[1],"by":{"agent_id":2}}`, 0, 2},
		{CmdClaim, `not json`, 0, 0},
	}
	for _, c := range cases {
		cmd := &Command{Type: c.typ, Data: json.RawMessage(c.data)}
		if conv, by := cmd.Subject(); conv != c.conv || by != c.by {
			t.Errorf("%s %s: subject %d by %d, want %d by %d", c.typ, c.data, conv, by, c.conv, c.by)
		}
	}
}
