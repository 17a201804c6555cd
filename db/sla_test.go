package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
)

// slaInbox gives the fixture's inbox a first-response SLA (and hours, if
// any) and routes it to a round-robin team of the agents.
func (f *applyFixture) slaInbox(seconds int, hours *assigner.Hours, agents ...int64) {
	f.t.Helper()
	ctx := context.Background()
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin}, agents)
	if err != nil {
		f.t.Fatal(err)
	}
	in := assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID},
		FirstResponseSLASeconds: &seconds, BusinessHours: hours}
	got, err := f.store.PutInbox(ctx, in)
	if err != nil {
		f.t.Fatal(err)
	}
	if got.FirstResponseSLASeconds == nil || *got.FirstResponseSLASeconds != seconds || (hours != nil) != (got.BusinessHours != nil) {
		f.t.Fatalf("stored inbox %+v, want the SLA and hours", got)
	}
}

// breaches counts what the store reports for wagw_sla_breaches_total.
type breaches struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (b *breaches) count(inbox, team string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n[[2]string{inbox, team}]++
}

func (b *breaches) get(inbox, team string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n[[2]string{inbox, team}]
}

// The SLA: armed from the opening message's time on both paths, recorded
// on the conversation; its breach is decided once, is in the view, the
// decision log and the metric, and reassigns nobody. A reply the Cloud API
// accepted cancels it.
func TestSLABreachRecorded(t *testing.T) {
	f := newApplyFixture(t)
	counted := &breaches{n: map[[2]string]int{}}
	f.store.InstrumentSLA(counted.count)
	ana := f.agent("Ana")
	f.slaInbox(120, nil, ana)
	u1, u2 := who{user: "NL.9100000000000000021"}, who{user: "NL.9100000000000000022"}
	f.apply(f.message(u1, "wamid.SLA1", "one"), f.message(u2, "wamid.SLA2", "two")) // the fast path
	ctx := context.Background()
	c1, c2 := f.conversationOf("wamid.SLA1"), f.conversationOf("wamid.SLA2")
	v, err := f.store.Conversation(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	tm, ok := f.timer(c1, assigner.TimerSLA)
	if !ok || v.FirstResponseDueAt == nil || !v.FirstResponseDueAt.Equal(tm.DueAt) || !tm.DueAt.Equal(v.OpenedAt.Add(120*time.Second)) || v.SLABreached {
		t.Fatalf("view due %v breached %v, timer %+v (%v); want due 120 s after the opening %v", v.FirstResponseDueAt, v.SLABreached, tm, ok, v.OpenedAt)
	}
	if _, ok := f.timer(c2, assigner.TimerSLA); !ok {
		t.Fatal("the second conversation of the batch has no SLA deadline")
	}

	before := f.assignees(c1)
	cmd := f.fire(c1, tm.DueAt.Add(time.Second))
	f.apply(cmd)
	f.apply(cmd) // a copy changes nothing
	v, _ = f.store.Conversation(ctx, c1)
	if !v.SLABreached || v.SLABreachedAt == nil {
		t.Fatalf("after the deadline: breached %v at %v", v.SLABreached, v.SLABreachedAt)
	}
	if got := f.assignees(c1); len(got) != len(before) || got[ana] != before[ana] {
		t.Errorf("the breach changed the assignees: %v, was %v", got, before)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'sla_breached'
		AND decision->'reasons' @> '[{"code":"sla_breached"}]' AND (decision->'sla_breach'->'agent_ids') @> $2::jsonb`, c1, "["+itoa(ana)+"]"); n != 1 {
		t.Errorf("%d sla_breached decisions naming Ana, want 1", n)
	}
	if n := counted.get(applyInbox, "Support"); n != 1 {
		t.Errorf("breaches counted %d, want 1", n)
	}

	// A reply accepted before the deadline: no deadline left, and its late command changes nothing.
	late := f.fire(c2, tm.DueAt.Add(time.Second))
	f.replyAccepted("wamid.SLA2", ana, nil)
	if _, ok := f.timer(c2, assigner.TimerSLA); ok {
		t.Fatal("the accepted reply left the SLA deadline")
	}
	f.apply(late)
	if kind, _, _ := f.result(late.ID); kind != assigner.OutcomeUnchanged {
		t.Errorf("a cancelled deadline was applied: %s", kind)
	}
	if v, _ := f.store.Conversation(ctx, c2); v.SLABreached || v.FirstResponseDueAt == nil {
		t.Errorf("answered in time: breached %v, due %v (kept)", v.SLABreached, v.FirstResponseDueAt)
	}
	if n := counted.get(applyInbox, "Support"); n != 1 {
		t.Errorf("breaches counted %d after the answered one, want still 1", n)
	}
}

// Business hours closed now push the deadline to when they open.
func TestSLAInBusinessHours(t *testing.T) {
	f := newApplyFixture(t)
	ana := f.agent("Ana")
	now := time.Now().UTC()
	// Open one hour a day, starting two hours from now: the clock is stopped until then.
	from := (now.Hour()*60 + now.Minute() + 120) % 1440
	f.slaInbox(30, &assigner.Hours{TimeZone: "UTC", From: from, To: (from+59)%1440 + 1}, ana)
	f.apply(f.message(who{user: "NL.9100000000000000031"}, "wamid.SLAH", "hi"))
	v, err := f.store.Conversation(context.Background(), f.conversationOf("wamid.SLAH"))
	if err != nil {
		t.Fatal(err)
	}
	if v.FirstResponseDueAt == nil || v.FirstResponseDueAt.Sub(now) < 115*time.Minute || v.FirstResponseDueAt.Sub(now) > 125*time.Minute {
		t.Fatalf("due %v, want about two hours from %v (when the hours open) plus 30 s", v.FirstResponseDueAt, now)
	}
	if v.FirstResponseDueAt.Second() != 30 || v.FirstResponseDueAt.Nanosecond() != 0 {
		t.Errorf("due %v, want 30 s after a whole minute", v.FirstResponseDueAt)
	}
}
