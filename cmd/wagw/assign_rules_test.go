package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/wagwtest"
)

// Every assignment rule through the API (DESIGN §6): owners on open,
// manual add/replace/unassign, resolve, flow steps from routing, keyword
// routing to a round-robin team, an owner satisfying the team step,
// pick-and-assign with claims, the welcome message, the decision log,
// Idempotency-Key and the error codes. One story on one serve: each step
// is a subtest named as the behaviour it shows, and builds on the
// conversations the steps before it left.

const (
	rulesWelcome = "Welcome to wagw! An agent will be with you shortly."
	rulesK1      = "31620000001" // owned by Ana; resolved, then a VIP
	rulesK5      = "31620000200" // owned by Carla, a Support member
	rulesK6      = "31620000300" // no rule matches: pick-and-assign
	rulesK7      = "31620000400" // opens with a message an hour old
	rulesK8      = "31620000500" // a burst, redelivered; then the API's writes
	rulesRefunds = 4             // refund conversations, round robin
)

// rulesRefunder is the wa_id of the contact of refund conversation i.
func rulesRefunder(i int) string { return fmt.Sprintf("316200001%02d", i) }

// rulesStory is the rig and what its steps leave for the later ones.
type rulesStory struct {
	p     *serveProc
	conn  *sqlx.DB
	sim   string
	in    bizNumber
	admin string

	ana, bruno, carla, dora, eli, fia, gus agentOutJSON
	support                                int64

	k1ID                   int64
	c1, c2, c5, c6, c7, c8 convJSON
	rrConvs                []int64
	claim, path8           string // c6's claim route, c8's assignees route
}

// newRulesStory starts serve and sets up seven agents (Bruno and Carla
// online, in the round-robin team Support) and an inbox that routes "vip"
// to Dora and Eli and "refund" to Support.
func newRulesStory(t *testing.T) *rulesStory {
	t.Helper()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	s := &rulesStory{p: startServe(t, env), conn: conn, sim: "http://" + env["WAGW_SIMULATOR_ADDR"], in: testInbox(1), admin: e2eAdminToken}
	p := s.p
	s.ana = createAgent(t, p, "Ana Owner", nil) // an owner; stays offline
	s.bruno = createAgent(t, p, "Bruno Support", nil)
	s.carla = createAgent(t, p, "Carla Support", nil)
	s.dora = createAgent(t, p, "Dora Flow", nil)
	s.eli = createAgent(t, p, "Eli Flow", nil)
	s.fia = createAgent(t, p, "Fia Manual", nil)
	s.gus = createAgent(t, p, "Gus Manual", nil)
	setPresence(t, p, s.bruno, "online")
	setPresence(t, p, s.carla, "online")
	s.support = createTeam(t, p, "Support", "round_robin", s.bruno, s.carla)
	putInbox(t, p, s.in.pnid, obj{"name": "Main", "welcome_message": rulesWelcome, "first_responder_becomes_owner": false,
		"routing": arr{
			obj{"when": obj{"keyword": "vip"}, "assign": obj{"agent_ids": agentIDs(s.dora, s.eli)}},
			obj{"when": obj{"keyword": "refund"}, "assign": obj{"team_id": s.support}},
		}})
	return s
}

func TestAssignmentRules(t *testing.T) {
	t.Parallel()
	s := newRulesStory(t)
	step(t, "a contact's owners are assigned when it opens a conversation, whatever their presence", s.ownersOnOpen)
	step(t, "manual add keeps the owner, manual replace removes the earlier manual assignee, both warn of presence", s.manualAddReplace)
	step(t, "unassigning the owner from a conversation leaves the contact's owners as they are", s.unassignOwner)
	step(t, "resolve closes the conversation and frees the counts, later writes are 409", s.resolve)
	step(t, "a routing rule naming agents is a flow step, assigned with the owners", s.flowStep)
	step(t, "a keyword routes to a round-robin team whose members take turns", s.roundRobin)
	step(t, "an owner who is an online member satisfies the team step", s.ownerSatisfiesTeam)
	step(t, "without a rule the conversation awaits a claim, the first claim wins", s.pickAndAssign)
	step(t, "no welcome for an opening message older than 10 minutes", s.staleOpening)
	step(t, "a burst and its redeliveries open one conversation", s.burstRedelivered)
	step(t, "the same Idempotency-Key twice is applied once, with another body it is 422", s.idempotencyKey)
	step(t, "the same Idempotency-Key three times at once is one command", s.idempotencyKeyAtOnce)
	step(t, "refused requests answer stable error codes and change nothing", s.errorCodes)
	step(t, "a deactivated agent's token is refused and the agent cannot be assigned", s.deactivated)
	step(t, "conversations filter by assignee and by team", s.filters)
	step(t, "a manual assignment naming only a team runs the team's strategy", s.manualTeam)
	step(t, "every decision explains itself in sentences naming agents", s.explained)
	step(t, "one welcome per fresh conversation reaches the Cloud API", s.welcomes)
	s.p.running(t)
}

