package db_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// twoPathSide is one database of the two-path comparison.
type twoPathSide struct {
	f     *applyFixture
	apply func(ctx context.Context, events []event.Envelope, now time.Time) error
	ana   int64
	bob   int64
}

// step yields one event of the script; commands name rows by their ids in
// the side's own database, found through natural keys.
type step func(s *twoPathSide) event.Envelope

func newTwoPathSide(t *testing.T, oneByOne bool) *twoPathSide {
	t.Helper()
	ctx := context.Background()
	f := newApplyFixture(t)
	s := &twoPathSide{f: f, apply: f.store.Apply}
	if oneByOne {
		s.apply = f.store.ApplyOneByOne
	}
	s.ana, s.bob = f.agent("ana"), f.agent("bob")
	window := 60
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true,
		ReassignAfterSeconds: &window, ReassignMax: 1, ReassignOnAway: true}, []int64{s.ana, s.bob})
	if err != nil {
		t.Fatal(err)
	}
	day := 86400 // auto-resolve deadlines follow every message, on both paths alike
	sla := 120   // both paths store the first-response deadline the same
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID},
		AutoResolveAfterSeconds: &day, ClosingMessage: "Bye!", FirstResponseSLASeconds: &sla}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *twoPathSide) outbox(wamid, kind string) (outboxID, messageID int64) {
	s.f.t.Helper()
	row := s.f.conn.QueryRow(`SELECT id, message_id FROM outbox WHERE conversation_id = $1 AND kind = $2 ORDER BY id LIMIT 1`,
		s.f.conversationOf(wamid), kind)
	if err := row.Scan(&outboxID, &messageID); err != nil {
		s.f.t.Fatalf("outbox %s of %s: %v", kind, wamid, err)
	}
	return outboxID, messageID
}

func fixed(e event.Envelope) step { return func(*twoPathSide) event.Envelope { return e } }

