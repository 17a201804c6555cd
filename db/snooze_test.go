package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
)

// The check a batch with messages makes once (is any conversation
// snoozed?) reads an index, not the deadlines of every conversation: with
// auto-resolve on, each open conversation has one, and reading them all
// cost 11 to 15 ms a batch at 100,000 open conversations.
func TestSnoozeCheckReadsNoOtherDeadlines(t *testing.T) {
	conn, _ := dbtest.New(t)
	for _, q := range []string{
		`INSERT INTO inboxes (phone_number_id, name) VALUES ('1065', 'x')`,
		`INSERT INTO contacts (key, wa_id, name) SELECT 'wa:4915' || i, '4915' || i, 'n' FROM generate_series(1, 20000) i`,
		`INSERT INTO conversations (contact_id, inbox, opened_by, opened_at) SELECT id, '1065', 'contact', now() FROM contacts`,
		`INSERT INTO conversation_timers (conversation_id, kind, due_at) SELECT id, 'auto_resolve', now() + interval '1 day' FROM conversations`,
	} {
		if _, err := conn.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// Without statistics (autovacuum off, or not yet), then with them.
	for _, analysed := range []bool{false, true} {
		if analysed {
			conn.MustExec(`ANALYZE conversation_timers`)
		}
		plan, err := db.NewStore(conn).ExplainWroteRules(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages := -1
		walkPlan(t, plan, func(n map[string]any) { // the root first: its buffers count its whole tree
			if pages < 0 {
				hit, _ := n["Shared Hit Blocks"].(float64)
				read, _ := n["Shared Read Blocks"].(float64)
				pages = int(hit + read)
			}
		})
		if pages > 16 {
			t.Fatalf("analysed %v: the snooze check read %d pages beside 20,000 deadlines of other kinds:\n%s", analysed, pages, plan)
		}
	}
}

// Snooze: the conversation shows as snoozed and leaves its assignee's open
// count; the contact writing moves the snooze deadline to now (on the fast
// path too), and the deadline's command wakes it.
func TestSnoozeUntilTheContactWrites(t *testing.T) {
	f := newApplyFixture(t)
	ana := f.agent("Ana")
	f.reassignTeam(3600, 1, "", ana)
	u := who{user: "NL.940000000000000001"}
	conv, key := f.opened(u, "wamid.SZ1")
	openCount := func() int { return f.count(`SELECT open_count FROM agents WHERE id = $1`, ana) }
	if openCount() != 1 {
		t.Fatalf("setup: Ana's open count %d", openCount())
	}
	until := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	f.apply(f.command(key, "cmd_snooze", event.CmdSnooze, event.SnoozeCommand{ConversationID: conv, Until: until}))
	if kind, code, msg := f.result("cmd_snooze"); kind != assigner.OutcomeDecided {
		t.Fatalf("snooze: %s %s %s", kind, code, msg)
	}
	v, err := f.store.Conversation(context.Background(), conv)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != assigner.StatusSnoozed || v.SnoozedUntil == nil || !v.SnoozedUntil.Equal(until) || openCount() != 0 {
		t.Fatalf("snoozed: status %s until %v, Ana's open count %d", v.Status, v.SnoozedUntil, openCount())
	}
	if tm, ok := f.timer(conv, assigner.TimerSnooze); !ok || !tm.DueAt.Equal(until) {
		t.Fatalf("snooze deadline %+v (%v), want at %v", tm, ok, until)
	}
	f.apply(f.command(key, "cmd_snooze_past", event.CmdSnooze, event.SnoozeCommand{ConversationID: conv, Until: time.Now().Add(-time.Minute)}))
	if _, code, _ := f.result("cmd_snooze_past"); code != assigner.ErrCodeInvalid {
		t.Errorf("a snooze in the past: code %q, want invalid", code)
	}

	f.apply(f.message(u, "wamid.SZ2", "back"), f.message(u, "wamid.SZ3", "again")) // the fast path
	tm, ok := f.timer(conv, assigner.TimerSnooze)
	if !ok || !tm.DueAt.Before(until) || tm.DueAt.After(time.Now()) {
		t.Fatalf("after the contact wrote: snooze deadline %+v (%v), want now", tm, ok)
	}
	f.apply(f.fire(conv, time.Now()))
	v, _ = f.store.Conversation(context.Background(), conv)
	if v.Status != assigner.StatusOpen || v.SnoozedUntil != nil || openCount() != 1 {
		t.Errorf("woken: status %s until %v, Ana's open count %d", v.Status, v.SnoozedUntil, openCount())
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'snooze_end'
		AND decision->'reasons' @> '[{"code":"snooze_ended"}]'`, conv); n != 1 {
		t.Errorf("%d snooze_end decisions, want 1", n)
	}
}

// A snooze and then the contact's message in one batch, after another of
// the contact's messages: the message still ends the snooze (its deadline
// moves to now), on both paths.
func TestSnoozeEndsOnAMessageLaterInTheSameBatch(t *testing.T) {
	for _, path := range []string{"bulk", "one by one"} {
		t.Run(path, func(t *testing.T) {
			f := newApplyFixture(t)
			ana := f.agent("Ana")
			f.reassignTeam(3600, 1, "", ana)
			u := who{user: "NL.940000000000000002"}
			conv, key := f.opened(u, "wamid.SB1")
			until := time.Now().Add(time.Hour).Truncate(time.Microsecond)
			events := []event.Envelope{
				f.message(u, "wamid.SB2", "before the snooze"),
				f.command(key, "cmd_snooze_b", event.CmdSnooze, event.SnoozeCommand{ConversationID: conv, Until: until}),
				f.message(u, "wamid.SB3", "after the snooze"),
			}
			apply := f.store.Apply
			if path == "one by one" {
				apply = f.store.ApplyOneByOne
			}
			if err := apply(context.Background(), events, time.Now()); err != nil {
				t.Fatal(err)
			}
			if kind, code, msg := f.result("cmd_snooze_b"); kind != assigner.OutcomeDecided {
				t.Fatalf("snooze: %s %s %s", kind, code, msg)
			}
			tm, ok := f.timer(conv, assigner.TimerSnooze)
			if !ok || !tm.DueAt.Before(until) || tm.DueAt.After(time.Now()) {
				t.Errorf("the contact wrote after the snooze: snooze deadline %+v (%v), want now, not %v", tm, ok, until)
			}
		})
	}
}

// A conversation snoozed to the last hours of year 9999 whose
// auto-resolve deadline falls due: the deadline moves past the snooze
// (as far as a deadline can go), and it is no longer due. It must not be
// refused and left due, to be published again and again.
func TestAutoResolveOfAConversationSnoozedToYear9999(t *testing.T) {
	f := newApplyFixture(t)
	ana := f.agent("Ana")
	f.rule3Inbox(3600, "", 0, ana)
	u := who{user: "NL.950000000000000009"}
	conv, key := f.opened(u, "wamid.SZF1")
	until := time.Date(9999, 12, 31, 23, 30, 0, 0, time.UTC)
	f.apply(f.command(key, "cmd_snooze_far", event.CmdSnooze, event.SnoozeCommand{ConversationID: conv, Until: until}))
	if kind, code, msg := f.result("cmd_snooze_far"); kind != assigner.OutcomeDecided {
		t.Fatalf("snooze: %s %s %s", kind, code, msg)
	}
	later := time.Now().Add(2 * time.Hour)
	fire := f.fire(conv, later)
	f.apply(fire)
	if kind, code, msg := f.result(fire.ID); kind != assigner.OutcomeDecided {
		t.Errorf("the auto-resolve deadline of the snoozed conversation: %s %s %s, want decided", kind, code, msg)
	}
	if tm, ok := f.timer(conv, assigner.TimerAutoResolve); !ok || !tm.DueAt.After(until) {
		t.Errorf("auto-resolve deadline %+v (%v) after it fell due, want one after the snooze's end %v", tm, ok, until)
	}
}

// The no-reply deadline of a conversation snoozed before anybody replied
// falls due during the snooze: nobody is reassigned, and the deadline
// moves to the team's window after the snooze's end, in the same round,
// so that the rule applies once the snooze is over.
func TestNoReplyDeadlineDuringASnoozeMovesPastIt(t *testing.T) {
	f := newApplyFixture(t)
	ana := f.agent("Ana")
	f.reassignTeam(60, 1, "", ana)
	u := who{user: "NL.950000000000000011"}
	conv, key := f.opened(u, "wamid.SNR1")
	first, ok := f.timer(conv, assigner.TimerNoReply)
	if !ok {
		t.Fatal("setup: no no-reply deadline after the round-robin assignment")
	}
	until := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	f.apply(f.command(key, "cmd_snooze_nr", event.CmdSnooze, event.SnoozeCommand{ConversationID: conv, Until: until}))
	if kind, code, msg := f.result("cmd_snooze_nr"); kind != assigner.OutcomeDecided {
		t.Fatalf("snooze: %s %s %s", kind, code, msg)
	}
	fire := f.fire(conv, first.DueAt.Add(time.Second))
	f.apply(fire)
	if kind, code, msg := f.result(fire.ID); kind != assigner.OutcomeDecided {
		t.Fatalf("the no-reply deadline during the snooze: %s %s %s", kind, code, msg)
	}
	if a := f.assignees(conv); len(a) != 1 || a[ana] == "" {
		t.Errorf("assignees after the deadline during the snooze: %v, want Ana alone", a)
	}
	if tm, ok := f.timer(conv, assigner.TimerNoReply); !ok || !tm.DueAt.Equal(until.Add(time.Minute)) || tm.Round != first.Round {
		t.Errorf("no-reply deadline %+v (%v) after it fell due during the snooze, want at %v, round %d", tm, ok, until.Add(time.Minute), first.Round)
	}
}

// snoozedPastItsDeadlines opens a conversation of u assigned by round
// robin (no-reply window a minute, auto-resolve window an hour), snoozes
// it for thirty days, and lets both deadlines fall due during the snooze,
// so that both wait past its end. It returns the conversation, the
// snooze's end and the no-reply deadline's round.
func snoozedPastItsDeadlines(f *applyFixture, u who, wamid string) (conv int64, until time.Time, round int) {
	f.t.Helper()
	ctx := context.Background()
	ana := f.agent("Ana")
	team := f.reassignTeam(60, 1, "", ana)
	hour := 3600
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team},
		AutoResolveAfterSeconds: &hour}); err != nil {
		f.t.Fatal(err)
	}
	var key string
	conv, key = f.opened(u, wamid)
	noReply, ok := f.timer(conv, assigner.TimerNoReply)
	if !ok {
		f.t.Fatal("setup: no no-reply deadline after the round-robin assignment")
	}
	quiet, ok := f.timer(conv, assigner.TimerAutoResolve)
	if !ok {
		f.t.Fatal("setup: no auto-resolve deadline after the opening message")
	}
	until = time.Now().Add(30 * 24 * time.Hour).Truncate(time.Microsecond)
	f.apply(f.command(key, "cmd_snooze_"+wamid, event.CmdSnooze, event.SnoozeCommand{ConversationID: conv, Until: until}))
	for _, at := range []time.Time{noReply.DueAt, quiet.DueAt} {
		fire := f.fire(conv, at.Add(time.Second))
		f.apply(fire)
		if kind, code, msg := f.result(fire.ID); kind != assigner.OutcomeDecided {
			f.t.Fatalf("setup: the deadline due at %v during the snooze: %s %s %s", at, kind, code, msg)
		}
	}
	if tm, ok := f.timer(conv, assigner.TimerNoReply); !ok || !tm.DueAt.Equal(until.Add(time.Minute)) {
		f.t.Fatalf("setup: no-reply deadline %+v (%v), want at the snooze's end plus a minute", tm, ok)
	}
	if tm, ok := f.timer(conv, assigner.TimerAutoResolve); !ok || !tm.DueAt.Equal(until.Add(time.Hour)) {
		f.t.Fatalf("setup: auto-resolve deadline %+v (%v), want at the snooze's end plus an hour", tm, ok)
	}
	return conv, until, noReply.Round
}

// The contact writes into a conversation snoozed far ahead, whose no-reply
// and auto-resolve deadlines wait past the snooze: once the snooze_end
// decision is applied, the no-reply deadline is the team's window after
// the contact's message ended the snooze (when it was applied, as a
// strategy's pick counts), in the same round, and the auto-resolve
// deadline the inbox's window after the contact's message was sent;
// either is due at once when that is past. A snooze that ends at its time
// leaves them past its end. The message comes on either apply path.
func TestSnoozeEndedEarlyPullsItsDeadlinesIn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrote string // the apply path of the contact's message; "": none, the snooze ends at its time
		late  time.Duration
	}{
		{name: "the contact wrote, bulk", wrote: "bulk"},
		{name: "the contact wrote, one by one", wrote: "one by one"},
		{name: "the contact wrote, snooze_end applied two hours later", wrote: "bulk", late: 2 * time.Hour},
		{name: "the snooze ends at its time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newApplyFixture(t)
			u := who{user: "NL.950000000000000021"}
			conv, until, round := snoozedPastItsDeadlines(f, u, "wamid.SE1")
			wantNoReply, wantQuiet, now := until.Add(time.Minute), until.Add(time.Hour), until
			if tc.wrote != "" {
				events := []event.Envelope{f.message(u, "wamid.SE2", "still there?")}
				apply := f.store.ApplyOneByOne
				if tc.wrote == "bulk" {
					events, apply = append(events, f.message(who{user: "NL.950000000000000022"}, "wamid.SE3", "other")), f.store.Apply
				}
				if err := apply(context.Background(), events, time.Now()); err != nil {
					t.Fatal(err)
				}
				snooze, ok := f.timer(conv, assigner.TimerSnooze)
				if !ok || !snooze.DueAt.Before(until) {
					t.Fatalf("after the contact wrote: snooze deadline %+v (%v), want now", snooze, ok)
				}
				now = time.Now().Add(tc.late).Truncate(time.Microsecond)
				wantNoReply = later(snooze.DueAt.Add(time.Minute), now)
				wantQuiet = later(f.sentAt("wamid.SE2").Add(time.Hour), now)
			}
			wake := f.fire(conv, now)
			if err := f.store.Apply(context.Background(), []event.Envelope{wake}, now); err != nil {
				t.Fatal(err)
			}
			if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'snooze_end'`, conv); n != 1 {
				t.Fatalf("%d snooze_end decisions, want 1", n)
			}
			if tm, ok := f.timer(conv, assigner.TimerNoReply); !ok || !tm.DueAt.Equal(wantNoReply) || tm.Round != round {
				t.Errorf("no-reply deadline %+v (%v) after the snooze ended, want at %v, round %d (the snooze was until %v)",
					tm, ok, wantNoReply, round, until)
			}
			if tm, ok := f.timer(conv, assigner.TimerAutoResolve); !ok || !tm.DueAt.Equal(wantQuiet) {
				t.Errorf("auto-resolve deadline %+v (%v) after the snooze ended, want at %v (the snooze was until %v)", tm, ok, wantQuiet, until)
			}
		})
	}
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// The contact ends a snooze early and an agent's reply is accepted before
// the snooze_end decision is applied (the deadline's command came late):
// the auto-resolve deadline comes in to the window after the reply, the
// latest message in either direction, not after the contact's message,
// so that the conversation is not resolved under a reply the window has
// not run out on.
func TestSnoozeEndedEarlyCountsRepliesAcceptedBeforeTheWake(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	conv, _ := snoozeEndedByTheContact(t, f, "NL.950000000000000031", "wamid.SR1", "wamid.SR2")
	// The relay records the send, then reports it on the partition.
	accepted := time.Now().Add(40 * time.Minute).Truncate(time.Microsecond)
	key := f.key(f.contactOf("wamid.SR2"))
	f.apply(f.command(key, "cmd_reply_sr", event.CmdReply, event.ReplyCommand{ConversationID: conv, AgentID: f.onlyAssignee(conv), Text: "on it"}))
	if kind, code, msg := f.result("cmd_reply_sr"); kind != assigner.OutcomeReplyQueued {
		t.Fatalf("reply: %s %s %s", kind, code, msg)
	}
	var outbox, msgID int64
	if err := f.conn.QueryRow(`SELECT id, message_id FROM outbox WHERE conversation_id = $1 AND kind = 'reply'`, conv).Scan(&outbox, &msgID); err != nil {
		t.Fatal(err)
	}
	if err := f.store.OutboxSent(ctx, []assigner.OutboxSend{{ID: outbox, WAMID: "wamid.SR.OUT", SentAt: accepted}}); err != nil {
		t.Fatal(err)
	}
	f.apply(f.command(key, event.ResultID(outbox), event.CmdSendResult, event.SendResultCommand{OutboxID: outbox, MessageID: msgID,
		WAMID: "wamid.SR.OUT", AcceptedAt: accepted.Format(time.RFC3339Nano)}))

	now := time.Now().Add(50 * time.Minute).Truncate(time.Microsecond)
	if err := f.store.Apply(ctx, []event.Envelope{f.fire(conv, now)}, now); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM decisions WHERE conversation_id = $1 AND rule = 'snooze_end'`, conv); n != 1 {
		t.Fatalf("%d snooze_end decisions, want 1", n)
	}
	want := accepted.Add(time.Hour)
	if tm, ok := f.timer(conv, assigner.TimerAutoResolve); !ok || !tm.DueAt.Equal(want) {
		t.Errorf("auto-resolve deadline %+v (%v) after the snooze ended, want %v: an hour after the reply accepted at %v (the contact wrote at %v)",
			tm, ok, want, accepted, f.sentAt("wamid.SR2"))
	}
}

// The wake of a snooze the contact ended early reads the team's no-reply
// window without the team's lock: it decides no pick, and the lock taken
// before the agents' rows it updates would order the two against other
// batches. It completes while another session holds the team's lock.
func TestSnoozeWakeTakesNoTeamLock(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	conv, until := snoozeEndedByTheContact(t, f, "NL.950000000000000041", "wamid.SL1", "wamid.SL2")
	var team int64
	if err := f.conn.Get(&team, `SELECT team_id FROM conversations WHERE id = $1`, conv); err != nil {
		t.Fatal(err)
	}
	holder, err := f.conn.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock(727378, $1::int)`, team); err != nil {
		t.Fatal(err)
	}
	defer holder.ExecContext(ctx, `SELECT pg_advisory_unlock(727378, $1::int)`, team)
	now := time.Now().Truncate(time.Microsecond)
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := f.store.Apply(wctx, []event.Envelope{f.fire(conv, now)}, now); err != nil {
		t.Fatalf("the wake while another session holds the team's lock: %v", err)
	}
	if tm, ok := f.timer(conv, assigner.TimerNoReply); !ok || !tm.DueAt.Before(until) {
		t.Errorf("no-reply deadline %+v (%v) after the wake, want it brought in before the snooze's end %v", tm, ok, until)
	}
}

// snoozeEndedByTheContact snoozes a conversation of user (opened by
// wamid first) past its deadlines, and the contact writes (wamid then):
// the snooze deadline moves to now. It returns the conversation and the
// snooze's planned end.
func snoozeEndedByTheContact(t *testing.T, f *applyFixture, user, first, then string) (int64, time.Time) {
	t.Helper()
	u := who{user: user}
	conv, until, _ := snoozedPastItsDeadlines(f, u, first)
	f.apply(f.message(u, then, "still there?"))
	if snooze, ok := f.timer(conv, assigner.TimerSnooze); !ok || !snooze.DueAt.Before(until) {
		t.Fatalf("after the contact wrote: snooze deadline %+v (%v), want now", snooze, ok)
	}
	return conv, until
}