// Rule 2: the contact's owners are added when it opens a conversation,
// whatever their presence.
func (s *rulesStory) ownersOnOpen(t *testing.T) {
	p := s.p
	s.k1ID = reactOnce(t, p, s.in, rulesK1)
	var owners struct {
		ContactID int64   `json:"contact_id"`
		OwnerIDs  []int64 `json:"owner_ids"`
	}
	apiMust(t, p, http.StatusOK, http.MethodPut, fmt.Sprintf("/v1/contacts/%d/owners", s.k1ID), s.admin, obj{"agent_ids": agentIDs(s.ana)}, &owners)
	if owners.ContactID != s.k1ID || !slices.Equal(owners.OwnerIDs, agentIDs(s.ana)) {
		t.Errorf("PUT owners answered %+v, want contact %d with owner %d", owners, s.k1ID, s.ana.ID)
	}
	sayText(t, p, s.in, rulesK1, "hello, is anyone there?")
	s.c1 = openConv(t, p, s.in, rulesK1, "k1 opens a conversation with its owner assigned", hasAssignees)
	expectAssignees(t, "owner on open", s.c1, asg(s.ana, "owner"))
	if s.c1.TeamID != nil || s.c1.Queued {
		t.Errorf("owner-only conversation: team %v, queued %v; want no team, not queued", s.c1.TeamID, s.c1.Queued)
	}
	d := lastDecision(t, p, s.c1.ID)
	if !strings.Contains(d.Rule, "default_assignees") || !strings.Contains(d.Summary, "welcome message queued") {
		t.Errorf("open decision of c1: rule %q, summary %q; want default_assignees and a queued welcome", d.Rule, d.Summary)
	}
	wantReason(t, "owner on open", d, "owner", s.ana.ID, "Ana Owner", "not gated on presence")
	wantReason(t, "owner on open", d, "welcome", 0)
}

// Rule 3: manual add keeps the owner; manual replace keeps the owner and
// removes the earlier manual assignee; both bypass presence and warn.
func (s *rulesStory) manualAddReplace(t *testing.T) {
	p := s.p
	var ans commandAnswer
	assignees := fmt.Sprintf("/v1/conversations/%d/assignees", s.c1.ID)
	apiMust(t, p, http.StatusOK, http.MethodPost, assignees, s.admin, obj{"agent_ids": agentIDs(s.fia), "mode": "add"}, &ans)
	expectAssignees(t, "manual add (answer)", ans.Conversation, asg(s.ana, "owner"), asg(s.fia, "manual"))
	if ans.Decision.Rule != "manual" || len(ans.Decision.Warnings) == 0 || !strings.Contains(strings.Join(ans.Decision.Warnings, " "), "Fia Manual") {
		t.Errorf("manual add of an offline agent: decision %+v; want rule manual with a warning naming Fia Manual", ans.Decision)
	}
	expectAssignees(t, "manual add (GET)", getConv(t, p, s.c1.ID), asg(s.ana, "owner"), asg(s.fia, "manual"))
	ans = commandAnswer{}
	apiMust(t, p, http.StatusOK, http.MethodPost, assignees, s.admin, obj{"agent_ids": agentIDs(s.gus), "mode": "replace"}, &ans)
	expectAssignees(t, "manual replace", ans.Conversation, asg(s.ana, "owner"), asg(s.gus, "manual"))
	d := lastDecision(t, p, s.c1.ID)
	wantReason(t, "manual replace", d, "kept", s.ana.ID, "Ana Owner", "owner")
	wantReason(t, "manual replace", d, "removed", s.fia.ID, "Fia Manual")
	wantReason(t, "manual replace", d, "added", s.gus.ID, "Gus Manual")
}

