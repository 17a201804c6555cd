package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// An agent's reply the Cloud API accepted before the deadlines, recorded
// by the relay, whose result reaches the partition after the deadlines'
// commands: the no-reply deadline reassigns nobody, the first-response
// SLA is not breached, and the auto-resolve deadline moves to the window
// after the reply instead of resolving the conversation under it.
func TestDeadlinesCountSendsRecordedBeforeTheirResults(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	ana, bob := f.agent("Ana"), f.agent("Bob")
	noReply, sla, quiet := 60, 120, 3600
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true,
		ReassignAfterSeconds: &noReply, ReassignMax: 1}, []int64{ana, bob})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID},
		FirstResponseSLASeconds: &sla, AutoResolveAfterSeconds: &quiet, ClosingMessage: "Bye!"}); err != nil {
		t.Fatal(err)
	}
	f.apply(f.message(who{user: "NL.950000000000000051"}, "wamid.SENT1", "hello?"))
	conv := f.conversationOf("wamid.SENT1")
	agent := f.onlyAssignee(conv)
	v, err := f.store.Conversation(ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	accepted := v.OpenedAt.Add(30 * time.Second)
	result := f.replyRecorded("wamid.SENT1", agent, nil, accepted)

	at := func(kind assigner.TimerKind) time.Time {
		t.Helper()
		tm, ok := f.timer(conv, kind)
		if !ok {
			t.Fatalf("no %s deadline", kind)
		}
		return tm.DueAt
	}
	key := f.key(f.contactOf("wamid.SENT1"))
	decide := func(kind assigner.TimerKind) { // its command, whichever falls due first
		t.Helper()
		cmd := event.TimerCommand{ConversationID: conv, Kind: kind, DueAt: at(kind)}
		env, err := event.NewCommand(event.TimerID(cmd), key, cmd, cmd.DueAt)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.Apply(ctx, []event.Envelope{env}, cmd.DueAt.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	decide(assigner.TimerNoReply)
	if got := f.onlyAssignee(conv); got != agent {
		t.Errorf("the no-reply deadline gave the conversation to %d; %d's reply was accepted at %v, before it", got, agent, accepted)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'no_reply_reassign'
		AND decision->'reasons' @> '[{"code":"replied"}]'`, conv); n != 1 {
		t.Errorf("%d no_reply_reassign decisions saying the agent replied, want 1", n)
	}

	decide(assigner.TimerSLA)
	if v, _ := f.store.Conversation(ctx, conv); v.SLABreached {
		t.Errorf("the SLA was recorded breached; the reply was accepted at %v, %v before its deadline", accepted, v.FirstResponseDueAt.Sub(accepted))
	}

	arDue := at(assigner.TimerAutoResolve)
	decide(assigner.TimerAutoResolve)
	if n := f.count(`SELECT count(*) FROM conversations WHERE id = $1 AND status = 'open'`, conv); n != 1 {
		t.Fatalf("the conversation was resolved at %v, under a reply accepted at %v", arDue, accepted)
	}
	if got, want := at(assigner.TimerAutoResolve), accepted.Add(time.Hour); !got.Equal(want) {
		t.Errorf("auto-resolve deadline %v, want %v: an hour after the reply", got, want)
	}
	if n := f.count(`SELECT count(*) FROM outbox WHERE conversation_id = $1 AND kind = 'closing'`, conv); n != 0 {
		t.Errorf("%d closing messages queued", n)
	}

	// The result, applied last, records the first reply and keeps the deadline.
	f.apply(result)
	v, _ = f.store.Conversation(ctx, conv)
	if v.FirstReplyAt == nil || !v.FirstReplyAt.Equal(accepted) || v.SLABreached {
		t.Errorf("after the result: first reply %v (want %v), breached %v", v.FirstReplyAt, accepted, v.SLABreached)
	}
	if got, want := at(assigner.TimerAutoResolve), accepted.Add(time.Hour); !got.Equal(want) {
		t.Errorf("auto-resolve deadline %v after the result, want %v", got, want)
	}
}

// An agent answers and goes away before the result of the reply's send is
// applied: the away deadline finds the relay's record of the send, and the
// answered conversation stays with the agent.
func TestAwayCountsARecordedReply(t *testing.T) {
	f := newApplyFixture(t)
	conv, agent := f.awayConversation("NL.950000000000000061", "wamid.SENTA1")
	result := f.replyRecorded("wamid.SENTA1", agent, nil, time.Now().Truncate(time.Microsecond))
	f.presence(agent, assigner.PresenceAway)
	f.apply(f.fire(conv, time.Now()))
	if got := f.assignees(conv); len(got) != 1 || got[agent] != "round_robin" {
		t.Errorf("assignees %v after the away deadline, want still %d, who answered", got, agent)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND decision->'reasons' @> '[{"code":"answered"}]'`, conv); n != 1 {
		t.Errorf("%d decisions saying the agent answered, want 1", n)
	}
	f.apply(result)
	if got := f.assignees(conv); len(got) != 1 || got[agent] != "round_robin" {
		t.Errorf("assignees %v after the result, want still %d", got, agent)
	}
}

// A send whose result was applied moved the auto-resolve deadline then;
// when the deadline falls due it is not judged again. The inbox's window,
// lengthened since, applies from the conversation's next message: the
// conversation is resolved at the deadline the reply set.
func TestAutoResolveJudgesNoAppliedSendAgain(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	ana := f.agent("Ana")
	f.rule3Inbox(3600, "", 0, ana)
	f.apply(f.message(who{user: "NL.950000000000000071"}, "wamid.SENTW1", "hi"))
	conv := f.conversationOf("wamid.SENTW1")
	accepted := time.Now().Truncate(time.Microsecond)
	f.apply(f.replyRecorded("wamid.SENTW1", ana, nil, accepted))
	day := 86400
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, AutoResolveAfterSeconds: &day}); err != nil {
		t.Fatal(err)
	}
	tm, ok := f.timer(conv, assigner.TimerAutoResolve)
	if !ok || !tm.DueAt.Equal(accepted.Add(time.Hour)) {
		t.Fatalf("auto-resolve deadline %v (%v), want %v: an hour after the reply", tm.DueAt, ok, accepted.Add(time.Hour))
	}
	at := tm.DueAt.Add(time.Second)
	if err := f.store.Apply(ctx, []event.Envelope{f.fire(conv, at)}, at); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM conversations WHERE id = $1 AND status = 'resolved'`, conv); n != 1 {
		t.Errorf("the conversation is open after its deadline; the reply's result was applied before it")
	}
}

// An agent goes away, then answers: the reply, accepted after the away
// deadline, does not count when its command comes after the relay's
// record; the contact was still waiting at the deadline.
func TestAwayCountsNoReplyAcceptedAfterIt(t *testing.T) {
	f := newApplyFixture(t)
	conv, agent := f.awayConversation("NL.950000000000000062", "wamid.SENTA2")
	f.presence(agent, assigner.PresenceAway)
	tm, ok := f.timer(conv, assigner.TimerAway)
	if !ok {
		t.Fatal("no away deadline")
	}
	f.replyRecorded("wamid.SENTA2", agent, nil, tm.DueAt.Add(time.Second))
	at := tm.DueAt.Add(2 * time.Second)
	if err := f.store.Apply(context.Background(), []event.Envelope{f.fire(conv, at)}, at); err != nil {
		t.Fatal(err)
	}
	if got := f.assignees(conv); len(got) != 1 || got[agent] != "" {
		t.Errorf("assignees %v after the away deadline, want the conversation taken from %d, who answered after it", got, agent)
	}
}

// awayConversation opens a conversation of user with a message wamid in
// an away team of two agents, and gives it with the agent it went to.
func (f *applyFixture) awayConversation(user, wamid string) (conv, agent int64) {
	f.t.Helper()
	f.awayTeam(f.agent("Ana"), f.agent("Bob"))
	f.apply(f.message(who{user: user}, wamid, "hi"))
	conv = f.conversationOf(wamid)
	return conv, f.onlyAssignee(conv)
}
