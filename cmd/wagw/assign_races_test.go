package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/wagwtest"
)

// TestRacesFollowPartitionOrder fires conflicting writes for one contact
// at the same instant and checks that the outcome is the one the order of
// the contact's partition gives, and that the decision log says so.
func TestRacesFollowPartitionOrder(t *testing.T) {
	t.Parallel()
	r := startRaceRig(t)
	t.Run("a manual and an automatic assignment at once: the partition's order decides", r.manualVsAutomatic)
	t.Run("a manual assignment and a queue drain at once: the partition's order decides", r.manualVsDrain)
	t.Run("two claims at once: the first in the partition wins", r.twoClaims)
	t.Run("two first replies at once: the first in the partition becomes the owner", r.twoFirstReplies)
}

// raceRig is serve with an inbox without routing (pick-and-assign).
type raceRig struct {
	p          *serveProc
	conn       *sqlx.DB
	brokerAddr string
	pick       bizNumber
}

func startRaceRig(t *testing.T) *raceRig {
	t.Helper()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	r := &raceRig{p: startServe(t, env), conn: conn, brokerAddr: env["KAFKA_EMBEDDED_ADDR"], pick: testInbox(20)}
	putInbox(t, r.p, r.pick.pnid, obj{"name": "Race pick"})
	return r
}

// manualVsAutomatic: a manual assignment of the contact's open conversation and a new
// conversation of the same contact, opened at the same instant on
// another inbox whose least-open team has the same two agents: the
// manual assignment raises X's open count, so the new conversation goes
// to Y when the assignment came first in the partition and to X (the
// tie goes to member order) when the webhook came first.
func (r *raceRig) manualVsAutomatic(t *testing.T) {
	p, brokerAddr, pick := r.p, r.brokerAddr, r.pick
	orders := map[bool]int{}
	// The first rounds send both at once; the later ones hold the
	// webhook back a little, so that either may come first.
	for round, delay := range []time.Duration{0, 0, 10 * time.Millisecond, 30 * time.Millisecond} {
		x := createAgent(t, p, fmt.Sprintf("Xavi %d", round), nil)
		y := createAgent(t, p, fmt.Sprintf("Yara %d", round), nil)
		setPresence(t, p, x, "online")
		setPresence(t, p, y, "online")
		team := createTeam(t, p, fmt.Sprintf("Race LO %d", round), "least_open", x, y)
		auto := testInbox(30 + round)
		putInbox(t, p, auto.pnid, obj{"name": fmt.Sprintf("Race auto %d", round), "default_assign": obj{"team_id": team}})
		k := fmt.Sprintf("3180000000%d", round)
		sayText(t, p, pick, k, "first conversation")
		c1 := openConv(t, p, pick, k, "first conversation opens", nil)

		w := nextWAMID("race")
		var ar apiResp
		var aerr, werr error
		atOnce(2, func(i int) {
			if i == 0 {
				ar, aerr = apiCall(p.base, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", c1.ID), e2eAdminToken,
					obj{"agent_ids": agentIDs(x), "mode": "add"}, nil)
				return
			}
			time.Sleep(delay)
			werr = postWebhook(p.base, auto.webhookBody(inText{waID: k, text: "a new question", wamid: w}))
		})
		if aerr != nil || werr != nil || ar.Status != http.StatusOK {
			t.Fatalf("manual assignment %v %s; webhook %v", aerr, ar, werr)
		}
		cmdID := ar.Header.Get("X-Command-Id")
		c2 := openConv(t, p, auto, k, "the new conversation is assigned", hasAssignees)
		order := partitionOrder(t, brokerAddr, "wa.events", k)
		ia, iw := indexOfString(order, cmdID), indexOfString(order, w)
		if ia < 0 || iw < 0 {
			t.Fatalf("partition of %s holds %v; want the command %s and the message %s", k, order, cmdID, w)
		}
		manualFirst := ia < iw
		orders[manualFirst]++
		want := x
		if manualFirst {
			want = y
		}
		expectAssignees(t, fmt.Sprintf("round %d (manual first: %v)", round, manualFirst), c2, asg(want, "least_open"))
		expectAssignees(t, "manually assigned conversation", getConv(t, p, c1.ID), asg(x, "manual"))

		var dm, da decisionJSON
		for _, d := range getDecisions(t, p, c1.ID) {
			if d.EventID == cmdID {
				dm = d
			}
		}
		for _, d := range getDecisions(t, p, c2.ID) {
			if d.EventID == w {
				da = d
			}
		}
		if dm.ID == 0 || da.ID == 0 {
			t.Fatalf("decision log lacks the manual (%d) or the automatic (%d) decision", dm.ID, da.ID)
		}
		if (dm.ID < da.ID) != manualFirst {
			t.Errorf("round %d: partition order has the manual assignment first: %v, but the decision log has manual #%d and automatic #%d",
				round, manualFirst, dm.ID, da.ID)
		}
		if manualFirst {
			wantReason(t, "automatic after manual", da, "chosen", y.ID, y.Name, "0 open conversations", "fewest")
		} else {
			wantReason(t, "automatic before manual", da, "chosen", x.ID, x.Name, "0 open conversations", "Tied with "+y.Name)
		}
		checkExplained(t, "race decisions", []decisionJSON{dm, da})
	}
	t.Logf("orders seen: manual first %d times, automatic first %d times", orders[true], orders[false])
}

