package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
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
	errs := make([]error, posts)
	atOnce(posts, func(i int) { errs[i] = postWebhook(p.base, bodies[i]) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("webhook %d of %d: %v", i+1, posts, err)
		}
	}
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
