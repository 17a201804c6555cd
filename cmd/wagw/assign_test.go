package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/wagw/wagw/wagwtest"
)

// End-to-end tests of the assignment rules (DESIGN §6, issue 3): `serve`
// in-process, signed webhooks in over HTTP, the API over HTTP with the
// admin token and agents' tokens, real Postgres and the embedded broker
// over TCP. Helpers are in assign_helpers_test.go.

// expectAssignees compares a conversation's assignees, as a set, with want
// ("id:source" each).
func expectAssignees(t *testing.T, what string, c convJSON, want ...string) {
	t.Helper()
	var got []string
	for _, a := range c.Assignees {
		got = append(got, fmt.Sprintf("%d:%s", a.AgentID, a.Source))
	}
	sort.Strings(got)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: conversation %d has assignees %v, want %v", what, c.ID, got, want)
	}
}

func asg(a agentOutJSON, source string) string { return fmt.Sprintf("%d:%s", a.ID, source) }

// checkExplained requires every decision to explain itself in words: a
// summary that starts with the rule, and reasons that are sentences
// naming agents by name.
func checkExplained(t *testing.T, what string, ds []decisionJSON) {
	t.Helper()
	if len(ds) == 0 {
		t.Errorf("%s: the decision log is empty", what)
	}
	for _, d := range ds {
		if d.Rule == "" || !strings.HasPrefix(d.Summary, d.Rule+": ") {
			t.Errorf("%s: decision #%d has rule %q and summary %q; want a summary that starts with the rule", what, d.ID, d.Rule, d.Summary)
		}
		if len(d.Reasons) == 0 {
			t.Errorf("%s: decision #%d (%s) gives no reasons", what, d.ID, d.Summary)
		}
		for _, r := range d.Reasons {
			first := []rune(r.Text + " ")[0]
			if r.Code == "" || !unicode.IsUpper(first) || !strings.HasSuffix(r.Text, ".") ||
				strings.Contains(r.Text, "%!") || strings.Contains(r.Text, "agent #") {
				t.Errorf("%s: decision #%d reason [%s] %q is not a sentence naming agents by name", what, d.ID, r.Code, r.Text)
			}
		}
		if strings.Contains(d.Summary, "agent #") {
			t.Errorf("%s: decision #%d summary %q names an agent by number", what, d.ID, d.Summary)
		}
	}
}

// lastDecision returns the newest decision of a conversation.
func lastDecision(t *testing.T, p *serveProc, convID int64) decisionJSON {
	t.Helper()
	ds := getDecisions(t, p, convID)
	if len(ds) == 0 {
		t.Fatalf("conversation %d has no decision", convID)
	}
	return ds[len(ds)-1]
}

func wantReason(t *testing.T, what string, d decisionJSON, code string, agentID int64, contains ...string) {
	t.Helper()
	r, ok := d.reason(code, agentID)
	if !ok {
		t.Errorf("%s: decision has no %q reason (agent %d):%s", what, code, agentID, dumpDecisions([]decisionJSON{d}))
		return
	}
	for _, s := range contains {
		if !strings.Contains(r.Text, s) {
			t.Errorf("%s: reason [%s] %q does not say %q", what, code, r.Text, s)
		}
	}
}

