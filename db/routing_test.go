package db_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// routingWebhook splits a body with one change of the given field.
func (f *applyFixture) routingWebhook(field string, v map[string]any) []event.Envelope {
	f.t.Helper()
	v["messaging_product"] = "whatsapp"
	v["metadata"] = map[string]any{"display_phone_number": "15550001111", "phone_number_id": applyInbox}
	body, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": applyWABA, "changes": []any{map[string]any{"field": field, "value": v}}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	envs, err := event.ParseAndSplit(body, time.Now())
	if err != nil || len(envs) != 1 {
		f.t.Fatalf("split: %d envelopes, %v", len(envs), err)
	}
	return envs
}

func (f *applyFixture) handover(wa, typ, prev, next string, at time.Time) event.Envelope {
	return f.routingWebhook("messaging_handovers", map[string]any{"sender": map[string]any{"phone_number": wa},
		"timestamp": strconv.FormatInt(at.Unix(), 10), "type": typ,
		typ: map[string]any{"previous_owner_role": prev, "new_owner_role": next}})[0]
}

func (f *applyFixture) standby(wa, wamid, text string, at time.Time) event.Envelope {
	return f.routingWebhook("standby", map[string]any{"contacts": []any{map[string]any{"wa_id": wa, "profile": map[string]any{"name": "C"}}},
		"messages": []any{map[string]any{"from": wa, "id": wamid, "timestamp": strconv.FormatInt(at.Unix(), 10), "type": "text",
			"text": map[string]any{"body": text}}}})[0]
}

func (f *applyFixture) echo(wa, wamid, text string, at time.Time) event.Envelope {
	return f.routingWebhook("standby", map[string]any{"message_echoes": []any{map[string]any{"from": "15550001111", "to": wa,
		"id": wamid, "timestamp": strconv.FormatInt(at.Unix(), 10), "type": "text", "text": map[string]any{"body": text}}}})[0]
}

func (f *applyFixture) echoStatus(wa, wamid, status string, at time.Time) event.Envelope {
	return f.routingWebhook("standby", map[string]any{"statuses": []any{map[string]any{"id": wamid, "status": status,
		"recipient_id": wa, "timestamp": strconv.FormatInt(at.Unix(), 10)}}})[0]
}

// Conversation Routing webhooks: while another responder owns the thread,
// standby messages and echoes are stored (in / out_other, statuses
// applied) and start nothing; control passed to wagw opens a conversation
// with that history and assigns it by the usual rules, logged as handed
// over by the role; a redelivered handover applies once; control taken
// while a conversation is open is logged and moves the owner. Each event
// applied alone, and all in one batch with other contacts' messages.
func TestRoutingWebhooksApplied(t *testing.T) {
	for _, together := range []bool{false, true} {
		t.Run(map[bool]string{false: "one_by_one", true: "one_batch"}[together], func(t *testing.T) {
			f := newApplyFixture(t)
			ctx := context.Background()
			ana, _ := f.roundRobinInbox("Hi")
			wa, t0 := "31633330001", time.Now().Add(-10*time.Minute)
			passed := f.handover(wa, "control_passed", "ai_agent", "app", t0.Add(4*time.Second))
			events := []event.Envelope{
				f.handover(wa, "control_taken", "app", "ai_agent", t0),
				f.standby(wa, "wamid.SB1", "opening hours?", t0.Add(time.Second)),
				f.echo(wa, "wamid.EC1", "9 to 5", t0.Add(2*time.Second)),
				f.echoStatus(wa, "wamid.EC1", "read", t0.Add(3*time.Second)),
				passed, passed, // Meta redelivers
				f.handover(wa, "control_taken", "app", "ai_agent", t0.Add(5*time.Second)),
				f.standby(wa, "wamid.SB2", "thanks", t0.Add(6*time.Second)),
			}
			if together {
				f.apply(append(events, f.message(who{wa: "31633330002"}, "wamid.OTHER1", "hi"),
					f.message(who{wa: "31633330003"}, "wamid.OTHER2", "hi"))...)
			} else {
				for i, e := range events {
					f.apply(e)
					if i == 3 { // before control passes: stored, nothing started
						if n := f.count(`SELECT count(*) FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE ct.wa_id = $1`, wa); n != 0 {
							t.Fatalf("%d conversations while another responder owns the thread", n)
						}
					}
				}
			}
			contact := f.contactOf("wamid.SB1")
			var dirs string
			if err := f.conn.QueryRow(`SELECT string_agg(direction || ':' || status, ',' ORDER BY id) FROM messages WHERE contact_id = $1`, contact).Scan(&dirs); err != nil {
				t.Fatal(err)
			}
			// the welcome of the conversation the handover opened comes between the echo and SB2
			if dirs != "in:,out_other:read,out:pending,in:" {
				t.Errorf("messages %s", dirs)
			}
			conv := f.conversationOf("wamid.SB1")
			if conv == 0 || f.conversationOf("wamid.EC1") != conv || f.conversationOf("wamid.SB2") != conv {
				t.Fatalf("standby history not in the conversation the handover opened: %d %d %d",
					conv, f.conversationOf("wamid.EC1"), f.conversationOf("wamid.SB2"))
			}
			v, err := f.store.Conversation(ctx, conv)
			if err != nil || v.ThreadOwner != (assigner.ThreadOwner{Owner: assigner.ThreadOwnerOther, Role: "ai_agent"}) {
				t.Errorf("thread owner %+v (%v), want other (ai_agent)", v.ThreadOwner, err)
			}
			if n := f.count(`SELECT count(*) FROM conversation_assignees WHERE conversation_id = $1 AND agent_id = $2`, conv, ana); n != 1 {
				t.Errorf("conversation opened by the handover: %d assignees Ana, want 1", n)
			}
			ds, err := f.store.Decisions(ctx, conv)
			if err != nil || len(ds) != 2 {
				t.Fatalf("decisions %+v (%v), want the handover opening and control taken", ds, err)
			}
			if !strings.HasPrefix(ds[0].Rule, "handover,") || ds[0].Reasons[0].Code != assigner.CodeHandover ||
				!strings.Contains(ds[0].Reasons[0].Text, "Handed over by ai_agent") {
				t.Errorf("first decision %+v", ds[0])
			}
			if ds[1].Rule != "control_taken" || !strings.Contains(ds[1].Reasons[0].Text, "taken by ai_agent") {
				t.Errorf("second decision %+v", ds[1])
			}
			if n := f.count(`SELECT count(*) FROM outbox WHERE conversation_id = $1`, conv); n != 1 {
				t.Errorf("%d outbox rows, want the one welcome of the handover's opening", n)
			}
		})
	}
}

