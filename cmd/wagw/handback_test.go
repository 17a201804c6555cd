package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// Control coming back to wagw through `serve`, with short real windows:
//
//   - control_passed with no conversation open opens one that, like a
//     contact's opening message, gets the inbox's first-response SLA
//     (breached when nobody answers), the team's no-reply deadline and the
//     inbox's auto-resolve deadline (it resolves when all stay quiet);
//   - control_taken cancels an open conversation's no-reply deadline (no
//     reassignment while the AI owns the thread), and control_passed arms
//     it again;
//   - a contact's message on the messages field while the AI owns the
//     thread gives it to wagw ("Prepare for Conversation Routing": an
//     inbound messages webhook means the receiver owns the thread): the
//     conversation opens as usual, logged as routing's delivery.
func TestHandbackArmsDeadlinesThroughServe(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	sim := "http://" + env["WAGW_SIMULATOR_ADDR"]
	ana, bob := createAgent(t, p, "Ana Handback", nil), createAgent(t, p, "Bob Handback", nil)
	setPresence(t, p, ana, "online")
	setPresence(t, p, bob, "online")
	const window = 3 // seconds, the no-reply and SLA windows
	team := createTimedTeam(t, p, "Handback", obj{"reassign_after_seconds": window, "reassign_max": 1, "reassign_exhausted": "keep"}, ana, bob)
	quiet, shared := testInbox(1811), testInbox(1812)
	putInbox(t, p, quiet.pnid, obj{"name": "Handback quiet", "default_assign": obj{"team_id": team},
		"first_response_sla_seconds": window, "auto_resolve_after_seconds": window + 3})
	putInbox(t, p, shared.pnid, obj{"name": "Handback shared", "default_assign": obj{"team_id": team}, "first_response_sla_seconds": 600})
	pass := func(in bizNumber, waID, kind string) {
		roles := map[string][2]string{"control_passed": {"ai_agent", "app"}, "control_taken": {"app", "ai_agent"}}[kind]
		routingSim(t, sim, obj{"kind": kind, "phone_number_id": in.pnid, "user": waID, "previous_role": roles[0], "new_role": roles[1]})
	}

	// An opening by control_passed: SLA, no-reply and auto-resolve deadlines.
	const waA = "5511900018111"
	pass(quiet, waA, "control_passed")
	a := openConv(t, p, quiet, waA, "control passed opens an assigned conversation", hasAssignees)
	if a.FirstResponseDueAt == nil {
		t.Fatalf("opened by a handover without a first-response deadline: %+v", a)
	}
	wagwtest.WaitEvery(t, 30*time.Second, 50*time.Millisecond, "the SLA breaches, no-reply reassigns and auto-resolve resolves", func() (bool, string) {
		c := getConv(t, p, a.ID)
		return c.SLABreached && len(decisionsWith(t, p, a.ID, "no_reply_reassign")) > 0 && c.Status == "resolved",
			fmt.Sprintf("%s, sla_breached %v, decisions:%s", c.Status, c.SLABreached, dumpDecisions(getDecisions(t, p, a.ID)))
	})
	if ds := decisionsWith(t, p, a.ID, "auto_resolve"); len(ds) != 1 {
		t.Errorf("auto-resolve decisions:%s", dumpDecisions(ds))
	}

	// An open conversation: control_taken stops the no-reply deadline,
	// control_passed arms it again.
	const waB = "5511900018121"
	sayText(t, p, shared, waB, "hello")
	b := openConv(t, p, shared, waB, "the message opens an assigned conversation", hasAssignees)
	pass(shared, waB, "control_taken")
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "control_taken is applied", func() (bool, string) {
		return len(decisionsWith(t, p, b.ID, "control_taken")) == 1, dumpDecisions(getDecisions(t, p, b.ID))
	})
	before := len(decisionsWith(t, p, b.ID, "no_reply_reassign")) // 1 when the machine was slower than the window
	time.Sleep(window*time.Second + 1500*time.Millisecond)
	if n := len(decisionsWith(t, p, b.ID, "no_reply_reassign")); n != before {
		t.Fatalf("no-reply decided while the AI owns the thread:%s", dumpDecisions(getDecisions(t, p, b.ID)))
	}
	pass(shared, waB, "control_passed")
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "control_passed arms the no-reply deadline again", func() (bool, string) {
		return len(decisionsWith(t, p, b.ID, "no_reply_reassign")) == before+1, dumpDecisions(getDecisions(t, p, b.ID))
	})
	if ds := decisionsWith(t, p, b.ID, "handover"); len(ds) != 1 || !strings.Contains(reasonsText(ds[0]), "Handed over by ai_agent") {
		t.Errorf("handover decisions:%s", dumpDecisions(ds))
	}

	// A message on the messages field while the AI owns the thread.
	const waC = "5511900018122"
	pass(shared, waC, "control_taken")
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "control_taken names the AI", func() (bool, string) {
		got := threadOwnerOf(conn, waC)
		return got == "other/ai_agent", got
	})
	// Meta's times have whole seconds, and traffic no newer than the
	// handover that set the owner is taken as having come before it (a
	// message Meta delivered on messages in the second the AI took the
	// thread was sent while wagw owned it): write in the next second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	sayText(t, p, shared, waC, "a human please")
	c := openConv(t, p, shared, waC, "the message opens an assigned conversation", hasAssignees)
	if got := threadOwnerOf(conn, waC); got != "wagw" {
		t.Errorf("thread owner %s after the contact's message, want wagw", got)
	}
	ds := getDecisions(t, p, c.ID)
	if len(ds) == 0 || !strings.HasPrefix(ds[0].Rule, "handover,") || !strings.Contains(reasonsText(ds[0]), "Routing delivered the contact's message to wagw") {
		t.Errorf("decisions%s; want the opening logged as routing's delivery", dumpDecisions(ds))
	}
	if c.FirstResponseDueAt == nil {
		t.Errorf("no first-response deadline: %+v", c)
	}
	p.running(t)
}