func agentIDs(as ...agentOutJSON) []int64 {
	out := []int64{}
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// TestAssignCommandAcceptedThenPolled: when the consumer's result does
// not come within WAGW_COMMAND_WAIT the API answers 202 with where to
// poll; GET /v1/commands/{id} then gives the result, and repeating the
// request with its Idempotency-Key answers with that result.
func TestAssignCommandAcceptedThenPolled(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	env["WAGW_COMMAND_WAIT"] = "1ms"
	p := startServe(t, env)
	in := testInbox(2)
	putInbox(t, p, in.pnid, obj{"name": "Polling"})
	agent := createAgent(t, p, "Polly Agent", nil)
	const k = "31630000001"
	sayText(t, p, in, k, "hello")
	c := openConv(t, p, in, k, "conversation opens", nil)

	path := fmt.Sprintf("/v1/conversations/%d/assignees", c.ID)
	var r apiResp
	var hdr map[string]string
	for attempt := 1; attempt <= 5; attempt++ {
		hdr = map[string]string{"Idempotency-Key": fmt.Sprintf("poll-%d", attempt)}
		r = apiDo(t, p, http.MethodPost, path, e2eAdminToken, obj{"agent_ids": agentIDs(agent), "mode": "add"}, hdr)
		if r.Status == http.StatusAccepted {
			break
		}
		t.Logf("attempt %d answered %d within 1 ms; trying again", attempt, r.Status)
	}
	if r.Status != http.StatusAccepted {
		t.Fatalf("POST %s with WAGW_COMMAND_WAIT=1ms = %s, want 202", path, r)
	}
	var acc struct {
		CommandID string `json:"command_id"`
		Status    string `json:"status"`
		Poll      string `json:"poll"`
	}
	if err := json.Unmarshal(r.Body, &acc); err != nil || acc.CommandID == "" || acc.Status != "pending" ||
		acc.Poll != "/v1/commands/"+acc.CommandID || r.Header.Get("Location") != acc.Poll {
		t.Fatalf("202 answer %s (Location %q): want command_id, status pending, poll /v1/commands/{id} and the same Location", r, r.Header.Get("Location"))
	}
	var done struct {
		Status     string        `json:"status"`
		HTTPStatus int           `json:"http_status"`
		Result     commandAnswer `json:"result"`
	}
	wagwtest.WaitFor(t, 10*time.Second, "GET "+acc.Poll+" is done", func() (bool, string) {
		g := apiDo(t, p, http.MethodGet, acc.Poll, agent.Token, nil, nil)
		if g.Status == http.StatusOK {
			json.Unmarshal(g.Body, &done)
		}
		return g.Status == http.StatusOK && done.Status == "done", g.String()
	})
	if done.HTTPStatus != http.StatusOK {
		t.Errorf("command result http_status %d, want 200", done.HTTPStatus)
	}
	expectAssignees(t, "polled result", done.Result.Conversation, asg(agent, "manual"))
	expectAssignees(t, "GET after the poll", getConv(t, p, c.ID), asg(agent, "manual"))

	again := apiDo(t, p, http.MethodPost, path, e2eAdminToken, obj{"agent_ids": agentIDs(agent), "mode": "add"}, hdr)
	var replay commandAnswer
	if again.Status != http.StatusOK || json.Unmarshal(again.Body, &replay) != nil || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeat with the Idempotency-Key of a finished command = %s, want the stored 200 result", again)
	} else {
		expectAssignees(t, "replayed result", replay.Conversation, asg(agent, "manual"))
	}
	if g := apiDo(t, p, http.MethodGet, "/v1/commands/cmd_never_sent", e2eAdminToken, nil, nil); g.Status != http.StatusAccepted {
		t.Errorf("GET /v1/commands for an unknown id = %s, want 202 pending", g)
	}
}

// ---------------------------------------------------------------- fairness

// sendAtOnce opens n conversations from distinct contacts (wa_ids with the
// prefix) on the inbox with `posts` webhooks sent concurrently.
func sendAtOnce(t *testing.T, p *serveProc, in bizNumber, prefix string, n, posts int, text func(i int) string) {
	t.Helper()
	bodies := make([][]byte, posts)
	for b := range bodies {
		var msgs []inText
		for i := b; i < n; i += posts {
			msgs = append(msgs, inText{waID: fmt.Sprintf("%s%07d", prefix, i), text: text(i), wamid: nextWAMID("bulk")})
		}
		bodies[b] = in.webhookBody(msgs...)
	}
	var wg sync.WaitGroup
	errs := make([]error, posts)
	gate := make(chan struct{})
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			errs[i] = postWebhook(p.base, bodies[i])
		}()
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("webhook %d of %d: %v", i+1, posts, err)
		}
	}
}

// ---------------------------------------------------------------- races