// manualVsDrain: one conversation waits in the queue; its team's agent comes
// online (the drainer puts a drain command on the contact's partition)
// while an admin assigns it manually. Drain first: the agent is picked
// by round robin, then the manual assignee is added. Manual first: the
// conversation leaves the queue and a later drain changes nothing.
func (r *raceRig) manualVsDrain(t *testing.T) {
	p, conn, brokerAddr := r.p, r.conn, r.brokerAddr
	orders := map[string]int{}
	manual := createAgent(t, p, "Manuel Manual", nil)
	// Round 0 sends both at once; the later ones hold the manual
	// assignment back a little, so that the drain (which goes through
	// Postgres NOTIFY and the drainer) can come first too.
	for round, delay := range []time.Duration{0, 15 * time.Millisecond, 40 * time.Millisecond, 100 * time.Millisecond} {
		r := createAgent(t, p, fmt.Sprintf("Rory Robin %d", round), nil)
		team := createTeam(t, p, fmt.Sprintf("Race queue %d", round), "round_robin", r)
		qin := testInbox(60 + round)
		putInbox(t, p, qin.pnid, obj{"name": fmt.Sprintf("Race queue %d", round), "default_assign": obj{"team_id": team}})
		k := fmt.Sprintf("3183000000%d", round)
		sayText(t, p, qin, k, "waiting")
		c := openConv(t, p, qin, k, "the conversation is queued", func(c convJSON) bool { return c.Queued })

		var ar apiResp
		var aerr, perr error
		atOnce(2, func(i int) {
			if i == 0 {
				var pr apiResp
				pr, perr = apiCall(p.base, http.MethodPut, fmt.Sprintf("/v1/agents/%d/presence", r.ID), r.Token, obj{"status": "online"}, nil)
				if perr == nil && pr.Status != http.StatusOK {
					perr = fmt.Errorf("presence: %s", pr)
				}
				return
			}
			time.Sleep(delay)
			ar, aerr = apiCall(p.base, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", c.ID), e2eAdminToken,
				obj{"agent_ids": agentIDs(manual), "mode": "add"}, nil)
		})
		if aerr != nil || perr != nil || ar.Status != http.StatusOK {
			t.Fatalf("manual assignment %v %s; presence %v", aerr, ar, perr)
		}
		cmdID := ar.Header.Get("X-Command-Id")
		// A drain is published only while the conversation is queued, so
		// none can start after the manual assignment was applied; give
		// one in flight time to land and be applied.
		time.Sleep(300 * time.Millisecond)
		var order, drains []string
		wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, "every drain command on the partition is applied", func() (bool, string) {
			order = partitionOrder(t, brokerAddr, "wa.events", k)
			drains = nil
			for _, id := range order {
				if strings.HasPrefix(id, fmt.Sprintf("drain:%d:", c.ID)) {
					drains = append(drains, id)
				}
			}
			applied := 0
			for _, id := range drains {
				applied += sqlCount(t, conn, `SELECT count(*) FROM command_results WHERE command_id = $1`, id)
			}
			return applied == len(drains), fmt.Sprintf("%d of drains %v applied", applied, drains)
		})
		im := indexOfString(order, cmdID)
		if im < 0 {
			t.Fatalf("the manual command %s is not on the partition %v", cmdID, order)
		}
		drainFirst := len(drains) > 0 && indexOfString(order, drains[0]) < im
		after := getConv(t, p, c.ID)
		ds := getDecisions(t, p, c.ID)
		var events []string
		for _, d := range ds[1:] {
			events = append(events, d.EventID)
		}
		switch {
		case drainFirst:
			orders["drain first"]++
			expectAssignees(t, "drain then manual", after, asg(r, "round_robin"), asg(manual, "manual"))
			if len(ds) != 3 || ds[1].EventID != drains[0] || ds[2].EventID != cmdID {
				t.Errorf("drain then manual: decisions after the open are %v, want [%s %s]:%s", events, drains[0], cmdID, dumpDecisions(ds))
			} else {
				wantReason(t, "drain then manual", ds[1], "chosen", r.ID, r.Name)
			}
		default:
			orders["manual first"]++
			expectAssignees(t, "manual then drain", after, asg(manual, "manual"))
			if len(ds) != 2 || ds[1].EventID != cmdID {
				t.Errorf("manual then drain: decisions after the open are %v, want [%s] (a later drain finds nothing queued):%s", events, cmdID, dumpDecisions(ds))
			} else {
				wantReason(t, "manual then drain", ds[1], "dequeued", 0, "assigned manually")
			}
		}
		if after.Queued {
			t.Errorf("conversation %d is still queued", c.ID)
		}
		checkExplained(t, "queue race", ds)
		// Reset for the next round: Rory goes offline again.
		setPresence(t, p, r, "offline")
	}
	t.Logf("orders seen: %v", orders)
}

