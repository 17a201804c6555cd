package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// reassignTeam makes a round-robin team of the agents with the no-reply
// rule on (window seconds) and routes the fixture's inbox to it.
func (f *applyFixture) reassignTeam(seconds, maxN int, exhausted assigner.ReassignExhausted, agents ...int64) int64 {
	f.t.Helper()
	ctx := context.Background()
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true,
		ReassignAfterSeconds: &seconds, ReassignMax: maxN, ReassignExhausted: exhausted}, agents)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID}}); err != nil {
		f.t.Fatal(err)
	}
	return team.ID
}

// timerRow is a conversation's stored deadline of a kind.
type timerRow struct {
	DueAt    time.Time `db:"due_at"`
	Round    int       `db:"round"`
	Excluded string    `db:"excluded"`
}

func (f *applyFixture) timer(convID int64, kind assigner.TimerKind) (timerRow, bool) {
	f.t.Helper()
	var rows []timerRow
	if err := f.conn.Select(&rows, `SELECT due_at, round, excluded::text AS excluded FROM conversation_timers
		WHERE conversation_id = $1 AND kind = $2`, convID, string(kind)); err != nil {
		f.t.Fatal(err)
	}
	if len(rows) == 0 {
		return timerRow{}, false
	}
	return rows[0], true
}