// Unassign is the only way an owner leaves; the contact keeps its owner.
func (s *rulesStory) unassignOwner(t *testing.T) {
	p := s.p
	var ans commandAnswer
	apiMust(t, p, http.StatusOK, http.MethodDelete, fmt.Sprintf("/v1/conversations/%d/assignees/%d", s.c1.ID, s.ana.ID), s.admin, nil, &ans)
	expectAssignees(t, "unassign the owner", ans.Conversation, asg(s.gus, "manual"))
	wantReason(t, "unassign the owner", lastDecision(t, p, s.c1.ID), "removed", s.ana.ID, "Ana Owner", "unassigned")
	var ct contactJSON
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/contacts/%d", s.k1ID), s.admin, nil, &ct)
	if !slices.Equal(ct.OwnerIDs, agentIDs(s.ana)) {
		t.Errorf("after unassigning the owner from a conversation the contact's owners are %v, want [%d]", ct.OwnerIDs, s.ana.ID)
	}
}

// Resolve closes it and frees the assignees' counts; later writes are 409.
func (s *rulesStory) resolve(t *testing.T) {
	p := s.p
	apiMust(t, p, http.StatusOK, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/resolve", s.c1.ID), s.admin, nil, nil)
	if c := getConv(t, p, s.c1.ID); c.Status != "resolved" {
		t.Errorf("after resolve conversation %d is %q", s.c1.ID, c.Status)
	}
	wantReason(t, "resolve", lastDecision(t, p, s.c1.ID), "resolved", 0)
	if a := getAgent(t, p, s.gus.ID); a.OpenCount != 0 {
		t.Errorf("Gus has %d open conversations after his only one was resolved", a.OpenCount)
	}
	wantError(t, "assign on a resolved conversation",
		apiDo(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", s.c1.ID), s.admin, obj{"agent_ids": agentIDs(s.fia)}, nil),
		http.StatusConflict, "conversation_resolved")
}

// Rule 4: a routing rule naming users is a flow step: flow users ∪ owners.
func (s *rulesStory) flowStep(t *testing.T) {
	p := s.p
	sayText(t, p, s.in, rulesK1, "I am a VIP customer")
	s.c2 = openConv(t, p, s.in, rulesK1, "k1's second conversation is assigned", hasAssignees)
	if s.c2.ID == s.c1.ID {
		t.Fatalf("the message after resolve did not open a new conversation")
	}
	expectAssignees(t, "flow step with owner", s.c2, asg(s.ana, "owner"), asg(s.dora, "flow"), asg(s.eli, "flow"))
	d := lastDecision(t, p, s.c2.ID)
	if !strings.Contains(d.Rule, "default_assignees") || !strings.Contains(d.Rule, "routing:1") {
		t.Errorf("flow decision rule %q, want default_assignees then routing:1", d.Rule)
	}
	wantReason(t, "flow step", d, "rule_matched", 0, "Routing rule 1 matched")
	wantReason(t, "flow step", d, "added", s.dora.ID, "Dora Flow", "automation")
	sayText(t, p, s.in, rulesK1, "one more message in the same conversation")
	wagwtest.WaitFor(t, 10*time.Second, "second message of c2 stored", func() (bool, string) {
		var m struct {
			Messages []json.RawMessage `json:"messages"`
		}
		p.api(t, fmt.Sprintf("/v1/conversations/%d/messages", s.c2.ID), &m)
		return len(m.Messages) >= 2, fmt.Sprintf("%d messages", len(m.Messages))
	})
}

// Rules 7 and 8: a keyword routes to the round-robin team; members take
// turns in member order.
func (s *rulesStory) roundRobin(t *testing.T) {
	p := s.p
	for i := 0; i < rulesRefunds; i++ {
		want := []agentOutJSON{s.bruno, s.carla}[i%2]
		k := rulesRefunder(i)
		sayText(t, p, s.in, k, "I want a REFUND please")
		c := openConv(t, p, s.in, k, "refund conversation is assigned by round robin", hasAssignees)
		s.rrConvs = append(s.rrConvs, c.ID)
		expectAssignees(t, fmt.Sprintf("round robin #%d", i+1), c, asg(want, "round_robin"))
		if c.TeamID == nil || *c.TeamID != s.support {
			t.Errorf("refund conversation %d has team %v, want %d", c.ID, c.TeamID, s.support)
		}
		d := lastDecision(t, p, c.ID)
		if !strings.Contains(d.Rule, "routing:2") || !strings.Contains(d.Rule, "round_robin") {
			t.Errorf("round robin decision rule %q, want routing:2 and round_robin", d.Rule)
		}
		wantReason(t, "round robin", d, "chosen", want.ID, want.Name, "round robin", "team Support")
	}
}

// Rule 4, team step: an owner who is an online member satisfies it.
func (s *rulesStory) ownerSatisfiesTeam(t *testing.T) {
	p := s.p
	k5ID := reactOnce(t, p, s.in, rulesK5)
	apiMust(t, p, http.StatusOK, http.MethodPut, fmt.Sprintf("/v1/contacts/%d/owners", k5ID), s.admin, obj{"agent_ids": agentIDs(s.carla)}, nil)
	sayText(t, p, s.in, rulesK5, "refund")
	s.c5 = openConv(t, p, s.in, rulesK5, "refund conversation of a contact owned by a member", hasAssignees)
	expectAssignees(t, "owner satisfies the team step", s.c5, asg(s.carla, "owner"))
	wantReason(t, "owner satisfies the team step", lastDecision(t, p, s.c5.ID), "team_satisfied", s.carla.ID, "Carla Support")
}

// Rule 6: no rule matches and no default: pick-and-assign; the first
// claim wins, a second is 409, the winner claiming again changes nothing.
func (s *rulesStory) pickAndAssign(t *testing.T) {
	p := s.p
	sayText(t, p, s.in, rulesK6, "hello there")
	s.c6 = openConv(t, p, s.in, rulesK6, "k6 opens a conversation", nil)
	if len(s.c6.Assignees) != 0 || s.c6.TeamID != nil || s.c6.Queued {
		t.Errorf("pick-and-assign conversation: %+v, want unassigned, no team, not queued", s.c6)
	}
	d := lastDecision(t, p, s.c6.ID)
	if d.Rule != "pick_and_assign" {
		t.Errorf("pick-and-assign decision rule %q", d.Rule)
	}
	wantReason(t, "pick-and-assign", d, "awaiting_claim", 0, "claims")
	var unassigned struct {
		Conversations []convJSON `json:"conversations"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, "/v1/conversations?unassigned=true&status=open&limit=1000", s.admin, nil, &unassigned)
	if !slices.ContainsFunc(unassigned.Conversations, func(c convJSON) bool { return c.ID == s.c6.ID }) {
		t.Errorf("GET /v1/conversations?unassigned=true does not list %d", s.c6.ID)
	}
	s.claim = fmt.Sprintf("/v1/conversations/%d/claim", s.c6.ID)
	var ans commandAnswer
	apiMust(t, p, http.StatusOK, http.MethodPost, s.claim, s.bruno.Token, nil, &ans)
	expectAssignees(t, "claim", ans.Conversation, asg(s.bruno, "claim"))
	// Carla no longer sees Bruno's conversation (it has no team): 404; an
	// admin claiming it for her is refused as already claimed.
	wantError(t, "second claim", apiDo(t, p, http.MethodPost, s.claim, s.carla.Token, nil, nil), http.StatusNotFound, "not_found")
	wantError(t, "second claim for Carla", apiDo(t, p, http.MethodPost, s.claim, s.admin, obj{"agent_id": s.carla.ID}, nil), http.StatusConflict, "already_claimed")
	apiMust(t, p, http.StatusOK, http.MethodPost, s.claim, s.bruno.Token, nil, nil)
	expectAssignees(t, "after a refused claim", getConv(t, p, s.c6.ID), asg(s.bruno, "claim"))
	wantReason(t, "claim", getDecisions(t, p, s.c6.ID)[1], "claimed", s.bruno.ID, "Bruno Support")
}

// Rule 11: no welcome when the opening message is older than 10 min.
func (s *rulesStory) staleOpening(t *testing.T) {
	p := s.p
	p.webhook(t, s.in.webhookBody(inText{waID: rulesK7, text: "hello from an hour ago", wamid: nextWAMID("old"), at: time.Now().Add(-time.Hour)}))
	s.c7 = openConv(t, p, s.in, rulesK7, "k7 (stale message) opens a conversation", nil)
	d := lastDecision(t, p, s.c7.ID)
	wantReason(t, "stale opening message", d, "welcome_stale", 0, "old")
	if _, ok := d.reason("welcome", 0); ok {
		t.Errorf("a welcome was queued for a message an hour old")
	}
}

// A burst of messages opening a conversation, redelivered by Meta: one
// conversation, one decision, one welcome.
func (s *rulesStory) burstRedelivered(t *testing.T) {
	p := s.p
	burst := s.in.webhookBody(inText{waID: rulesK8, text: "hello", wamid: nextWAMID("burst")},
		inText{waID: rulesK8, text: "anyone?", wamid: nextWAMID("burst")}, inText{waID: rulesK8, text: "hello??", wamid: nextWAMID("burst")})
	p.webhook(t, burst)
	p.webhook(t, burst)
	s.c8 = openConv(t, p, s.in, rulesK8, "k8 opens a conversation", nil)
	s.path8 = fmt.Sprintf("/v1/conversations/%d/assignees", s.c8.ID)
	inbound := func(what string, want int) {
		t.Helper()
		wagwtest.WaitFor(t, 10*time.Second, what, func() (bool, string) {
			n := sqlCount(t, s.conn, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'in'`, s.c8.ID)
			return n == want, fmt.Sprintf("%d of %d messages", n, want)
		})
	}
	inbound("k8's burst stored", 3)
	p.webhook(t, burst)                                 // a redelivery after everything was applied,
	sayText(t, p, s.in, rulesK8, "and a later message") // then one that the partition applies after it
	inbound("k8's later message stored", 4)
	if n := sqlCount(t, s.conn, `SELECT count(*) FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE ct.wa_id = $1`, rulesK8); n != 1 {
		t.Errorf("a burst and its redeliveries opened %d conversations", n)
	}
}

