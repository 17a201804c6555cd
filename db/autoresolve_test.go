package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// rule3Inbox routes the fixture's inbox to an online-only round-robin team
// of the agents, with the auto-resolve window (seconds, 0: off), closing
// message and sticky days (0: off) given.
func (f *applyFixture) rule3Inbox(seconds int, closing string, sticky int, agents ...int64) {
	f.t.Helper()
	ctx := context.Background()
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true, ReassignMax: 1}, agents)
	if err != nil {
		f.t.Fatal(err)
	}
	in := assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID}, ClosingMessage: closing}
	if seconds > 0 {
		in.AutoResolveAfterSeconds = &seconds
	}
	if sticky > 0 {
		in.StickyDays = &sticky
	}
	if _, err := f.store.PutInbox(ctx, in); err != nil {
		f.t.Fatal(err)
	}
}

// sentAt is the stored time of a message.
func (f *applyFixture) sentAt(wamid string) time.Time {
	f.t.Helper()
	var at time.Time
	if err := f.conn.Get(&at, `SELECT sent_at FROM messages WHERE wamid = $1`, wamid); err != nil {
		f.t.Fatal(err)
	}
	return at
}

// resolve resolves a conversation through the API's command.
func (f *applyFixture) resolve(conv int64) {
	f.t.Helper()
	var contact int64
	if err := f.conn.Get(&contact, `SELECT contact_id FROM conversations WHERE id = $1`, conv); err != nil {
		f.t.Fatal(err)
	}
	f.seq++
	id := fmt.Sprintf("cmd_resolve_%d", f.seq)
	f.apply(f.command(f.key(contact), id, event.CmdResolve, event.ResolveCommand{ConversationID: conv}))
	if kind, code, msg := f.result(id); kind != assigner.OutcomeDecided {
		f.t.Fatalf("resolve: %s %s %s", kind, code, msg)
	}
}

// Every message moves the deadline, in either direction and on both apply
// paths; a command for a deadline that moved does nothing; the one that
// is still due resolves the conversation and queues the closing message,
// once however often it is applied.
func TestAutoResolveDeadlineFollowsMessages(t *testing.T) {
	f := newApplyFixture(t)
	ana := f.agent("Ana")
	f.rule3Inbox(3600, "Bye!", 0, ana)
	u, other := who{user: "NL.950000000000000001"}, who{user: "NL.950000000000000002"}
	f.apply(f.message(u, "wamid.AR1", "hi")) // one by one, opening
	conv := f.conversationOf("wamid.AR1")
	due := func() time.Time {
		t.Helper()
		tm, ok := f.timer(conv, assigner.TimerAutoResolve)
		if !ok {
			t.Fatal("no auto-resolve deadline")
		}
		return tm.DueAt
	}
	if want := f.sentAt("wamid.AR1").Add(time.Hour); !due().Equal(want) {
		t.Fatalf("deadline %v after the opening message, want %v", due(), want)
	}
	first := due()
	f.conn.MustExec(`UPDATE conversation_timers SET due_at = due_at - interval '10 seconds' WHERE conversation_id = $1`, conv)
	f.apply(f.message(u, "wamid.AR2", "more"), f.message(other, "wamid.AR3", "other")) // the fast path
	// The message moves the deadline back to an hour after it was sent
	// (a second after the first one's when the clock ticked in between).
	if want := f.sentAt("wamid.AR2").Add(time.Hour); !due().Equal(want) {
		t.Fatalf("deadline %v after a message on the fast path, want %v", due(), want)
	}
	f.replyAccepted("wamid.AR1", ana, nil)
	afterReply := due()
	if !afterReply.After(first) || afterReply.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("deadline %v after the accepted reply, want about an hour from now", afterReply)
	}
	stale := event.TimerCommand{ConversationID: conv, Kind: assigner.TimerAutoResolve, DueAt: first}
	f.apply(f.command(f.key(f.contactOf("wamid.AR1")), event.TimerID(stale), event.CmdTimer, stale))
	if n := f.count(`SELECT count(*) FROM conversations WHERE id = $1 AND status = 'open'`, conv); n != 1 {
		t.Fatal("the command of a deadline that moved resolved the conversation")
	}

	fire := f.fire(conv, afterReply)
	f.apply(fire)
	f.apply(fire) // applied again (a replay, or published twice): decided once
	if n := f.count(`SELECT count(*) FROM conversations WHERE id = $1 AND status = 'resolved'`, conv); n != 1 {
		t.Fatal("the deadline did not resolve the conversation")
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'auto_resolve'
		AND decision->'reasons' @> '[{"code":"auto_resolved"},{"code":"closing"}]'`, conv); n != 1 {
		t.Errorf("%d auto_resolve decisions with a closing message, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id
		WHERE o.conversation_id = $1 AND o.kind = 'closing' AND m.body = 'Bye!' AND o.payload->'text'->>'body' = 'Bye!'`, conv); n != 1 {
		t.Errorf("%d closing messages queued, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM conversation_timers WHERE conversation_id = $1`, conv); n != 0 {
		t.Errorf("%d deadlines left on the resolved conversation", n)
	}
	if n := f.count(`SELECT open_count FROM agents WHERE id = $1`, ana); n != 1 { // the other contact's
		t.Errorf("Ana's open count %d, want 1", n)
	}
	// The closing message accepted by the Cloud API arms nothing: the
	// conversation is resolved.
	var outbox, msg int64
	if err := f.conn.QueryRow(`SELECT id, message_id FROM outbox WHERE conversation_id = $1 AND kind = 'closing'`, conv).Scan(&outbox, &msg); err != nil {
		t.Fatal(err)
	}
	f.apply(f.command(f.key(f.contactOf("wamid.AR1")), event.ResultID(outbox), event.CmdSendResult, event.SendResultCommand{OutboxID: outbox,
		MessageID: msg, WAMID: "wamid.CLOSING", AcceptedAt: time.Now().Format(time.RFC3339Nano)}))
	if n := f.count(`SELECT count(*) FROM conversation_timers WHERE conversation_id = $1`, conv); n != 0 {
		t.Errorf("the closing message set a deadline on the resolved conversation")
	}
}