// bothAtOnce opens a conversation of contact k on inbox in with text,
// then has each agent POST body(agent) to the conversation's route at the
// same instant; it returns the conversation and the agents' answers.
func (r *raceRig) bothAtOnce(t *testing.T, in bizNumber, k, text, route string, body func(agentOutJSON) any, agents ...agentOutJSON) (convJSON, []apiResp, []error) {
	t.Helper()
	sayText(t, r.p, in, k, text)
	c := openConv(t, r.p, in, k, "conversation opens", nil)
	path := fmt.Sprintf("/v1/conversations/%d/%s", c.ID, route)
	res := make([]apiResp, len(agents))
	errs := make([]error, len(agents))
	atOnce(len(agents), func(i int) {
		res[i], errs[i] = apiCall(r.p.base, http.MethodPost, path, agents[i].Token, body(agents[i]), nil)
	})
	return c, res, errs
}

// twoClaims: two agents claim one conversation at once: the first claim in
// partition order wins, the other gets 409.
//
// The conversations wait in the queue of a team both agents belong to (its
// agent_visibility "team"), so the loser still sees the conversation once
// the winner has it: a teamless conversation assigned to the winner would
// be out of the loser's sight, and a loser whose request came after the
// winner's claim was applied would rightly get 404, not 409.
func (r *raceRig) twoClaims(t *testing.T) {
	p, brokerAddr := r.p, r.brokerAddr
	pa := createAgent(t, p, "Claire Claim", nil)
	qa := createAgent(t, p, "Quentin Claim", nil)
	team := createTeam(t, p, "Race claimers", "manual", pa, qa)
	queue := testInbox(42)
	putInbox(t, p, queue.pnid, obj{"name": "Race claim queue", "default_assign": obj{"team_id": team}})
	for round := 0; round < 5; round++ {
		k := fmt.Sprintf("3181000000%d", round)
		c, res, errs := r.bothAtOnce(t, queue, k, "who takes this?", "claim", func(agentOutJSON) any { return nil }, pa, qa)
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("claims: %v, %v", errs[0], errs[1])
		}
		win, lose := -1, -1
		for i := range res {
			switch {
			case res[i].Status == http.StatusOK:
				win = i
			case res[i].Status == http.StatusConflict && res[i].errorCode() == "already_claimed":
				lose = i
			}
		}
		if win < 0 || lose < 0 {
			t.Fatalf("two claims at once answered %s and %s; want one 200 and one 409 already_claimed", res[0], res[1])
		}
		winner := []agentOutJSON{pa, qa}[win]
		expectAssignees(t, "claim race", getConv(t, p, c.ID), asg(winner, "claim"))
		order := partitionOrder(t, brokerAddr, "wa.events", k)
		iw, il := indexOfString(order, res[win].Header.Get("X-Command-Id")), indexOfString(order, res[lose].Header.Get("X-Command-Id"))
		if iw < 0 || il < 0 || iw > il {
			t.Errorf("the winning claim is at %d and the refused one at %d of the partition %v: the first should win", iw, il, order)
		}
		var claims []decisionJSON
		for _, d := range getDecisions(t, p, c.ID) {
			if d.Rule == "claim" {
				claims = append(claims, d)
			}
		}
		if len(claims) != 1 || claims[0].EventID != res[win].Header.Get("X-Command-Id") {
			t.Errorf("claim decisions %v; want exactly the winner's", dumpDecisions(claims))
		} else {
			wantReason(t, "claim race", claims[0], "claimed", winner.ID, winner.Name)
		}
	}
}