// fire lists the deadlines due at at and returns the command of the
// conversation's one, as the scheduler would publish it.
func (f *applyFixture) fire(convID int64, at time.Time) event.Envelope {
	f.t.Helper()
	due, _, err := f.store.DueTimers(context.Background(), at, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, r := range due {
		if r.ConversationID == convID {
			cmd := event.TimerCommand{ConversationID: r.ConversationID, Kind: r.Kind, DueAt: r.DueAt}
			env, err := event.NewCommand(event.TimerID(cmd), r.ContactKey, cmd, at)
			if err != nil {
				f.t.Fatal(err)
			}
			return env
		}
	}
	f.t.Fatalf("no deadline of conversation %d is due at %v: %+v", convID, at, due)
	return event.Envelope{}
}

func (f *applyFixture) assignees(convID int64) map[int64]string {
	f.t.Helper()
	var rows []struct {
		Agent  int64  `db:"agent_id"`
		Source string `db:"source"`
	}
	if err := f.conn.Select(&rows, `SELECT agent_id, source FROM conversation_assignees WHERE conversation_id = $1`, convID); err != nil {
		f.t.Fatal(err)
	}
	out := map[int64]string{}
	for _, r := range rows {
		out[r.Agent] = r.Source
	}
	return out
}

// The no-reply deadline: set with the strategy's pick, listed when due,
// applied once (a second copy, and a copy of a deadline that moved, change
// nothing), and moved to the new assignee with the late one excluded.
func TestNoReplyDeadlineReassigns(t *testing.T) {
	f := newApplyFixture(t)
	ana, bob, cid := f.agent("Ana"), f.agent("Bob"), f.agent("Cid")
	f.reassignTeam(60, 2, "", ana, bob, cid)
	before := time.Now()
	f.apply(f.message(who{user: "NL.9100000000000000001"}, "wamid.NR1", "hello"))
	conv := f.conversationOf("wamid.NR1")
	if got := f.assignees(conv); got[ana] != "round_robin" || len(got) != 1 {
		t.Fatalf("assignees %v, want Ana by round robin", got)
	}
	tm, ok := f.timer(conv, assigner.TimerNoReply)
	if !ok || tm.DueAt.Before(before.Add(60*time.Second)) || tm.DueAt.After(time.Now().Add(60*time.Second)) || tm.Round != 0 {
		t.Fatalf("no-reply deadline %+v (%v), want 60 s after the opening", tm, ok)
	}
	ctx := context.Background()
	if due, next, err := f.store.DueTimers(ctx, time.Now(), 100); err != nil || len(due) != 0 || next == nil || !next.Equal(tm.DueAt) {
		t.Fatalf("before the deadline: due %+v, next %v, %v; want none due and next %v", due, next, err, tm.DueAt)
	}

	cmd := f.fire(conv, tm.DueAt.Add(time.Second))
	f.apply(cmd)
	if got := f.assignees(conv); got[bob] != "round_robin" || len(got) != 1 {
		t.Fatalf("after the deadline: assignees %v, want Bob by round robin", got)
	}
	moved, ok := f.timer(conv, assigner.TimerNoReply)
	if !ok || moved.Round != 1 || moved.Excluded != "{"+itoa(ana)+"}" || !moved.DueAt.After(tm.DueAt) {
		t.Fatalf("the deadline after the reassignment: %+v (%v), want round 1 excluding Ana", moved, ok)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'no_reply_reassign, round_robin'
		AND decision->'reasons' @> '[{"code":"no_reply"}]'`, conv); n != 1 {
		t.Errorf("%d no_reply_reassign decisions, want 1", n)
	}
	if n := f.count(`SELECT open_count FROM agents WHERE id = $1`, ana); n != 0 {
		t.Errorf("Ana's open count %d after losing the conversation, want 0", n)
	}

	// The same command again, and the old deadline under another id: nothing.
	f.apply(cmd)
	stale := cmd
	stale.ID += ":copy"
	f.apply(stale)
	if kind, _, _ := f.result(stale.ID); kind != assigner.OutcomeUnchanged {
		t.Errorf("a deadline that moved was applied: %s", kind)
	}
	if got := f.assignees(conv); got[bob] != "round_robin" || len(got) != 1 {
		t.Errorf("after the copies: assignees %v, want still Bob", got)
	}

	// Bob does not reply either: Cid, Ana and Bob excluded.
	f.apply(f.fire(conv, moved.DueAt.Add(time.Second)))
	if got := f.assignees(conv); got[cid] != "round_robin" || len(got) != 1 {
		t.Fatalf("second deadline: assignees %v, want Cid", got)
	}
	last, _ := f.timer(conv, assigner.TimerNoReply)
	if last.Round != 2 || last.Excluded != "{"+itoa(ana)+","+itoa(bob)+"}" {
		t.Errorf("third deadline %+v, want round 2 excluding Ana and Bob", last)
	}
	// Exhausted (reassign_max 2, keep): Cid keeps it, no new deadline.
	f.apply(f.fire(conv, last.DueAt.Add(time.Second)))
	if got := f.assignees(conv); got[cid] != "round_robin" || len(got) != 1 {
		t.Errorf("exhausted: assignees %v, want Cid kept", got)
	}
	if _, ok := f.timer(conv, assigner.TimerNoReply); ok {
		t.Error("a deadline is left after the reassignments were exhausted")
	}
}

// replyAccepted makes agent reply in the conversation of wamid and the
// Cloud API accept it; between, it calls queued.
func (f *applyFixture) replyAccepted(wamid string, agent int64, queued func()) {
	f.t.Helper()
	f.apply(f.replyRecorded(wamid, agent, queued, time.Time{}))
}

// replyRecorded queues an agent's reply in the conversation of wamid,
// calls queued (if any), and returns the result command of its send
// without applying it. With accepted set, the relay's record of the
// send (the outbox row sent at accepted) comes first, as the relay
// records a send before it reports it; otherwise the result says now.
func (f *applyFixture) replyRecorded(wamid string, agent int64, queued func(), accepted time.Time) event.Envelope {
	f.t.Helper()
	conv, key := f.conversationOf(wamid), f.key(f.contactOf(wamid))
	f.seq++
	id := fmt.Sprintf("cmd_reply_%d", f.seq)
	f.apply(f.command(key, id, event.CmdReply, event.ReplyCommand{ConversationID: conv, AgentID: agent, Text: "on it"}))
	kind, code, value := f.result(id)
	if kind != assigner.OutcomeReplyQueued {
		f.t.Fatalf("reply: %s %s %s", kind, code, value)
	}
	var q assigner.ReplyQueued
	json.Unmarshal([]byte(value), &q)
	if queued != nil {
		queued()
	}
	var outbox int64
	if err := f.conn.Get(&outbox, `SELECT id FROM outbox WHERE message_id = $1`, q.MessageID); err != nil {
		f.t.Fatal(err)
	}
	wamidOut, at := fmt.Sprintf("wamid.OUT.%d", f.seq), time.Now()
	if !accepted.IsZero() {
		at = accepted
		if err := f.store.OutboxSent(context.Background(), []assigner.OutboxSend{{ID: outbox, WAMID: wamidOut, SentAt: at}}); err != nil {
			f.t.Fatal(err)
		}
	}
	return f.command(key, event.ResultID(outbox), event.CmdSendResult, event.SendResultCommand{OutboxID: outbox, MessageID: q.MessageID,
		WAMID: wamidOut, AcceptedAt: at.Format(time.RFC3339Nano)})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A reply the Cloud API accepted, and a resolve, cancel the deadline in
// their own transaction; so does it when a batch opens several
// conversations at once on the fast path.
func TestNoReplyDeadlineCancelled(t *testing.T) {
	f := newApplyFixture(t)
	ana, bob := f.agent("Ana"), f.agent("Bob")
	f.reassignTeam(60, 1, "", ana, bob)
	u1, u2 := who{user: "NL.9100000000000000011"}, who{user: "NL.9100000000000000012"}
	f.apply(f.message(u1, "wamid.NRC1", "one"), f.message(u2, "wamid.NRC2", "two")) // the fast path
	c1, c2 := f.conversationOf("wamid.NRC1"), f.conversationOf("wamid.NRC2")
	for _, c := range []int64{c1, c2} {
		if _, ok := f.timer(c, assigner.TimerNoReply); !ok {
			t.Fatalf("conversation %d opened on the fast path has no deadline", c)
		}
	}
	if f.count(`SELECT count(DISTINCT agent_id) FROM conversation_assignees WHERE conversation_id IN ($1, $2)`, c1, c2) != 2 {
		t.Fatal("round robin did not spread the two conversations")
	}
	var replier int64
	for id := range f.assignees(c1) {
		replier = id
	}
	f.replyAccepted("wamid.NRC1", replier, func() {
		if _, ok := f.timer(c1, assigner.TimerNoReply); !ok {
			t.Fatal("a reply not yet accepted by the Cloud API cancelled the deadline")
		}
	})
	if _, ok := f.timer(c1, assigner.TimerNoReply); ok {
		t.Error("the accepted reply left the deadline")
	}
	f.apply(f.command(f.key(f.contactOf("wamid.NRC2")), "cmd_resolve_nr", event.CmdResolve, event.ResolveCommand{ConversationID: c2}))
	if _, ok := f.timer(c2, assigner.TimerNoReply); ok {
		t.Error("the resolve left the deadline")
	}
	if n := f.count(`SELECT count(*) FROM conversation_timers`); n != 0 {
		t.Errorf("%d deadlines left", n)
	}
}