// cmd is a command on the partition of the contact that sent wamid.
func cmd(id, wamid string, p func(s *twoPathSide) event.Payload) step {
	return func(s *twoPathSide) event.Envelope {
		e, err := event.NewCommand(id, s.f.key(s.f.contactOf(wamid)), p(s), time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
		if err != nil {
			s.f.t.Fatal(err)
		}
		return e
	}
}

// timerCmd is the command of the no-reply deadline of the conversation
// that holds wamid, as the scheduler publishes it when it falls due.
func timerCmd(wamid string) step {
	return func(s *twoPathSide) event.Envelope {
		conv := s.f.conversationOf(wamid)
		var due time.Time
		if err := s.f.conn.Get(&due, `SELECT due_at FROM conversation_timers WHERE conversation_id = $1 AND kind = 'no_reply'`, conv); err != nil {
			s.f.t.Fatalf("the no-reply deadline of %s: %v", wamid, err)
		}
		c := event.TimerCommand{ConversationID: conv, Kind: assigner.TimerNoReply, DueAt: due}
		e, err := event.NewCommand(event.TimerID(c), s.f.key(s.f.contactOf(wamid)), c, due)
		if err != nil {
			s.f.t.Fatal(err)
		}
		return e
	}
}

// awayThen sets the agent named away (a write outside the partitions, as
// the API makes it) and yields e.
func awayThen(agent string, e event.Envelope) step {
	return func(s *twoPathSide) event.Envelope {
		id := s.ana
		if agent == "bob" {
			id = s.bob
		}
		if _, err := s.f.store.SetPresence(context.Background(), id, assigner.PresenceAway, time.Now()); err != nil {
			s.f.t.Fatal(err)
		}
		return e
	}
}

// twoPathScript is the event script, in batches. A nil batch blocks the
// contact of wamid.B1.
func twoPathScript(f *applyFixture) [][]step {
	ann := who{wa: "31611110001", user: "NL.7000000000000000001"}
	ben := who{wa: "31611110002"}
	cas := who{user: "NL.7000000000000000003"}
	dee := who{wa: "31611110004"} // to be blocked
	conv := func(w string) func(s *twoPathSide) int64 {
		return func(s *twoPathSide) int64 { return s.f.conversationOf(w) }
	}
	return [][]step{
		{ // a burst opening one conversation, with a redelivery, and two other contacts
			fixed(f.message(ann, "wamid.A1", "hello")), fixed(f.message(ann, "wamid.A2", "are you there")),
			fixed(f.message(ben, "wamid.N1", "hi")), fixed(f.message(ann, "wamid.A1", "hello")),
			fixed(f.message(cas, "wamid.C1", "user id only")), fixed(f.message(ann, "wamid.A3", "third")),
			fixed(f.message(dee, "wamid.B1", "soon blocked")),
		},
		{ // redeliveries across batches, a status for an unknown wamid, a notice
			fixed(f.message(ben, "wamid.N1", "hi")), fixed(f.message(ben, "wamid.N2", "again")),
			fixed(f.status(ben, "wamid.UNKNOWN", "delivered")), fixed(f.userPreference(cas)),
			fixed(f.message(cas, "wamid.C2", "more")),
		},
		{ // commands
			cmd("cmd_assign", "wamid.N1", func(s *twoPathSide) event.Payload {
				return event.AssignCommand{ConversationID: conv("wamid.N1")(s), AgentIDs: []int64{s.bob}, Mode: assigner.ModeReplace,
					By: assigner.Actor{AgentID: s.ana, Admin: true}}
			}),
			cmd("cmd_claim", "wamid.C1", func(s *twoPathSide) event.Payload {
				return event.ClaimCommand{ConversationID: conv("wamid.C1")(s), AgentID: s.ana}
			}),
			cmd("cmd_owners", "wamid.A1", func(s *twoPathSide) event.Payload {
				return event.SetOwnersCommand{ContactID: s.f.contactOf("wamid.A1"), AgentIDs: []int64{s.ana},
					By: assigner.Actor{AgentID: s.ana, Admin: true}}
			}),
			cmd("cmd_reply", "wamid.A1", func(s *twoPathSide) event.Payload {
				return event.ReplyCommand{ConversationID: conv("wamid.A1")(s), AgentID: s.ana, Text: "how can I help"}
			}),
			cmd("cmd_read", "wamid.N1", func(s *twoPathSide) event.Payload {
				return event.MarkReadCommand{ConversationID: conv("wamid.N1")(s)}
			}),
			fixed(f.message(ann, "wamid.A4", "after the commands")),
		},
		{ // the relay's result for the reply
			cmd("cmd_sent", "wamid.A1", func(s *twoPathSide) event.Payload {
				ob, msg := s.outbox("wamid.A1", "reply")
				return event.SendResultCommand{OutboxID: ob, MessageID: msg, WAMID: "wamid.OUT1", AcceptedAt: "2025-03-01T12:00:00Z"}
			}),
		},
		{ // statuses out of order, with duplicates, among messages
			fixed(f.status(ann, "wamid.OUT1", "read")), fixed(f.message(ben, "wamid.N3", "status mix")),
			fixed(f.status(ann, "wamid.OUT1", "delivered")), fixed(f.status(ann, "wamid.OUT1", "sent")),
			fixed(f.status(ann, "wamid.OUT1", "read")), fixed(f.message(cas, "wamid.C3", "status mix too")),
		},
		nil, // block dee
		{ // held: messages and a status of the blocked contact, others flow
			fixed(f.message(dee, "wamid.B2", "held one")), fixed(f.message(ann, "wamid.A5", "flows")),
			fixed(f.message(dee, "wamid.B3", "held two")), fixed(f.status(dee, "wamid.UNKNOWN2", "sent")),
			fixed(f.message(ben, "wamid.N4", "flows too")),
		},
		{
			cmd("cmd_resolve", "wamid.C1", func(s *twoPathSide) event.Payload {
				return event.ResolveCommand{ConversationID: conv("wamid.C1")(s), By: assigner.Actor{AgentID: s.ana}}
			}),
			cmd("cmd_release", "wamid.B1", func(s *twoPathSide) event.Payload {
				return event.ReleaseCommand{ContactID: s.f.contactOf("wamid.B1")}
			}),
		},
		{ // after the release and the resolve: new messages, a new conversation
			fixed(f.message(dee, "wamid.B4", "released")), fixed(f.message(cas, "wamid.C4", "reopens")),
			fixed(f.message(cas, "wamid.C5", "burst")), fixed(f.message(ann, "wamid.A6", "last")),
		},
		{ // a no-reply deadline falls due among messages
			fixed(f.message(ben, "wamid.N5", "before the deadline")), timerCmd("wamid.C4"),
			fixed(f.message(cas, "wamid.C6", "after the deadline")), fixed(f.message(ben, "wamid.N6", "and another")),
		},
		{ // a snooze, then the contact writes: its deadline moves to now
			cmd("cmd_snooze", "wamid.N1", func(s *twoPathSide) event.Payload {
				return event.SnoozeCommand{ConversationID: conv("wamid.N1")(s), Until: time.Date(2025, 3, 1, 14, 0, 0, 0, time.UTC)}
			}),
			fixed(f.message(ben, "wamid.N6b", "wake up")), fixed(f.message(cas, "wamid.C6b", "meanwhile")),
		},
		{ // the agents go away; contacts write while they are
			awayThen("ana", f.message(ann, "wamid.A7", "anyone?")), awayThen("bob", f.message(cas, "wamid.C7", "hello?")),
			fixed(f.message(dee, "wamid.B5", "me too")), fixed(f.message(ben, "wamid.N7", "and me")),
		},
	}
}

// twoPathTables reads every row the apply engine writes, surrogate ids
// replaced by natural keys and row-creation clocks left out.
var twoPathTables = map[string]string{
	"contacts": `SELECT (to_jsonb(c) - 'id' - 'created_at' - 'updated_at' - 'blocked_at'
		|| jsonb_build_object('blocked', c.blocked_at IS NOT NULL))::text FROM contacts c ORDER BY c.key`,
	"conversations": `SELECT (to_jsonb(v) - 'id' - 'contact_id' - 'created_at' || jsonb_build_object('contact', c.key))::text
		FROM conversations v JOIN contacts c ON c.id = v.contact_id ORDER BY c.key, v.opened_at, v.opened_by`,
	"conversation_assignees": `SELECT (to_jsonb(a) - 'conversation_id' - 'added_at' || jsonb_build_object('conversation', v.opened_by))::text
		FROM conversation_assignees a JOIN conversations v ON v.id = a.conversation_id ORDER BY v.opened_by, a.agent_id`,
	"messages": `SELECT (to_jsonb(m) - 'id' - 'contact_id' - 'conversation_id' - 'stored_at'
		|| jsonb_build_object('contact', c.key, 'conversation', v.opened_by))::text
		FROM messages m JOIN contacts c ON c.id = m.contact_id LEFT JOIN conversations v ON v.id = m.conversation_id
		ORDER BY c.key, m.id`,
	"statuses": `SELECT to_jsonb(s)::text FROM statuses s ORDER BY 1`,
	"outbox": `SELECT (to_jsonb(o) - 'id' - 'contact_id' - 'conversation_id' - 'message_id' - 'created_at' - 'next_attempt_at'
		|| jsonb_build_object('conversation', v.opened_by, 'message', m.body))::text
		FROM outbox o JOIN messages m ON m.id = o.message_id LEFT JOIN conversations v ON v.id = o.conversation_id
		ORDER BY o.contact_key, o.id`,
	"decisions": `SELECT (to_jsonb(d) - 'id' - 'conversation_id' - 'created_at' - 'decision'
		|| jsonb_build_object('conversation', v.opened_by))::text
		FROM decisions d JOIN conversations v ON v.id = d.conversation_id ORDER BY v.opened_by, d.id`,
	"processed_events": `SELECT (to_jsonb(p) - 'processed_at')::text FROM processed_events p ORDER BY 1`,
	"command_results":  `SELECT (to_jsonb(r) - 'created_at')::text FROM command_results r ORDER BY 1`,
	"held_events": `SELECT (to_jsonb(h) - 'id' - 'contact_id' - 'held_at' - 'envelope' || jsonb_build_object('contact', c.key))::text
		FROM held_events h JOIN contacts c ON c.id = h.contact_id ORDER BY c.key, h.id`,
	"notices":      `SELECT to_jsonb(n)::text FROM notices n ORDER BY 1`,
	"agents":       `SELECT format('%s %s', a.name, a.open_count) FROM agents a ORDER BY a.id`,
	"team_members": `SELECT format('%s %s %s', m.team_id, m.agent_id, m.last_assigned_at) FROM team_members m ORDER BY 1`,
	// Away deadlines set by SetPresence carry its clock, not the batch's.
	"conversation_timers": `SELECT (to_jsonb(t) - 'conversation_id' - 'created_at' - 'excluded' - 'due_at'
		|| jsonb_build_object('conversation', v.opened_by, 'due_at', CASE WHEN t.kind = 'away' THEN NULL ELSE t.due_at END,
			'excluded', (SELECT array_agg(a.name ORDER BY a.name) FROM agents a WHERE a.id = ANY(t.excluded))))::text
		FROM conversation_timers t JOIN conversations v ON v.id = t.conversation_id ORDER BY v.opened_by, t.kind`,
}

func (s *twoPathSide) rows(query string) []string {
	s.f.t.Helper()
	var out []string
	if err := s.f.conn.Select(&out, query); err != nil {
		s.f.t.Fatalf("%s: %v", query, err)
	}
	return out
}

// runTwoPaths applies the batches of script to a bulk side and a
// one-by-one side and fails on any row that differs after a batch. A nil
// batch blocks the contact of wamid.B1. It returns the bulk side and the
// tables that held rows after some batch.
func runTwoPaths(t *testing.T, script func(f *applyFixture) [][]step) (*twoPathSide, map[string]bool) {
	t.Helper()
	ctx := context.Background()
	bulk, single := newTwoPathSide(t, false), newTwoPathSide(t, true)
	batches := script(bulk.f)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for i, steps := range batches {
		now = now.Add(time.Minute)
		for _, s := range []*twoPathSide{bulk, single} {
			if steps == nil {
				if err := s.f.store.Block(ctx, s.f.key(s.f.contactOf("wamid.B1")), "test: a poison event"); err != nil {
					t.Fatal(err)
				}
				continue
			}
			events := make([]event.Envelope, len(steps))
			for j, st := range steps {
				events[j] = st(s)
			}
			if err := s.apply(ctx, events, now); err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		compareTwoPaths(t, i, bulk, single, seen)
	}
	return bulk, seen
}

// The bulk fast path and the one-by-one path have the same effect: the
// same script, in the same batches at the same time, leaves the same rows.
func TestBulkAndOneByOneLeaveTheSameRows(t *testing.T) {
	bulk, seen := runTwoPaths(t, twoPathScript)
	for table := range twoPathTables {
		if !seen[table] {
			t.Errorf("%s: no rows after any batch", table)
		}
	}
	if n := bulk.f.count(`SELECT count(*) FROM decisions WHERE rule LIKE 'no_reply_reassign, %'`); n != 1 {
		t.Errorf("%d reassignments by the no-reply deadline, want 1", n)
	}
	if n := bulk.f.count(`SELECT count(*) FROM conversation_timers WHERE kind = 'snooze' AND due_at < '2025-03-01T14:00:00Z'`); n != 1 {
		t.Errorf("%d snooze deadlines moved by the contact's message, want 1", n)
	}
	if n := bulk.f.count(`SELECT count(*) FROM conversation_timers WHERE kind = 'auto_resolve'`); n == 0 {
		t.Error("no auto-resolve deadline")
	}
}

// compareTwoPaths fails the test on any row that differs between the sides,
// and notes the tables that hold rows.
func compareTwoPaths(t *testing.T, batch int, bulk, single *twoPathSide, seen map[string]bool) {
	t.Helper()
	for table, query := range twoPathTables {
		a, b := bulk.rows(query), single.rows(query)
		seen[table] = seen[table] || len(a) > 0
		if d := diffRows(a, b); d != "" {
			t.Errorf("after batch %d, %s differs (bulk vs one by one):\n%s", batch, table, d)
		}
	}
}

func diffRows(a, b []string) string { return diffRowsAs(a, b, "bulk:  ", "single:") }

// diffRowsAs lists the rows that differ, a's labelled la and b's lb.
func diffRowsAs(a, b []string, la, lb string) string {
	var out strings.Builder
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			fmt.Fprintf(&out, "  row %d\n    %s %s\n    %s %s\n", i, la, x, lb, y)
		}
	}
	return out.String()
}

