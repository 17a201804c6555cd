package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// End-to-end tests of the time-based rules (issue 12): `serve` in-process,
// short real windows (seconds), signed webhooks in, the API and the
// decision log out, the events topic read back for partition order.

// createTimedTeam creates a round-robin team of the members with the
// no-reply rule's settings.
func createTimedTeam(t *testing.T, p *serveProc, name string, rules obj, members ...agentOutJSON) int64 {
	t.Helper()
	body := obj{"name": name, "member_ids": agentIDs(members...), "strategy": "round_robin", "online_only": true}
	for k, v := range rules {
		body[k] = v
	}
	var out struct {
		ID int64 `json:"id"`
	}
	apiMust(t, p, http.StatusCreated, http.MethodPost, "/v1/teams", e2eAdminToken, body, &out)
	return out.ID
}

// decisionsWith returns the conversation's decisions whose rule contains rule.
func decisionsWith(t *testing.T, p *serveProc, convID int64, rule string) []decisionJSON {
	t.Helper()
	var out []decisionJSON
	for _, d := range getDecisions(t, p, convID) {
		if strings.Contains(d.Rule, rule) {
			out = append(out, d)
		}
	}
	return out
}

// other returns the one of a and b that is not id.
func other(id int64, a, b agentOutJSON) agentOutJSON {
	if a.ID == id {
		return b
	}
	return a
}

func agentByID(id int64, as ...agentOutJSON) agentOutJSON {
	for _, a := range as {
		if a.ID == id {
			return a
		}
	}
	return agentOutJSON{}
}

// replyAccepted posts an agent's text reply and waits until the Cloud API
// (the simulator) accepted it: the conversation's first_reply_at is set.
func replyAccepted(t *testing.T, p *serveProc, convID int64, a agentOutJSON) {
	t.Helper()
	r := apiDo(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", convID), a.Token, obj{"text": "on it"}, nil)
	if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
		t.Fatalf("reply = %s, want 201", r)
	}
	pollUntil(t, 15*time.Second, 10*time.Millisecond, "the reply is accepted by the Cloud API", func() (bool, string) {
		c := getConv(t, p, convID)
		return c.FirstReplyAt != nil, fmt.Sprintf("first_reply_at %v", c.FirstReplyAt)
	})
}

// Reassign on no reply: the assignee who does not answer within the
// team's window loses the conversation to the other member, once
// (reassign_max 1); then reassign_exhausted "keep" leaves it with the
// second. An assignee who answers in time keeps the conversation.
func TestNoReplyReassignsThroughServe(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	ana, bob := createAgent(t, p, "Ana Late", nil), createAgent(t, p, "Bob Backup", nil)
	setPresence(t, p, ana, "online")
	setPresence(t, p, bob, "online")
	const window = 2
	team := createTimedTeam(t, p, "Reassigning", obj{"reassign_after_seconds": window, "reassign_max": 1, "reassign_exhausted": "keep"}, ana, bob)
	in := testInbox(120)
	putInbox(t, p, in.pnid, obj{"name": "Timed", "default_assign": obj{"team_id": team}})

	// Nobody answers.
	opened := time.Now()
	sayText(t, p, in, "31910000001", "is anyone there?")
	conv := openConv(t, p, in, "31910000001", "the conversation is assigned by round robin", hasAssignees)
	first := agentByID(conv.Assignees[0].AgentID, ana, bob)
	second := other(first.ID, ana, bob)
	pollUntil(t, 15*time.Second, 20*time.Millisecond, "the silent assignee loses the conversation", func() (bool, string) {
		c := getConv(t, p, conv.ID)
		return len(c.Assignees) == 1 && c.Assignees[0].AgentID == second.ID, c.who()
	})
	took := time.Since(opened)
	t.Logf("reassigned %v after the opening message (window %d s)", took.Round(time.Millisecond), window)
	if took < window*time.Second {
		t.Errorf("reassigned after %v, before the %d s window ran out", took, window)
	}
	expectAssignees(t, "after the deadline", getConv(t, p, conv.ID), asg(second, "round_robin"))
	ds := decisionsWith(t, p, conv.ID, "no_reply_reassign")
	if len(ds) != 1 || ds[0].Rule != "no_reply_reassign, round_robin" {
		t.Fatalf("no-reply decisions:%s", dumpDecisions(ds))
	}
	wantReason(t, "who did not answer", ds[0], "no_reply", first.ID, first.Name, "did not reply within 2 s")
	wantReason(t, "who takes over", ds[0], "chosen", second.ID, second.Name)
	if a := getAgent(t, p, first.ID); a.OpenCount != 0 {
		t.Errorf("%s still counts %d open conversations after losing the only one", first.Name, a.OpenCount)
	}

	// The second does not answer either: reassign_max 1 is used up, keep.
	pollUntil(t, 15*time.Second, 50*time.Millisecond, "the second deadline is decided", func() (bool, string) {
		ds := decisionsWith(t, p, conv.ID, "no_reply_reassign")
		return len(ds) == 2, dumpDecisions(ds)
	})
	last := decisionsWith(t, p, conv.ID, "no_reply_reassign")[1]
	wantReason(t, "exhausted", last, "reassign_exhausted", 0, second.Name, "already reassigned 1 time", "the assignment stays")
	expectAssignees(t, "exhausted, keep", getConv(t, p, conv.ID), asg(second, "round_robin"))

	// An assignee who answers in time keeps the conversation.
	sayText(t, p, in, "31910000002", "hello again")
	answered := openConv(t, p, in, "31910000002", "the second conversation is assigned", hasAssignees)
	who := agentByID(answered.Assignees[0].AgentID, ana, bob)
	replyAccepted(t, p, answered.ID, who)
	time.Sleep(window*time.Second + 1500*time.Millisecond) // past the deadline the reply cancelled
	expectAssignees(t, "answered in time", getConv(t, p, answered.ID), asg(who, "round_robin"))
	if ds := decisionsWith(t, p, answered.ID, "no_reply_reassign"); len(ds) != 0 {
		t.Errorf("an answered conversation was reassigned:%s", dumpDecisions(ds))
	}
	checkExplained(t, "reassigned conversation", getDecisions(t, p, conv.ID))
	p.running(t)
}