// An echo's status that arrives before the echo (another POST, perhaps
// another partition) is applied to it once the echo is stored.
func TestEchoStatusBeforeEcho(t *testing.T) {
	f := newApplyFixture(t)
	wa, t0 := "31633330009", time.Now().Add(-time.Minute)
	f.apply(f.echoStatus(wa, "wamid.EC9", "read", t0.Add(time.Second)))
	f.apply(f.echo(wa, "wamid.EC9", "hello", t0))
	var status string
	if err := f.conn.QueryRow(`SELECT status FROM messages WHERE wamid = 'wamid.EC9'`).Scan(&status); err != nil || status != "read" {
		t.Fatalf("echo status %q (%v), want read", status, err)
	}
}

// Control coming back to wagw arms what control_taken cancelled and what
// an opening arms: an open conversation's no-reply deadline comes back
// (counted from the handover) and its auto-resolve deadline moves to the
// handover; a conversation opened by control_passed gets the
// first-response SLA, the no-reply and the auto-resolve deadlines.
func TestHandoverArmsDeadlines(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	window, sla, quiet := 300, 600, 3600
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin,
		ReassignAfterSeconds: &window}, []int64{f.agent("Ana")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID},
		FirstResponseSLASeconds: &sla, AutoResolveAfterSeconds: &quiet}); err != nil {
		t.Fatal(err)
	}
	timers := func(conv int64) string {
		var s string
		f.conn.QueryRow(`SELECT COALESCE(string_agg(kind, ',' ORDER BY kind), '') FROM conversation_timers WHERE conversation_id = $1`, conv).Scan(&s)
		return s
	}
	due := func(conv int64, kind string) time.Time {
		var at time.Time
		f.conn.QueryRow(`SELECT due_at FROM conversation_timers WHERE conversation_id = $1 AND kind = $2`, conv, kind).Scan(&at)
		return at
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	wa := "31633339001"
	f.apply(f.message(who{wa: wa}, "wamid.H1", "hello"))
	conv := f.conversationOf("wamid.H1")
	if got := timers(conv); got != "auto_resolve,no_reply,sla" {
		t.Fatalf("opened by a message: timers %s", got)
	}
	f.apply(f.handover(wa, "control_taken", "app", "ai_agent", t0))
	if got := timers(conv); got != "auto_resolve,sla" {
		t.Fatalf("after control_taken: timers %s, want the no-reply deadline cancelled", got)
	}
	// The contact and the AI keep talking on the standby field: each
	// message moves the auto-resolve deadline, as any message does, so the
	// conversation is not resolved in the middle of that exchange.
	talk := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	f.apply(f.standby(wa, "wamid.HS1", "still there?", talk))
	if at := due(conv, "auto_resolve"); !at.Equal(talk.Add(time.Duration(quiet) * time.Second)) {
		t.Errorf("auto-resolve due %v after a standby message at %v, want %v", at, talk, talk.Add(time.Duration(quiet)*time.Second))
	}
	f.apply(f.echo(wa, "wamid.HE1", "yes, how can I help?", talk.Add(time.Minute)))
	if at := due(conv, "auto_resolve"); !at.Equal(talk.Add(time.Minute + time.Duration(quiet)*time.Second)) {
		t.Errorf("auto-resolve due %v after the AI's echo, want %v", at, talk.Add(time.Minute+time.Duration(quiet)*time.Second))
	}
	passedAt := time.Now().Add(2 * time.Hour).Truncate(time.Second) // later than the message: the deadline moves
	f.apply(f.handover(wa, "control_passed", "ai_agent", "app", passedAt))
	if got := timers(conv); got != "auto_resolve,no_reply,sla" {
		t.Errorf("after control_passed: timers %s, want the no-reply deadline back", got)
	}
	if at := due(conv, "auto_resolve"); !at.Equal(passedAt.Add(time.Duration(quiet) * time.Second)) {
		t.Errorf("auto-resolve due %v, want the handover plus the window (%v)", at, passedAt.Add(time.Duration(quiet)*time.Second))
	}

	wa2 := "31633339002"
	f.apply(f.handover(wa2, "control_taken", "app", "ai_agent", t0), f.handover(wa2, "control_passed", "ai_agent", "app", t0.Add(time.Second)))
	var opened int64
	f.conn.QueryRow(`SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE ct.wa_id = $1`, wa2).Scan(&opened)
	if got := timers(opened); opened == 0 || got != "auto_resolve,no_reply,sla" {
		t.Errorf("conversation %d opened by control_passed: timers %q, want auto_resolve,no_reply,sla", opened, got)
	}
}