// TestBulkRedeliveryAfterResolveOpensNothing: the fast path inserts the
// conversations a batch's messages open before the messages themselves. A
// redelivered message, stored already, whose conversation was resolved
// since would open one; it stays a duplicate that opens nothing, and the
// batch's new messages are applied as usual.
func TestBulkRedeliveryAfterResolveOpensNothing(t *testing.T) {
	f := newApplyFixture(t)
	u := who{wa: "31611110000"}
	first := f.message(u, "wamid.first", "hello")
	f.apply(first)
	conv := f.conversationOf("wamid.first")
	f.apply(f.command(u.wa, "cmd_resolve", event.CmdResolve, event.ResolveCommand{ConversationID: conv}))
	f.apply(first, f.message(who{wa: "31622220000"}, "wamid.other", "hi"), f.message(who{wa: "31633330000"}, "wamid.third", "hey"))
	if n := f.count(`SELECT count(*) FROM conversations WHERE contact_id = $1`, f.contactOf("wamid.first")); n != 1 {
		t.Errorf("%d conversations of the redelivering contact, want 1 (the resolved one)", n)
	}
	if n := f.count(`SELECT count(*) FROM messages WHERE wamid = 'wamid.first'`); n != 1 {
		t.Errorf("wamid.first stored %d times, want once", n)
	}
	for _, w := range []string{"wamid.other", "wamid.third"} {
		if f.conversationOf(w) == 0 {
			t.Errorf("%s joined no conversation", w)
		}
	}
}