// A reply and its deadline at the same moment: each conversation is
// decided once, in partition order. Where the deadline's command comes
// first the conversation was reassigned (and the late reply changes
// nothing more); where the reply's accepted send comes first, nothing was
// reassigned. Replies are sent around the deadline, so both orders occur.
func TestNoReplyRacesTheReply(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	ana, bob := createAgent(t, p, "Ana Racer", nil), createAgent(t, p, "Bob Racer", nil)
	setPresence(t, p, ana, "online")
	setPresence(t, p, bob, "online")
	const window = 2
	team := createTimedTeam(t, p, "Racing", obj{"reassign_after_seconds": window, "reassign_max": 3}, ana, bob)
	in := testInbox(121)
	putInbox(t, p, in.pnid, obj{"name": "Race", "default_assign": obj{"team_id": team}})

	offsets := []time.Duration{-400, -250, -150, -75, 0, 75, 150, 250, 400}
	type racer struct {
		waID   string
		conv   convJSON
		opened time.Time
	}
	racers := make([]racer, len(offsets))
	for i := range offsets {
		racers[i].waID = fmt.Sprintf("3192000%04d", i)
		racers[i].opened = time.Now()
		sayText(t, p, in, racers[i].waID, "race")
		racers[i].conv = openConv(t, p, in, racers[i].waID, "the racer's conversation is assigned", hasAssignees)
	}
	// Each assignee replies around its conversation's deadline.
	var wg sync.WaitGroup
	errs := make([]error, len(offsets))
	for i, off := range offsets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := racers[i]
			a := agentByID(r.conv.Assignees[0].AgentID, ana, bob)
			time.Sleep(time.Until(r.opened.Add(window*time.Second + off*time.Millisecond)))
			resp, err := apiCall(p.base, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", r.conv.ID), a.Token, obj{"text": "racing"}, nil)
			if err == nil && resp.Status != http.StatusCreated && resp.Status != http.StatusAccepted {
				err = fmt.Errorf("reply = %s", resp)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	brokerAddr := env["KAFKA_EMBEDDED_ADDR"]
	won := map[string]int{}
	for i, r := range racers {
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		pollUntil(t, 15*time.Second, 20*time.Millisecond, "the racer's reply is accepted", func() (bool, string) {
			c := getConv(t, p, r.conv.ID)
			return c.FirstReplyAt != nil, "first_reply_at not set"
		})
		first := r.conv.Assignees[0].AgentID
		order := partitionOrder(t, brokerAddr, "wa.events", r.waID)
		sent, timer := -1, -1
		for j, id := range order {
			switch {
			case strings.HasPrefix(id, "send_result:") && sent < 0:
				sent = j
			case strings.HasPrefix(id, fmt.Sprintf("timer:no_reply:%d:", r.conv.ID)) && timer < 0:
				timer = j
			}
		}
		if sent < 0 {
			t.Fatalf("racer %d: no send result on the partition: %v", i, order)
		}
		ds := decisionsWith(t, p, r.conv.ID, "no_reply_reassign")
		c := getConv(t, p, r.conv.ID)
		if timer >= 0 && timer < sent {
			won["deadline"]++
			if len(ds) == 0 || ds[0].EventID != order[timer] || len(c.Assignees) != 1 || c.Assignees[0].AgentID == first {
				t.Errorf("racer %d (offset %d ms): the deadline came first in partition order but assignees are %s after:%s",
					i, offsets[i], c.who(), dumpDecisions(ds))
			}
			continue
		}
		won["reply"]++
		if len(ds) != 0 || len(c.Assignees) != 1 || c.Assignees[0].AgentID != first {
			t.Errorf("racer %d (offset %d ms): the reply came first in partition order but assignees are %s after:%s",
				i, offsets[i], c.who(), dumpDecisions(ds))
		}
	}
	t.Logf("first in partition order: %v", won)
	p.running(t)
}
