package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// Roles and visibility end to end (issue 12 item 6): every /v1 route that
// names a conversation or a contact, for every role and every kind of
// conversation. A conversation outside the caller's scope is 404 on every
// route (and nothing changes); one inside is never 404. Lists, their
// filters included, show exactly the visible ones; the admin routes
// follow the roles.
func TestVisibilityRouteByRoute(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	p := startServe(t, serveEnv(t, dsn))
	in := testInbox(12)
	putInbox(t, p, in.pnid, obj{"name": "Shared"})

	ana := createAgent(t, p, "Ana Agent", nil)
	bob := createAgent(t, p, "Bob Agent", nil)
	sue := createAgent(t, p, "Sue Supervisor", nil)
	zed := createAgent(t, p, "Zed Teamless", nil)
	apiMust(t, p, http.StatusOK, http.MethodPatch, fmt.Sprintf("/v1/agents/%d", sue.ID), e2eAdminToken, obj{"role": "supervisor"}, nil)
	mkTeam := func(name, vis string, members ...agentOutJSON) int64 {
		var out struct {
			ID              int64  `json:"id"`
			AgentVisibility string `json:"agent_visibility"`
		}
		body := obj{"name": name, "member_ids": agentIDs(members...), "strategy": "manual"}
		if vis != "" {
			body["agent_visibility"] = vis
		}
		apiMust(t, p, http.StatusCreated, http.MethodPost, "/v1/teams", e2eAdminToken, body, &out)
		if want := cmp(vis, "team"); out.AgentVisibility != want {
			t.Errorf("team %s: agent_visibility %q, want %q", name, out.AgentVisibility, want)
		}
		return out.ID
	}
	open := mkTeam("Open", "", ana, bob) // default: team
	closed := mkTeam("Closed", "assigned", ana, bob, sue)
	foreign := mkTeam("Foreign", "team", bob)

	type shape struct {
		name     string
		team     int64 // 0: none
		assignee *agentOutJSON
	}
	shapes := map[string]shape{
		"closed/ana": {"closed team, assigned to Ana", closed, &ana},
		"closed/bob": {"closed team, assigned to Bob", closed, &bob},
		"closed/-":   {"closed team, unassigned", closed, nil},
		"open/bob":   {"open team, assigned to Bob", open, &bob},
		"foreign/-":  {"foreign team, unassigned", foreign, nil},
		"none/-":     {"no team, unassigned (inbox queue)", 0, nil},
		"none/bob":   {"no team, assigned to Bob", 0, &bob},
	}
	callers := map[string]string{"ana": ana.Token, "sue": sue.Token, "zed": zed.Token, "admin": e2eAdminToken}
	sees := map[string][]string{ // caller: the shapes they see
		"ana":   {"closed/ana", "closed/-", "open/bob", "none/-"},
		"sue":   {"closed/ana", "closed/bob", "closed/-", "none/-"},
		"zed":   {"none/-"},
		"admin": {"closed/ana", "closed/bob", "closed/-", "open/bob", "foreign/-", "none/-", "none/bob"},
	}

	n := 0
	// newConv opens a conversation of the shape for a new contact.
	newConv := func(s shape) (convJSON, string) {
		n++
		waID := fmt.Sprintf("4915100%05d", n)
		sayText(t, p, in, waID, "hello")
		c := openConv(t, p, in, waID, "conversation of "+s.name+" opens", nil)
		body := obj{"mode": "replace"}
		if s.team != 0 {
			body["team_id"] = s.team
		}
		if s.assignee != nil {
			body["agent_ids"] = agentIDs(*s.assignee)
		}
		if len(body) > 1 {
			apiMust(t, p, http.StatusOK, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", c.ID), e2eAdminToken, body, nil)
		}
		return getConv(t, p, c.ID), waID
	}
	// The routes, reads first and the writes that change most last: an
	// allowed claim keeps the conversation visible to its claimer, and the
	// assignment after the resolve is refused (409), so every route of a
	// visible conversation is tried while it is still visible.
	type route struct {
		method, path string
		body         any
	}
	routes := func(c convJSON, waID string) []route {
		cv := fmt.Sprintf("/v1/conversations/%d", c.ID)
		// a command the admin issued about the conversation: its result
		// is visible to whoever sees the conversation
		adminCmd := commandIDOf(t, apiDo(t, p, http.MethodPost, cv+"/read", e2eAdminToken, obj{}, nil))
		return []route{
			{http.MethodGet, "/v1/commands/" + adminCmd, nil},
			{http.MethodGet, cv, nil},
			{http.MethodGet, cv + "/messages", nil},
			{http.MethodGet, cv + "/decisions", nil},
			{http.MethodGet, fmt.Sprintf("/v1/contacts/%d", c.ContactID), nil},
			{http.MethodGet, "/v1/contacts?wa_id=" + waID, nil},
			{http.MethodPost, cv + "/read", obj{}},
			{http.MethodPost, cv + "/messages", obj{"text": "hello from the route table"}},
			{http.MethodDelete, fmt.Sprintf("%s/assignees/%d", cv, zed.ID), nil},
			{http.MethodPost, cv + "/claim", obj{}},
			{http.MethodPost, cv + "/resolve", nil},
			{http.MethodPost, cv + "/assignees", obj{"agent_ids": agentIDs(zed), "mode": "add"}},
		}
	}

	// Route by route, on a fresh conversation of each shape per caller.
	for _, caller := range []string{"ana", "sue", "zed", "admin"} {
		for _, key := range []string{"closed/ana", "closed/bob", "closed/-", "open/bob", "foreign/-", "none/-", "none/bob"} {
			s, visible := shapes[key], slices.Contains(sees[caller], key)
			t.Run(caller+" on "+s.name, func(t *testing.T) {
				c, waID := newConv(s)
				before := getConv(t, p, c.ID)
				for _, r := range routes(c, waID) {
					got := apiDo(t, p, r.method, r.path, callers[caller], r.body, nil)
					switch {
					case !visible && (got.Status != http.StatusNotFound || got.errorCode() != "not_found"):
						t.Errorf("%s %s as %s = %s; want 404 not_found", r.method, r.path, caller, got)
					case visible && (got.Status == http.StatusNotFound || got.Status >= 500):
						t.Errorf("%s %s as %s = %s; want an answer other than 404", r.method, r.path, caller, got)
					}
				}
				if after := getConv(t, p, c.ID); !visible && (after.Status != before.Status || after.who() != before.who()) {
					t.Errorf("a refused caller changed conversation %d: %s %s -> %s %s", c.ID, before.Status, before.who(), after.Status, after.who())
				}
			})
		}
	}

	// A command's result stays visible to the agent who issued it, even
	// once the command took the conversation out of her sight.
	handed, _ := newConv(shapes["closed/ana"])
	r := apiDo(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", handed.ID), ana.Token,
		obj{"agent_ids": agentIDs(bob), "mode": "replace"}, nil)
	if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
		t.Fatalf("Ana hands her conversation to Bob: %s", r)
	}
	handedCmd := commandIDOf(t, r)
	wagwtest.WaitFor(t, 15*time.Second, "the hand-over applied", func() (bool, string) {
		c := getConv(t, p, handed.ID)
		return c.who() == fmt.Sprintf("[%d:manual]", bob.ID), c.who()
	})
	if got := apiDo(t, p, http.MethodGet, fmt.Sprintf("/v1/conversations/%d", handed.ID), ana.Token, nil, nil); got.Status != http.StatusNotFound {
		t.Errorf("Ana still sees the conversation she handed to Bob in an assigned-only team: %s", got)
	}
	for caller, want := range map[string]int{"ana": http.StatusOK, "sue": http.StatusOK, "zed": http.StatusNotFound} {
		if got := apiDo(t, p, http.MethodGet, "/v1/commands/"+handedCmd, callers[caller], nil, nil); got.Status != want {
			t.Errorf("GET /v1/commands/{Ana's hand-over} as %s = %s; want %d", caller, got, want)
		}
	}

	// Lists, on fresh conversations of each shape: exactly the visible
	// ones, whatever the filters ask for.
	listed := map[string][]int64{} // caller: ids they must list
	all := []int64{}
	for _, key := range []string{"closed/ana", "closed/bob", "closed/-", "open/bob", "foreign/-", "none/-", "none/bob"} {
		c, _ := newConv(shapes[key])
		all = append(all, c.ID)
		for caller := range callers {
			if slices.Contains(sees[caller], key) {
				listed[caller] = append(listed[caller], c.ID)
			}
		}
	}
	list := func(caller, query string) []int64 {
		var out struct {
			Conversations []convJSON `json:"conversations"`
		}
		apiMust(t, p, http.StatusOK, http.MethodGet, "/v1/conversations?limit=1000"+query, callers[caller], nil, &out)
		ids := []int64{}
		for _, c := range out.Conversations {
			if slices.Contains(all, c.ID) {
				ids = append(ids, c.ID)
			}
		}
		return ids
	}
	for caller := range callers {
		if got := list(caller, ""); !slices.Equal(got, listed[caller]) {
			t.Errorf("GET /v1/conversations as %s lists %v, want %v", caller, got, listed[caller])
		}
	}
	for _, q := range []string{fmt.Sprintf("&team_id=%d", foreign), fmt.Sprintf("&assignee=%d", bob.ID) + fmt.Sprintf("&team_id=%d", closed)} {
		if got := list("ana", q); len(got) != 0 {
			t.Errorf("GET /v1/conversations?%s as Ana lists %v; she sees none of them", q, got)
		}
	}
	if got := list("sue", fmt.Sprintf("&assignee=%d&team_id=%d", bob.ID, closed)); len(got) == 0 {
		t.Errorf("Sue, supervisor of Closed, lists none of Bob's conversations in it")
	}

	// Configuration routes by role.
	teamPath := func(id int64) string { return fmt.Sprintf("/v1/teams/%d", id) }
	teamBody := obj{"name": "Closed", "member_ids": agentIDs(ana, bob, sue), "strategy": "manual", "agent_visibility": "assigned"}
	for _, tc := range []struct {
		caller, method, path string
		body                 any
		want                 int
	}{
		{"ana", http.MethodGet, "/v1/agents", nil, http.StatusForbidden},
		{"sue", http.MethodGet, "/v1/agents", nil, http.StatusOK},
		{"sue", http.MethodGet, fmt.Sprintf("/v1/agents/%d", ana.ID), nil, http.StatusOK},
		{"sue", http.MethodPost, "/v1/agents", obj{"name": "X", "email": "x@example.com"}, http.StatusForbidden},
		{"sue", http.MethodPatch, fmt.Sprintf("/v1/agents/%d", sue.ID), obj{"role": "admin"}, http.StatusForbidden},
		{"ana", http.MethodPut, fmt.Sprintf("/v1/agents/%d/presence", bob.ID), obj{"status": "online"}, http.StatusForbidden},
		{"sue", http.MethodPost, "/v1/teams", obj{"name": "Mine", "member_ids": []int64{}}, http.StatusForbidden},
		{"ana", http.MethodGet, teamPath(open), nil, http.StatusOK},
		{"ana", http.MethodGet, teamPath(foreign), nil, http.StatusNotFound},
		{"zed", http.MethodGet, teamPath(open), nil, http.StatusNotFound},
		{"sue", http.MethodGet, teamPath(open), nil, http.StatusNotFound},
		{"ana", http.MethodPut, teamPath(closed), teamBody, http.StatusForbidden},
		{"sue", http.MethodPut, teamPath(open), teamBody, http.StatusNotFound},
		{"sue", http.MethodPut, teamPath(closed), teamBody, http.StatusOK},
		{"sue", http.MethodGet, "/v1/inboxes", nil, http.StatusForbidden},
		{"sue", http.MethodPut, "/v1/inboxes/" + in.pnid, obj{"name": "x"}, http.StatusForbidden},
		{"sue", http.MethodPut, fmt.Sprintf("/v1/contacts/%d/owners", 1), obj{"agent_ids": []int64{}}, http.StatusForbidden},
		{"ana", http.MethodPost, fmt.Sprintf("/v1/contacts/%d/release", 1), obj{}, http.StatusForbidden},
	} {
		if got := apiDo(t, p, tc.method, tc.path, callers[tc.caller], tc.body, nil); got.Status != tc.want {
			t.Errorf("%s %s as %s = %s; want %d", tc.method, tc.path, tc.caller, got, tc.want)
		}
	}
	var teams struct {
		Teams []struct {
			ID int64 `json:"id"`
		} `json:"teams"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, "/v1/teams", ana.Token, nil, &teams)
	if len(teams.Teams) != 2 || teams.Teams[0].ID != open || teams.Teams[1].ID != closed {
		t.Errorf("GET /v1/teams as Ana = %+v; want her two teams %d and %d", teams.Teams, open, closed)
	}

	// GET /v1/me: who is calling, with their teams.
	for caller, want := range map[string]string{
		"ana":   fmt.Sprintf(`"role":"agent" [{"team_id":%d,"agent_visibility":"team"},{"team_id":%d,"agent_visibility":"assigned"}]`, open, closed),
		"sue":   fmt.Sprintf(`"role":"supervisor" [{"team_id":%d,"agent_visibility":"assigned"}]`, closed),
		"zed":   `"role":"agent" []`,
		"admin": `"role":"admin" []`,
	} {
		var me struct {
			Role  string          `json:"role"`
			Teams json.RawMessage `json:"teams"`
		}
		apiMust(t, p, http.StatusOK, http.MethodGet, "/v1/me", callers[caller], nil, &me)
		if got := fmt.Sprintf(`"role":%q %s`, me.Role, me.Teams); got != want {
			t.Errorf("GET /v1/me as %s: %s, want %s", caller, got, want)
		}
	}
}

// commandIDOf is the id of the command a write answered for: its
// X-Command-Id, or the command_id of a 202 still pending.
func commandIDOf(t *testing.T, r apiResp) string {
	t.Helper()
	if id := r.Header.Get("X-Command-Id"); id != "" {
		return id
	}
	var pending struct {
		CommandID string `json:"command_id"`
	}
	if json.Unmarshal(r.Body, &pending) != nil || pending.CommandID == "" {
		t.Fatalf("no command id in %s", r)
	}
	return pending.CommandID
}

// cmp returns v, or def when v is empty.
func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