// twoFirstReplies: two agents reply at once to a new conversation of an inbox where the
// first responder becomes the owner: exactly one becomes the owner,
// once the Cloud API (the simulator) accepted both replies.
func (r *raceRig) twoFirstReplies(t *testing.T) {
	p, conn := r.p, r.conn
	fr := testInbox(40)
	putInbox(t, p, fr.pnid, obj{"name": "Race FR", "welcome_message": "Hi, we are on it.", "first_responder_becomes_owner": true})
	pa := createAgent(t, p, "Paula Reply", nil)
	qa := createAgent(t, p, "Quim Reply", nil)
	for round := 0; round < 3; round++ {
		k := fmt.Sprintf("3182000000%d", round)
		c, res, errs := r.bothAtOnce(t, fr, k, "can somebody help me?", "messages",
			func(a agentOutJSON) any { return obj{"text": "I can help, " + a.Name + " here."} }, pa, qa)
		for i := range res {
			if errs[i] != nil || res[i].Status != http.StatusCreated {
				t.Fatalf("reply %d: %v %s; want 201", i, errs[i], res[i])
			}
		}
		wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "both replies accepted by the Cloud API and their results applied", func() (bool, string) {
			var m struct {
				Messages []struct {
					Direction     string  `json:"direction"`
					WAMID         *string `json:"wamid"`
					AuthorAgentID *int64  `json:"author_agent_id"`
					Status        string  `json:"status"`
				} `json:"messages"`
			}
			p.api(t, fmt.Sprintf("/v1/conversations/%d/messages", c.ID), &m)
			accepted := 0
			var st []string
			for _, msg := range m.Messages {
				if msg.Direction == "out" && msg.AuthorAgentID != nil {
					st = append(st, msg.Status)
					if msg.WAMID != nil {
						accepted++
					}
				}
			}
			return accepted == 2, fmt.Sprintf("agent replies with their statuses: %v", st)
		})
		if n := sqlCount(t, conn, `SELECT count(*) FROM outbox WHERE conversation_id = $1 AND state <> 'sent'`, c.ID); n != 0 {
			t.Errorf("%d outbox rows of conversation %d are not sent", n, c.ID)
		}
		var ct contactJSON
		apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/contacts/%d", c.ContactID), e2eAdminToken, nil, &ct)
		if len(ct.OwnerIDs) != 1 || (ct.OwnerIDs[0] != pa.ID && ct.OwnerIDs[0] != qa.ID) {
			t.Fatalf("after two first replies at once the contact's owners are %v; want exactly one of %d and %d", ct.OwnerIDs, pa.ID, qa.ID)
		}
		owner := pa
		if ct.OwnerIDs[0] == qa.ID {
			owner = qa
		}
		after := getConv(t, p, c.ID)
		expectAssignees(t, "first responder race", after, asg(owner, "first_responder"))
		if after.FirstReplyAt == nil {
			t.Errorf("conversation %d has no first_reply_at", c.ID)
		}
		var frs []decisionJSON
		for _, d := range getDecisions(t, p, c.ID) {
			if d.Rule == "first_responder" {
				frs = append(frs, d)
			}
		}
		if len(frs) != 1 {
			t.Errorf("first-responder decisions:%s\nwant exactly one", dumpDecisions(frs))
		} else {
			wantReason(t, "first responder", frs[0], "new_owner", owner.ID, owner.Name, "owner")
		}
		t.Logf("round %d: %s became the owner", round, owner.Name)
	}
}
