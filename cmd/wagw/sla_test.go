package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// End-to-end tests of the first-response SLA (issue 12 rule 4) through
// `serve`, with a real 2 s window.

// slaServe starts serve with an online agent in a round-robin team that
// the inbox numbered n routes to; the inbox has a first-response SLA of
// window seconds and the business hours given (nil: always open).
func slaServe(t *testing.T, n, window int, hours obj) (*serveProc, bizNumber, agentOutJSON, map[string]string) {
	t.Helper()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	ana := createAgent(t, p, "Ana Slow", nil)
	setPresence(t, p, ana, "online")
	team := createTimedTeam(t, p, "Promises", obj{}, ana)
	in := testInbox(n)
	putInbox(t, p, in.pnid, obj{"name": "SLA", "default_assign": obj{"team_id": team},
		"first_response_sla_seconds": window, "business_hours": hours})
	return p, in, ana, env
}

// breachesCounted reads wagw_sla_breaches_total of the inbox and team.
func breachesCounted(t *testing.T, p *serveProc, inbox, team string) float64 {
	t.Helper()
	_, page, err := scrapeFamilies(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := sample(page, fmt.Sprintf(`wagw_sla_breaches_total{inbox=%q,team=%q}`, inbox, team))
	return v
}

// A conversation nobody answers breaches its SLA: the view, the decision
// log (how late, who was assigned) and the metric say so, and the
// assignee keeps it. One answered just before its deadline does not.
func TestSLABreachThroughServe(t *testing.T) {
	t.Parallel()
	const window = 2
	p, in, ana, _ := slaServe(t, 140, window, nil)

	sayText(t, p, in, "31950000001", "anyone?")
	conv := openConv(t, p, in, "31950000001", "the conversation is assigned", hasAssignees)
	if conv.FirstResponseDueAt == nil || conv.SLABreached {
		t.Fatalf("opened: first_response_due_at %v, sla_breached %v; want a due time, not breached", conv.FirstResponseDueAt, conv.SLABreached)
	}
	due := *conv.FirstResponseDueAt
	if d := due.Sub(time.Now()); d > window*time.Second || d < -window*time.Second {
		t.Fatalf("due at %v, %v from now; want about %d s after the opening message", due, d, window)
	}
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "the SLA is breached", func() (bool, string) {
		c := getConv(t, p, conv.ID)
		return c.SLABreached, fmt.Sprintf("sla_breached %v", c.SLABreached)
	})
	if now := time.Now(); now.Before(due) {
		t.Errorf("breached at %v, before the deadline %v", now, due)
	}
	ds := decisionsWith(t, p, conv.ID, "sla_breached")
	if len(ds) != 1 || ds[0].Rule != "sla_breached" || !strings.HasPrefix(ds[0].EventID, fmt.Sprintf("timer:sla:%d:", conv.ID)) {
		t.Fatalf("SLA decisions:%s", dumpDecisions(ds))
	}
	wantReason(t, "the breach", ds[0], "sla_breached", 0, "No agent replied by", "s after it", "Ana Slow (round robin)", "team Promises")
	if b := ds[0].SLABreach; b == nil || !b.DueAt.Equal(due) || b.LateSeconds < 0 || b.LateSeconds > 10 || len(b.AgentIDs) != 1 || b.AgentIDs[0] != ana.ID {
		t.Errorf("the decision's sla_breach %+v, want due %v, a few seconds late at most, Ana assigned", b, due)
	}
	expectAssignees(t, "after the breach", getConv(t, p, conv.ID), asg(ana, "round_robin"))
	wagwtest.WaitEvery(t, 10*time.Second, 50*time.Millisecond, "the breach is counted", func() (bool, string) {
		n := breachesCounted(t, p, in.pnid, "Promises")
		return n == 1, fmt.Sprintf("wagw_sla_breaches_total %v", n)
	})

	// Answered before the deadline: no breach.
	sayText(t, p, in, "31950000002", "hello?")
	answered := openConv(t, p, in, "31950000002", "the second conversation is assigned", hasAssignees)
	replyAccepted(t, p, answered.ID, ana)
	time.Sleep(time.Until(answered.FirstResponseDueAt.Add(1500 * time.Millisecond))) // past the deadline the reply cancelled
	c := getConv(t, p, answered.ID)
	if !c.FirstReplyAt.Before(*answered.FirstResponseDueAt) {
		t.Fatalf("the reply was accepted at %v, not before the deadline %v: the machine is too slow for a 2 s window", c.FirstReplyAt, answered.FirstResponseDueAt)
	}
	t.Logf("replied %v before the deadline", answered.FirstResponseDueAt.Sub(*c.FirstReplyAt).Round(time.Millisecond))
	if c.SLABreached || c.FirstResponseDueAt == nil {
		t.Errorf("answered in time: sla_breached %v, first_response_due_at %v (kept)", c.SLABreached, c.FirstResponseDueAt)
	}
	if ds := decisionsWith(t, p, answered.ID, "sla_breached"); len(ds) != 0 {
		t.Errorf("an answered conversation breached:%s", dumpDecisions(ds))
	}
	if n := breachesCounted(t, p, in.pnid, "Promises"); n != 1 {
		t.Errorf("wagw_sla_breaches_total %v after the answered one, want 1", n)
	}
	checkExplained(t, "breached conversation", getDecisions(t, p, conv.ID))
	p.running(t)
}