// Idempotency-Key: the same request twice is applied once and answers
// the same; the same key with another body is 422.
func (s *rulesStory) idempotencyKey(t *testing.T) {
	p := s.p
	key := map[string]string{"Idempotency-Key": "assign-c8-fia"}
	r1 := apiDo(t, p, http.MethodPost, s.path8, s.admin, obj{"agent_ids": agentIDs(s.fia), "mode": "replace"}, key)
	r2 := apiDo(t, p, http.MethodPost, s.path8, s.admin, obj{"agent_ids": agentIDs(s.fia), "mode": "replace"}, key)
	if r1.Status != http.StatusOK || r2.Status != http.StatusOK || !bytes.Equal(r1.Body, r2.Body) {
		t.Errorf("same Idempotency-Key twice: %s then %s; want the same 200 answer", r1, r2)
	}
	if r2.Header.Get("Idempotent-Replayed") != "true" || r1.Header.Get("X-Command-Id") != r2.Header.Get("X-Command-Id") {
		t.Errorf("the repeat is not marked as replayed of the same command: headers %v then %v", r1.Header, r2.Header)
	}
	wantError(t, "same Idempotency-Key, another body",
		apiDo(t, p, http.MethodPost, s.path8, s.admin, obj{"agent_ids": agentIDs(s.gus), "mode": "replace"}, key),
		http.StatusUnprocessableEntity, "idempotency_key_reused")
	ds8 := getDecisions(t, p, s.c8.ID)
	if n := len(ds8); n != 2 { // the open and one manual assignment
		t.Errorf("conversation %d has %d decisions after an idempotent repeat, want 2:%s", s.c8.ID, n, dumpDecisions(ds8))
	}
	expectAssignees(t, "after the idempotent repeat", getConv(t, p, s.c8.ID), asg(s.fia, "manual"))
}