// Outside the 24-hour window the conversation is resolved without the
// closing message, and the decision says why.
func TestAutoResolveClosingSkippedOutsideTheWindow(t *testing.T) {
	f := newApplyFixture(t)
	f.rule3Inbox(60, "Bye!", 0, f.agent("Ana"))
	f.apply(f.message(who{user: "NL.950000000000000003"}, "wamid.ARW1", "hi"))
	conv := f.conversationOf("wamid.ARW1")
	f.conn.MustExec(`UPDATE contacts SET last_inbound_at = now() - interval '25 hours' WHERE id = $1`, f.contactOf("wamid.ARW1"))
	tm, _ := f.timer(conv, assigner.TimerAutoResolve)
	f.apply(f.fire(conv, tm.DueAt))
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'auto_resolve' AND decision->>'resolved' = 'true'
		AND decision->'reasons' @> '[{"code":"closing_skipped"}]'`, conv); n != 1 {
		t.Errorf("%d auto_resolve decisions that skipped the closing message, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM outbox WHERE conversation_id = $1 AND kind = 'closing'`, conv); n != 0 {
		t.Errorf("%d closing messages queued outside the window", n)
	}
}

// The contact's next conversation goes to the agent of the previous one
// (not the one round robin would pick next), on the fast path too; when
// that agent is offline, round robin as usual.
func TestStickyAssignee(t *testing.T) {
	f := newApplyFixture(t)
	ana, bob := f.agent("Ana"), f.agent("Bob")
	f.rule3Inbox(0, "", 7, ana, bob)
	u, other := who{user: "NL.950000000000000004"}, who{user: "NL.950000000000000005"}
	f.apply(f.message(u, "wamid.ST1", "hi"))
	c1 := f.conversationOf("wamid.ST1")
	first := f.onlyAssignee(c1)
	f.resolve(c1)
	f.apply(f.message(u, "wamid.ST2", "again"), f.message(other, "wamid.ST3", "hello")) // the fast path
	c2 := f.conversationOf("wamid.ST2")
	if got := f.assignees(c2); got[first] != "sticky" || len(got) != 1 {
		t.Fatalf("second conversation: assignees %v, want %d (sticky)", got, first)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'sticky'`, c2); n != 1 {
		t.Errorf("%d sticky decisions, want 1", n)
	}
	f.resolve(c2)
	f.presence(first, assigner.PresenceOffline)
	f.apply(f.message(u, "wamid.ST4", "third"))
	c3 := f.conversationOf("wamid.ST4")
	if got := f.onlyAssignee(c3); got == first || f.assignees(c3)[got] != "round_robin" {
		t.Errorf("third conversation with the previous agent offline: assignees %v", f.assignees(c3))
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND decision->'reasons' @> '[{"code":"sticky_skipped"}]'`, c3); n != 1 {
		t.Errorf("the decision does not say why sticky was skipped")
	}
}

// Two openings in one batch whose previous conversations had the same
// agent, without a team: the second sees the first's assignment, so the
// agent's capacity holds.
func TestStickyRespectsCapacityWithinABatch(t *testing.T) {
	f := newApplyFixture(t)
	ana := f.agent("Ana")
	f.conn.MustExec(`UPDATE agents SET capacity = 1 WHERE id = $1`, ana)
	week := 7
	if _, err := f.store.PutInbox(context.Background(), assigner.Inbox{PhoneNumberID: applyInbox, StickyDays: &week}); err != nil {
		t.Fatal(err)
	}
	u1, u2 := who{user: "NL.950000000000000006"}, who{user: "NL.950000000000000007"}
	for i, u := range []who{u1, u2} {
		w := fmt.Sprintf("wamid.SC%d", i)
		f.apply(f.message(u, w, "hi"))
		conv := f.conversationOf(w)
		f.seq++
		id := fmt.Sprintf("cmd_claim_%d", f.seq)
		f.apply(f.command(f.key(f.contactOf(w)), id, event.CmdClaim, event.ClaimCommand{ConversationID: conv, AgentID: ana}))
		if kind, code, msg := f.result(id); kind != assigner.OutcomeDecided {
			t.Fatalf("claim: %s %s %s", kind, code, msg)
		}
		f.resolve(conv)
	}
	f.apply(f.message(u1, "wamid.SC2", "again"), f.message(u2, "wamid.SC3", "again")) // one batch
	a, b := f.assignees(f.conversationOf("wamid.SC2")), f.assignees(f.conversationOf("wamid.SC3"))
	if a[ana] != "sticky" || len(b) != 0 {
		t.Fatalf("assignees %v and %v, want Ana (sticky) on the first only", a, b)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1
		AND decision->'reasons' @> '[{"code":"sticky_skipped"}]' AND decision::text LIKE '%at capacity%'`, f.conversationOf("wamid.SC3")); n != 1 {
		t.Error("the second opening does not say the agent is at capacity")
	}
}