// TestRacesFollowPartitionOrder fires conflicting writes for one contact
// at the same instant and checks that the outcome is the one the order of
// the contact's partition gives, and that the decision log says so.
func TestRacesFollowPartitionOrder(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	brokerAddr := env["KAFKA_EMBEDDED_ADDR"]
	pick := testInbox(20) // no routing: pick-and-assign
	putInbox(t, p, pick.pnid, obj{"name": "Race pick"})

	// A manual assignment of the contact's open conversation and a new
	// conversation of the same contact, opened at the same instant on
	// another inbox whose least-open team has the same two agents: the
	// manual assignment raises X's open count, so the new conversation goes
	// to Y when the assignment came first in the partition and to X (the
	// tie goes to member order) when the webhook came first.
	t.Run("manual and automatic assignment", func(t *testing.T) {
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
			var wg sync.WaitGroup
			gate := make(chan struct{})
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-gate
				ar, aerr = apiCall(p.base, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", c1.ID), e2eAdminToken,
					obj{"agent_ids": agentIDs(x), "mode": "add"}, nil)
			}()
			go func() {
				defer wg.Done()
				<-gate
				time.Sleep(delay)
				werr = postWebhook(p.base, auto.webhookBody(inText{waID: k, text: "a new question", wamid: w}))
			}()
			close(gate)
			wg.Wait()
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
	})

	// The same conversation: it waits in the queue; its team's agent comes
	// online (the drainer puts a drain command on the contact's partition)
	// while an admin assigns it manually. Drain first: the agent is picked
	// by round robin, then the manual assignee is added. Manual first: the
	// conversation leaves the queue and a later drain changes nothing.
	t.Run("manual assignment and queue drain", func(t *testing.T) {
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
			var wg sync.WaitGroup
			gate := make(chan struct{})
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-gate
				var pr apiResp
				pr, perr = apiCall(p.base, http.MethodPut, fmt.Sprintf("/v1/agents/%d/presence", r.ID), r.Token, obj{"status": "online"}, nil)
				if perr == nil && pr.Status != http.StatusOK {
					perr = fmt.Errorf("presence: %s", pr)
				}
			}()
			go func() {
				defer wg.Done()
				<-gate
				time.Sleep(delay)
				ar, aerr = apiCall(p.base, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", c.ID), e2eAdminToken,
					obj{"agent_ids": agentIDs(manual), "mode": "add"}, nil)
			}()
			close(gate)
			wg.Wait()
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
	})

	// Two agents claim one conversation at once: the first claim in
	// partition order wins, the other gets 409.
	t.Run("two claims", func(t *testing.T) {
		pa := createAgent(t, p, "Claire Claim", nil)
		qa := createAgent(t, p, "Quentin Claim", nil)
		for round := 0; round < 5; round++ {
			k := fmt.Sprintf("3181000000%d", round)
			sayText(t, p, pick, k, "who takes this?")
			c := openConv(t, p, pick, k, "conversation opens", nil)
			path := fmt.Sprintf("/v1/conversations/%d/claim", c.ID)
			res := make([]apiResp, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i, a := range []agentOutJSON{pa, qa} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					res[i], errs[i] = apiCall(p.base, http.MethodPost, path, a.Token, nil, nil)
				}()
			}
			close(gate)
			wg.Wait()
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
	})

	// Two agents reply at once to a new conversation of an inbox where the
	// first responder becomes the owner: exactly one becomes the owner,
	// once the Cloud API (the simulator) accepted both replies.
	t.Run("two first replies", func(t *testing.T) {
		fr := testInbox(40)
		putInbox(t, p, fr.pnid, obj{"name": "Race FR", "welcome_message": "Hi, we are on it.", "first_responder_becomes_owner": true})
		pa := createAgent(t, p, "Paula Reply", nil)
		qa := createAgent(t, p, "Quim Reply", nil)
		for round := 0; round < 3; round++ {
			k := fmt.Sprintf("3182000000%d", round)
			sayText(t, p, fr, k, "can somebody help me?")
			c := openConv(t, p, fr, k, "conversation opens", nil)
			path := fmt.Sprintf("/v1/conversations/%d/messages", c.ID)
			res := make([]apiResp, 2)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i, a := range []agentOutJSON{pa, qa} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					res[i], errs[i] = apiCall(p.base, http.MethodPost, path, a.Token, obj{"text": "I can help, " + a.Name + " here."}, nil)
				}()
			}
			close(gate)
			wg.Wait()
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
				p.api(t, path, &m)
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
	})
	p.running(t)
}