// The same key sent three times at once: one command, one answer.
func (s *rulesStory) idempotencyKeyAtOnce(t *testing.T) {
	same := make([]apiResp, 3)
	sameErr := make([]error, 3)
	atOnce(len(same), func(i int) {
		same[i], sameErr[i] = apiCall(s.p.base, http.MethodPost, s.path8, s.admin, obj{"agent_ids": agentIDs(s.gus), "mode": "add"},
			map[string]string{"Idempotency-Key": "assign-c8-gus-at-once"})
	})
	for i := range same {
		if sameErr[i] != nil || same[i].Status != http.StatusOK || !bytes.Equal(same[i].Body, same[0].Body) {
			t.Errorf("same Idempotency-Key three times at once: answer %d is %v %s; want the same 200 as %s", i, sameErr[i], same[i], same[0])
		}
	}
	if ds := getDecisions(t, s.p, s.c8.ID); len(ds) != 3 {
		t.Errorf("three requests at once with one Idempotency-Key made %d decisions, want 1:%s", len(ds)-2, dumpDecisions(ds))
	}
}

// Error codes, each as JSON with a stable code and a message.
func (s *rulesStory) errorCodes(t *testing.T) {
	admin, path8, bruno, carla, gus := s.admin, s.path8, s.bruno, s.carla, s.gus
	errs := []struct {
		what         string
		method, path string
		token        string
		body         any
		status       int
		code         string
	}{
		{"unknown JSON field", "POST", path8, admin, `{"agent_ids":[1],"colour":"red"}`, 400, "bad_json"},
		{"bad mode", "POST", path8, admin, obj{"agent_ids": agentIDs(gus), "mode": "sideways"}, 400, "bad_mode"},
		{"nothing to assign", "POST", path8, admin, obj{}, 400, "nothing_to_assign"},
		{"non-numeric id", "POST", "/v1/conversations/abc/assignees", admin, obj{"agent_ids": agentIDs(gus)}, 400, "bad_id"},
		{"claim as the admin without agent_id", "POST", fmt.Sprintf("/v1/conversations/%d/claim", s.c8.ID), admin, nil, 400, "agent_required"},
		{"no token", "POST", path8, "", obj{"agent_ids": agentIDs(gus)}, 401, "unauthorized"},
		{"unknown token", "POST", path8, "not-a-token", obj{"agent_ids": agentIDs(gus)}, 401, "unauthorized"},
		{"agent sets owners", "PUT", fmt.Sprintf("/v1/contacts/%d/owners", s.k1ID), bruno.Token, obj{"agent_ids": agentIDs(bruno)}, 403, "forbidden"},
		{"agent sets another's presence", "PUT", fmt.Sprintf("/v1/agents/%d/presence", carla.ID), bruno.Token, obj{"status": "offline"}, 403, "forbidden"},
		{"agent claims for another", "POST", fmt.Sprintf("/v1/conversations/%d/claim", s.c8.ID), bruno.Token, obj{"agent_id": carla.ID}, 403, "forbidden"},
		{"agent creates an agent", "POST", "/v1/agents", bruno.Token, obj{"name": "X", "email": "x@example.com"}, 403, "forbidden"},
		{"unknown conversation", "POST", "/v1/conversations/999999/assignees", admin, obj{"agent_ids": agentIDs(gus)}, 404, "not_found"},
		{"decisions of an unknown conversation", "GET", "/v1/conversations/999999/decisions", admin, nil, 404, "not_found"},
		{"owners of an unknown contact", "PUT", "/v1/contacts/999999/owners", admin, obj{"agent_ids": agentIDs(gus)}, 404, "not_found"},
		{"unassign an unknown agent", "DELETE", path8 + "/999999", admin, nil, 404, "not_found"},
		{"claim a claimed conversation", "POST", s.claim, admin, obj{"agent_id": carla.ID}, 409, "already_claimed"},
		{"claim a conversation the agent does not see", "POST", s.claim, carla.Token, nil, 404, "not_found"},
		{"claim a conversation round robin assigned", "POST", fmt.Sprintf("/v1/conversations/%d/claim", s.rrConvs[0]), carla.Token, nil, 409, "already_claimed"},
		{"agent not in the team", "POST", path8, admin, obj{"team_id": s.support, "agent_ids": agentIDs(s.fia)}, 422, "not_member"},
		{"unknown agent", "POST", path8, admin, obj{"agent_ids": []int64{999999}}, 422, "invalid"},
		{"unknown owner", "PUT", fmt.Sprintf("/v1/contacts/%d/owners", s.k1ID), admin, obj{"agent_ids": []int64{999999}}, 422, "unknown_agent"},
		{"unknown presence", "PUT", fmt.Sprintf("/v1/agents/%d/presence", bruno.ID), bruno.Token, obj{"status": "busy"}, 422, "invalid_presence"},
	}
	for _, e := range errs {
		wantError(t, e.what+": "+e.method+" "+e.path, apiDo(t, s.p, e.method, e.path, e.token, e.body, nil), e.status, e.code)
	}
	expectAssignees(t, "after the refused writes", getConv(t, s.p, s.c8.ID), asg(s.fia, "manual"), asg(gus, "manual"))
}

