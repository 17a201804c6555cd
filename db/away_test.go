package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
)

// awayTeam makes a round-robin team of the agents with reassign_on_away
// and routes the fixture's inbox to it.
func (f *applyFixture) awayTeam(agents ...int64) {
	f.t.Helper()
	ctx := context.Background()
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Away", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true,
		ReassignMax: 1, ReassignOnAway: true}, agents)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *applyFixture) presence(agent int64, p assigner.Presence) {
	f.t.Helper()
	if _, err := f.store.SetPresence(context.Background(), agent, p, time.Now()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *applyFixture) onlyAssignee(convID int64) int64 {
	f.t.Helper()
	as := f.assignees(convID)
	if len(as) != 1 {
		f.t.Fatalf("conversation %d has assignees %v, want one", convID, as)
	}
	for id := range as {
		return id
	}
	return 0
}

// Going away gives the waiting conversations back to the strategy, keeps
// the answered one until its contact writes again, and an agent back
// online before the deadline is applied keeps theirs.
func TestAwayReassigns(t *testing.T) {
	f := newApplyFixture(t)
	ana, bob := f.agent("Ana"), f.agent("Bob")
	f.awayTeam(ana, bob)
	// Four conversations: round robin gives Ana the 1st and 3rd.
	for _, w := range []string{"wamid.AW1", "wamid.AW2", "wamid.AW3", "wamid.AW4"} {
		f.apply(f.message(who{user: "NL.93000000000000000" + w[len(w)-1:]}, w, "hi"))
	}
	waiting, answered := f.conversationOf("wamid.AW1"), f.conversationOf("wamid.AW3")
	if f.onlyAssignee(waiting) != ana || f.onlyAssignee(answered) != ana {
		t.Fatalf("setup: Ana should have the 1st and 3rd conversations")
	}
	f.replyAccepted("wamid.AW3", ana, nil)

	f.presence(ana, assigner.PresenceAway)
	for _, c := range []int64{waiting, answered} {
		tm, ok := f.timer(c, assigner.TimerAway)
		if !ok || tm.Excluded != "{"+itoa(ana)+"}" || tm.DueAt.After(time.Now()) {
			t.Fatalf("conversation %d: away deadline %+v (%v), want one due now naming Ana", c, tm, ok)
		}
	}
	if n := f.count(`SELECT count(*) FROM conversation_timers WHERE kind = 'away'`); n != 2 {
		t.Errorf("%d away deadlines, want 2 (Bob's conversations have none)", n)
	}
	f.apply(f.fire(waiting, time.Now()))
	f.apply(f.fire(answered, time.Now()))
	if got := f.assignees(waiting); got[bob] != "round_robin" || len(got) != 1 {
		t.Errorf("waiting conversation: assignees %v, want Bob", got)
	}
	if got := f.assignees(answered); got[ana] != "round_robin" || len(got) != 1 {
		t.Errorf("answered conversation: assignees %v, want still Ana", got)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'away_reassign, round_robin'
		AND decision->'reasons' @> '[{"code":"away_reassign"}]'`, waiting); n != 1 {
		t.Errorf("%d away_reassign decisions for the waiting conversation, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND decision->'reasons' @> '[{"code":"answered"}]'`, answered); n != 1 {
		t.Errorf("the answered conversation's decision does not say why it stays")
	}

	// The contact of the answered one writes again while Ana is away (in a
	// batch of two messages: the fast path).
	f.apply(f.message(who{user: "NL.930000000000000003"}, "wamid.AW3b", "still there?"),
		f.message(who{user: "NL.930000000000000004"}, "wamid.AW4b", "and me"))
	if _, ok := f.timer(answered, assigner.TimerAway); !ok {
		t.Fatal("the contact wrote while Ana is away: no away deadline")
	}
	f.apply(f.fire(answered, time.Now()))
	if got := f.assignees(answered); got[bob] != "round_robin" || len(got) != 1 {
		t.Errorf("after the contact wrote again: assignees %v, want Bob", got)
	}

	// Bob goes offline and comes back before his deadline is applied.
	f.presence(bob, assigner.PresenceOffline)
	f.presence(bob, assigner.PresenceOnline)
	f.apply(f.fire(waiting, time.Now()))
	if got := f.assignees(waiting); got[bob] != "round_robin" || len(got) != 1 {
		t.Errorf("back online: assignees %v, want still Bob", got)
	}
}

// A lapsed heartbeat is handled once, at the lapse: the store says when
// the next lapse is, sets away deadlines for the lapsed agent's
// conversations, and does not handle the same lapse twice.
func TestLapseHeartbeats(t *testing.T) {
	f := newApplyFixture(t)
	f.store.SetRules(db.Rules{PresenceTimeout: time.Second})
	ana, bob := f.agent("Ana"), f.agent("Bob")
	f.awayTeam(ana, bob)
	f.apply(f.message(who{user: "NL.930000000000000011"}, "wamid.LH1", "hi"))
	conv := f.conversationOf("wamid.LH1")
	first := f.onlyAssignee(conv)
	ctx := context.Background()
	next, err := f.store.LapseHeartbeats(ctx, time.Now())
	if err != nil || next == nil || time.Until(*next) > time.Second {
		t.Fatalf("next lapse %v, %v; want within a second", next, err)
	}
	time.Sleep(600 * time.Millisecond)
	other := bob
	if first == bob {
		other = ana
	}
	f.presence(other, assigner.PresenceOnline) // a heartbeat: only the first lapses
	time.Sleep(600 * time.Millisecond)
	if _, err := f.store.LapseHeartbeats(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	tm, ok := f.timer(conv, assigner.TimerAway)
	if !ok || tm.Excluded != "{"+itoa(first)+"}" {
		t.Fatalf("away deadline after the lapse %+v (%v), want one naming the first assignee", tm, ok)
	}
	f.apply(f.fire(conv, time.Now()))
	if got := f.onlyAssignee(conv); got != other {
		t.Errorf("after the lapse the conversation is with %d, want %d", got, other)
	}
	if n := f.count(`SELECT count(*) FROM agents WHERE id = $1 AND lapsed_at IS NOT NULL`, first); n != 1 {
		t.Errorf("the lapsed agent is not marked as handled")
	}
	if _, err := f.store.LapseHeartbeats(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	// (The other agent may lapse meanwhile on a slow machine: only the
	// first one's lapse must not be handled again.)
	if n := f.count(`SELECT count(*) FROM conversation_timers WHERE kind = 'away' AND $1 = ANY(excluded)`, first); n != 0 {
		t.Errorf("the same lapse was handled twice: %d away deadlines name the first assignee", n)
	}
}