// ---------------------------------------------------------------- queue

// TestQueueAssignsWhenAgentComesOnline: with nobody eligible a
// conversation waits in its team's queue; it is assigned as soon as an
// agent comes online (oldest first: the agent has room for one), frees
// capacity by resolving, or joins the team, each driven by that event.
func TestQueueAssignsWhenAgentComesOnline(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	one := 1
	quinn := createAgent(t, p, "Quinn Queue", &one) // offline, room for one
	team := createTeam(t, p, "Queue Team", "round_robin", quinn)
	in := testInbox(50)
	putInbox(t, p, in.pnid, obj{"name": "Queue", "default_assign": obj{"team_id": team}})

	queued := func(c convJSON) bool { return c.Queued }
	sayText(t, p, in, "31900000001", "first in line")
	older := openConv(t, p, in, "31900000001", "the first conversation is queued", queued)
	sayText(t, p, in, "31900000002", "second in line")
	newer := openConv(t, p, in, "31900000002", "the second conversation is queued", queued)
	for _, c := range []convJSON{older, newer} {
		if len(c.Assignees) != 0 || c.TeamID == nil || *c.TeamID != team || c.QueuedAt == nil {
			t.Fatalf("queued conversation %+v: want no assignee, team %d, queued_at set", c, team)
		}
		d := lastDecision(t, p, c.ID)
		if !d.Queued || !strings.Contains(d.Summary, "queued for team Queue Team") {
			t.Errorf("decision of queued conversation %d: %s", c.ID, d)
		}
		wantReason(t, "nobody online", d, "offline", quinn.ID, "Quinn Queue")
		wantReason(t, "nobody online", d, "queued", 0, "queue of team Queue Team")
	}
	if !older.QueuedAt.Before(*newer.QueuedAt) {
		t.Fatalf("queued_at %v and %v: the first conversation should be older", older.QueuedAt, newer.QueuedAt)
	}

	// Quinn comes online: the older conversation is assigned at once.
	assignedTo := func(a agentOutJSON) func(convJSON) bool {
		return func(c convJSON) bool { return len(c.Assignees) == 1 && c.Assignees[0].AgentID == a.ID && !c.Queued }
	}
	waitAssigned := func(what string, c convJSON, a agentOutJSON, trigger func()) {
		t.Helper()
		trigger()
		start := time.Now()
		wagwtest.WaitEvery(t, 3*time.Second, 5*time.Millisecond, what, func() (bool, string) {
			got := getConv(t, p, c.ID)
			return assignedTo(a)(got), fmt.Sprintf("assignees %s, queued %v", got.who(), got.Queued)
		})
		took := time.Since(start)
		t.Logf("%s: assigned %v after the event", what, took.Round(time.Millisecond))
		if took > time.Second {
			t.Logf("note: %s took more than the 1 s the issue asks for (the test allows 3 s on a busy machine)", what)
		}
	}
	waitAssigned("agent comes online", older, quinn, func() { setPresence(t, p, quinn, "online") })
	expectAssignees(t, "oldest first", getConv(t, p, older.ID), asg(quinn, "round_robin"))
	d := lastDecision(t, p, older.ID)
	if !strings.HasPrefix(d.Rule, "drain_queue") || d.Queued {
		t.Errorf("decision after coming online: %s", d)
	}
	wantReason(t, "drain", d, "chosen", quinn.ID, "Quinn Queue")
	time.Sleep(300 * time.Millisecond) // a wrong drain would have happened by now
	if c := getConv(t, p, newer.ID); !c.Queued || len(c.Assignees) != 0 {
		t.Errorf("the newer conversation left the queue although Quinn has room for one: %s, queued %v", c.who(), c.Queued)
	}

	// Resolving frees Quinn's slot: the newer one is assigned.
	waitAssigned("capacity freed by resolve", newer, quinn, func() {
		apiMust(t, p, http.StatusOK, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/resolve", older.ID), quinn.Token, nil, nil)
	})

	// A team with no members queues; an online agent joining it takes the
	// conversation.
	empty := createTeam(t, p, "Empty Team", "round_robin")
	in2 := testInbox(51)
	putInbox(t, p, in2.pnid, obj{"name": "Queue empty", "default_assign": obj{"team_id": empty}})
	sayText(t, p, in2, "31900000003", "anyone?")
	lonely := openConv(t, p, in2, "31900000003", "the conversation waits in the empty team's queue", queued)
	wantReason(t, "empty team", lastDecision(t, p, lonely.ID), "no_members", 0, "no members")
	rita := createAgent(t, p, "Rita Joins", nil)
	setPresence(t, p, rita, "online")
	waitAssigned("agent joins the team", lonely, rita, func() {
		apiMust(t, p, http.StatusOK, http.MethodPut, fmt.Sprintf("/v1/teams/%d", empty), e2eAdminToken,
			obj{"name": "Empty Team", "member_ids": agentIDs(rita), "strategy": "round_robin"}, nil)
	})
	for _, id := range []int64{older.ID, newer.ID, lonely.ID} {
		checkExplained(t, fmt.Sprintf("queued conversation %d", id), getDecisions(t, p, id))
	}
	p.running(t)
}

// TestAssignIdempotencyKeyFreedWhenKafkaIsDown: a write whose command
// could not be produced (503) must not keep its Idempotency-Key, or the
// client's retry with the same key would wait forever for a command that
// never existed. A gateway on an unreachable Kafka shares serve's database.
func TestAssignIdempotencyKeyFreedWhenKafkaIsDown(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	p := startServe(t, serveEnv(t, dsn))
	in := testInbox(70)
	putInbox(t, p, in.pnid, obj{"name": "Kafka down"})
	agent := createAgent(t, p, "Kim Retry", nil)
	const k = "31640000001"
	sayText(t, p, in, k, "hello")
	c := openConv(t, p, in, k, "conversation opens", nil)

	genv := map[string]string{"WAGW_HTTP_ADDR": freeTCPAddr(t), "KAFKA_BROKERS": freeTCPAddr(t), "DATABASE_URL": dsn,
		"WA_APP_SECRET": e2eAppSecret, "WA_VERIFY_TOKEN": e2eVerifyToken, "WAGW_ADMIN_TOKEN": e2eAdminToken, "WAGW_LOG_LEVEL": "error"}
	ctx, cancel := context.WithCancel(context.Background())
	gdone, glog := make(chan error, 1), runLog(t)
	go func() {
		gdone <- run(ctx, []string{"gateway"}, func(k string) string { return genv[k] }, &wagwtest.SyncBuffer{}, glog)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-gdone:
		case <-time.After(15 * time.Second):
			t.Errorf("gateway did not stop within 15 s")
		}
	})
	down := &serveProc{base: "http://" + genv["WAGW_HTTP_ADDR"]}
	wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, "the gateway on a dead Kafka answers /healthz", func() (bool, string) {
		select {
		case err := <-gdone:
			t.Fatalf("gateway exited: %v", err)
		default:
		}
		r, err := apiCall(down.base, http.MethodGet, "/healthz", "", nil, nil)
		return err == nil && r.Status == http.StatusOK, fmt.Sprintf("%v %s", err, r)
	})

	path := fmt.Sprintf("/v1/conversations/%d/assignees", c.ID)
	body := obj{"agent_ids": agentIDs(agent), "mode": "add"}
	key := map[string]string{"Idempotency-Key": "retry-after-503"}
	r := apiDo(t, down, http.MethodPost, path, e2eAdminToken, body, key)
	wantError(t, "assignment through a gateway whose Kafka is down", r, http.StatusServiceUnavailable, "kafka_unavailable")

	// The client retries with the same key once Kafka is back (here: the
	// healthy gateway of serve): the assignment is applied.
	r = apiDo(t, p, http.MethodPost, path, e2eAdminToken, body, key)
	if r.Status != http.StatusOK {
		t.Errorf("retry with the Idempotency-Key of a request that got 503 = %s (replayed %q); want 200: the key was kept although no command was produced",
			r, r.Header.Get("Idempotent-Replayed"))
	}
	expectAssignees(t, "after the retry", getConv(t, p, c.ID), asg(agent, "manual"))
}