// A deactivated agent's token is refused, and they can't be assigned.
func (s *rulesStory) deactivated(t *testing.T) {
	p := s.p
	apiMust(t, p, http.StatusOK, http.MethodPatch, fmt.Sprintf("/v1/agents/%d", s.eli.ID), s.admin, obj{"active": false}, nil)
	wantError(t, "deactivated agent's token", apiDo(t, p, http.MethodGet, "/v1/conversations", s.eli.Token, nil, nil), http.StatusForbidden, "agent_deactivated")
	wantError(t, "assign a deactivated agent", apiDo(t, p, http.MethodPost, s.path8, s.admin, obj{"agent_ids": agentIDs(s.eli)}, nil), http.StatusUnprocessableEntity, "invalid")
}

// Filters: by assignee and by team.
func (s *rulesStory) filters(t *testing.T) {
	p := s.p
	var list struct {
		Conversations []convJSON `json:"conversations"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations?assignee=%d&limit=1000", s.bruno.ID), s.admin, nil, &list)
	var got []int64
	for _, c := range list.Conversations {
		got = append(got, c.ID)
	}
	if want := []int64{s.rrConvs[0], s.rrConvs[2], s.c6.ID}; !slices.Equal(got, want) {
		t.Errorf("GET /v1/conversations?assignee=Bruno lists %v, want %v", got, want)
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations?team_id=%d&limit=1000", s.support), s.admin, nil, &list)
	if n := len(list.Conversations); n != len(s.rrConvs)+1 {
		t.Errorf("GET /v1/conversations?team_id=Support lists %d conversations, want %d", n, len(s.rrConvs)+1)
	}
}

// Rule 3: a manual assignment naming only a team runs its strategy:
// round robin continues after Carla with Bruno.
func (s *rulesStory) manualTeam(t *testing.T) {
	var ans commandAnswer
	apiMust(t, s.p, http.StatusOK, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", s.c7.ID), s.admin, obj{"team_id": s.support}, &ans)
	expectAssignees(t, "manual assignment of a team", ans.Conversation, asg(s.bruno, "round_robin"))
	if ans.Conversation.TeamID == nil || *ans.Conversation.TeamID != s.support || !strings.Contains(ans.Decision.Rule, "round_robin") {
		t.Errorf("manual team assignment: team %v, rule %q; want team %d and round_robin", ans.Conversation.TeamID, ans.Decision.Rule, s.support)
	}
}

// Every decision of every conversation explains itself.
func (s *rulesStory) explained(t *testing.T) {
	for _, id := range append([]int64{s.c1.ID, s.c2.ID, s.c5.ID, s.c6.ID, s.c7.ID, s.c8.ID}, s.rrConvs...) {
		checkExplained(t, fmt.Sprintf("conversation %d", id), getDecisions(t, s.p, id))
	}
}

// Rule 11: one welcome per conversation the contact opened (not for
// the stale one), delivered through the Cloud API simulator.
func (s *rulesStory) welcomes(t *testing.T) {
	var wantWelcome = map[string]int{rulesK1: 2, rulesK5: 1, rulesK6: 1, rulesK8: 1}
	for i := range s.rrConvs {
		wantWelcome[rulesRefunder(i)] = 1
	}
	rows := sqlCount(t, s.conn, `SELECT count(*) FROM outbox WHERE kind = 'welcome'`)
	if total := 2 + 1 + 1 + 1 + len(s.rrConvs); rows != total {
		t.Errorf("%d welcome rows in the outbox, want %d (one per fresh conversation)", rows, total)
	}
	if n := sqlCount(t, s.conn, `SELECT count(*) FROM outbox WHERE kind = 'welcome' AND conversation_id = $1`, s.c7.ID); n != 0 {
		t.Errorf("the stale conversation has %d welcome rows", n)
	}
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "the Cloud API simulator received every welcome", func() (bool, string) {
		got, err := simTexts(s.sim, s.in, rulesWelcome)
		if err != nil {
			return false, err.Error()
		}
		return fmt.Sprint(got) == fmt.Sprint(wantWelcome), fmt.Sprintf("welcomes by recipient %v, want %v", got, wantWelcome)
	})
}