// An echo Meta sends without a wamid has no unique key to fall back on: a
// redelivery (Meta's retry, or the consumer's after a crash) is still
// stored once, by its event id.
func TestEchoWithoutWamidStoredOnce(t *testing.T) {
	f := newApplyFixture(t)
	wa := "31633339101"
	e := f.echo(wa, "", "an answer without an id", time.Now().Truncate(time.Second))
	f.apply(e)
	f.apply(e)
	if n := f.count(`SELECT count(*) FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE c.wa_id = $1 AND m.direction = 'out_other'`, wa); n != 1 {
		t.Errorf("%d echoes stored for one echo delivered twice, want 1", n)
	}
}

// Meta sends the AI's goodbye echo and its control_passed in separate
// requests; when the echo arrives last it is older than the handover and
// leaves the thread with wagw. A message on the messages field older than
// a control_taken does not take the thread back either; a newer one does.
func TestLateTrafficDoesNotUndoAHandover(t *testing.T) {
	f := newApplyFixture(t)
	wa := "31633339201"
	owner := func() string {
		var o, r string
		f.conn.QueryRow(`SELECT thread_owner, thread_owner_role FROM contacts WHERE wa_id = $1`, wa).Scan(&o, &r)
		return o + "/" + r
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	f.apply(f.handover(wa, "control_taken", "app", "ai_agent", t0))
	f.apply(f.handover(wa, "control_passed", "ai_agent", "app", t0.Add(10*time.Second)))
	f.apply(f.echo(wa, "wamid.LATE1", "a person will take it from here", t0.Add(9*time.Second)))
	if got := owner(); got != "wagw/" {
		t.Errorf("after a late echo: owner %s, want wagw (the handover is newer)", got)
	}
	f.apply(f.handover(wa, "control_taken", "app", "ai_agent", t0.Add(20*time.Second)))
	f.apply(f.messageAt(who{wa: wa}, "wamid.LATE2", "sent before the AI took over", t0.Add(15*time.Second)))
	if got := owner(); got != "other/ai_agent" {
		t.Errorf("after a message older than control_taken: owner %s, want other/ai_agent", got)
	}
	f.apply(f.echo(wa, "wamid.NEW1", "the AI answers", t0.Add(25*time.Second)))
	f.apply(f.messageAt(who{wa: wa}, "wamid.NEW2", "delivered to wagw again", t0.Add(30*time.Second)))
	if got := owner(); got != "wagw/" {
		t.Errorf("after a newer message on the messages field: owner %s, want wagw", got)
	}
}