// Business hours closed now push the deadline out to their opening, and
// nothing breaches meanwhile.
func TestSLAWaitsForBusinessHoursThroughServe(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	from := (now.Hour()*60 + now.Minute() + 120) % 1440 // opens in about two hours, for an hour
	p, in, _, _ := slaServe(t, 141, 2, obj{"time_zone": "UTC", "from": from, "to": (from+59)%1440 + 1})
	sayText(t, p, in, "31951000001", "it is late")
	conv := openConv(t, p, in, "31951000001", "the conversation is assigned", hasAssignees)
	if conv.FirstResponseDueAt == nil {
		t.Fatal("no first_response_due_at")
	}
	if d := conv.FirstResponseDueAt.Sub(now); d < 118*time.Minute || d > 122*time.Minute {
		t.Errorf("due at %v, %v from %v; want 2 s after the hours open, about two hours away", conv.FirstResponseDueAt, d, now)
	}
	time.Sleep(3 * time.Second)
	if c := getConv(t, p, conv.ID); c.SLABreached {
		t.Error("breached while the business hours are closed")
	}
	p.running(t)
}

// A reply and its SLA deadline at nearly the same moment are decided
// once, in partition order: where the deadline's command comes before the
// reply's accepted send the conversation is breached, otherwise it is
// not; never both, never twice. Replies go out around the deadline so
// that both orders occur.
func TestSLARacesTheReply(t *testing.T) {
	t.Parallel()
	const window = 2
	p, in, ana, env := slaServe(t, 142, window, nil)
	offsets := []time.Duration{-400, -250, -150, -75, 0, 75, 150, 250, 400}
	type racer struct {
		waID string
		conv convJSON
	}
	racers := make([]racer, len(offsets))
	for i := range offsets {
		racers[i].waID = fmt.Sprintf("3195200%04d", i)
		sayText(t, p, in, racers[i].waID, "race")
		racers[i].conv = openConv(t, p, in, racers[i].waID, "the racer's conversation is assigned", hasAssignees)
		if racers[i].conv.FirstResponseDueAt == nil {
			t.Fatalf("racer %d has no first_response_due_at", i)
		}
	}
	replies := make([]timedReply, len(offsets))
	for i, r := range racers {
		replies[i] = timedReply{convID: r.conv.ID, token: ana.Token, at: r.conv.FirstResponseDueAt.Add(offsets[i] * time.Millisecond)}
	}
	replyAll(t, p, replies)
	won := map[string]int{}
	for i, r := range racers {
		wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "the racer's reply is accepted", func() (bool, string) {
			c := getConv(t, p, r.conv.ID)
			return c.FirstReplyAt != nil, "first_reply_at not set"
		})
		order := partitionOrder(t, env["KAFKA_EMBEDDED_ADDR"], "wa.events", r.waID)
		sent, timer := firstWith(order, "send_result:"), firstWith(order, fmt.Sprintf("timer:sla:%d:", r.conv.ID))
		if sent < 0 {
			t.Fatalf("racer %d: no send result on the partition: %v", i, order)
		}
		var breaches []decisionJSON
		for _, d := range decisionsWith(t, p, r.conv.ID, "sla_breached") {
			if _, ok := d.reason("sla_breached", 0); ok {
				breaches = append(breaches, d)
			}
		}
		c := getConv(t, p, r.conv.ID)
		if timer >= 0 && timer < sent {
			won["deadline"]++
			if len(breaches) != 1 || breaches[0].EventID != order[timer] || !c.SLABreached {
				t.Errorf("racer %d (offset %d ms): the deadline came first in partition order but sla_breached %v:%s",
					i, offsets[i], c.SLABreached, dumpDecisions(breaches))
			}
			continue
		}
		won["reply"]++
		if len(breaches) != 0 || c.SLABreached {
			t.Errorf("racer %d (offset %d ms): the reply came first in partition order but sla_breached %v:%s",
				i, offsets[i], c.SLABreached, dumpDecisions(breaches))
		}
	}
	t.Logf("first in partition order: %v", won)
	if n := breachesCounted(t, p, in.pnid, "Promises"); n != float64(won["deadline"]) {
		t.Errorf("wagw_sla_breaches_total %v, want %d (the deadlines that came first)", n, won["deadline"])
	}
	p.running(t)
}
