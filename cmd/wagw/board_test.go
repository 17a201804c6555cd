package main

import (
	"fmt"
	"net/http"
	"testing"
)

// nextPickJSON is GET /v1/teams/{id}/next.
type nextPickJSON struct {
	AgentID *int64       `json:"agent_id"`
	Source  string       `json:"source"`
	Manual  bool         `json:"manual"`
	Reasons []reasonJSON `json:"reasons"`
}

func nextPick(t *testing.T, p *serveProc, team int64, token string) nextPickJSON {
	t.Helper()
	var out nextPickJSON
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/teams/%d/next", team), token, nil, &out)
	return out
}

// The board's "who is picked next" is who the next conversation gets: for
// round robin and least open, conversation after conversation, with a
// member offline, and nobody for a manual team or one with nobody
// eligible. Members of the team may read it; others get 404.
func TestBoardNextPickIsTheNextAssignee(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	p := startServe(t, serveEnv(t, dsn))
	ana, bob, cai := createAgent(t, p, "Ana Next", nil), createAgent(t, p, "Bob Next", nil), createAgent(t, p, "Cai Next", nil)
	zed := createAgent(t, p, "Zed Outside", nil)
	for _, a := range []agentOutJSON{ana, bob, cai} {
		setPresence(t, p, a, "online")
	}
	names := map[int64]string{ana.ID: ana.Name, bob.ID: bob.Name, cai.ID: cai.Name}
	name := func(id *int64) string {
		if id == nil {
			return "nobody"
		}
		return names[*id]
	}

	n := 0
	// forecastThenOpen reads the forecast, opens a conversation in the
	// inbox, and requires that the forecast member got it.
	forecastThenOpen := func(in bizNumber, team int64, what string) {
		t.Helper()
		next := nextPick(t, p, team, e2eAdminToken)
		if next.AgentID == nil {
			t.Fatalf("%s: nobody forecast (%+v)", what, next.Reasons)
		}
		n++
		waID := fmt.Sprintf("4915300%05d", n)
		sayText(t, p, in, waID, "hello")
		c := openConv(t, p, in, waID, what+": the conversation is assigned", func(c convJSON) bool { return len(c.Assignees) > 0 })
		if len(c.Assignees) != 1 || c.Assignees[0].AgentID != *next.AgentID || c.Assignees[0].Source != next.Source {
			t.Errorf("%s: forecast %s (%s), the conversation went to %s", what, name(next.AgentID), next.Source, c.who())
		}
	}

	rr := createTeam(t, p, "Next Robin", "round_robin", ana, bob, cai)
	rrIn := testInbox(1313)
	putInbox(t, p, rrIn.pnid, obj{"name": "Next RR", "default_assign": obj{"team_id": rr}})
	for i := range 4 {
		forecastThenOpen(rrIn, rr, fmt.Sprintf("round robin, conversation %d", i+1))
	}
	setPresence(t, p, bob, "offline")
	for i := range 3 {
		forecastThenOpen(rrIn, rr, fmt.Sprintf("round robin with Bob offline, conversation %d", i+1))
	}
	if next := nextPick(t, p, rr, e2eAdminToken); next.AgentID != nil && *next.AgentID == bob.ID {
		t.Errorf("Bob is offline but forecast")
	}

	lo := createTeam(t, p, "Next Least", "least_open", ana, bob, cai)
	loIn := testInbox(1314)
	putInbox(t, p, loIn.pnid, obj{"name": "Next LO", "default_assign": obj{"team_id": lo}})
	setPresence(t, p, bob, "online")
	for i := range 3 {
		forecastThenOpen(loIn, lo, fmt.Sprintf("least open, conversation %d", i+1))
	}

	manual := createTeam(t, p, "Next Manual", "manual", ana)
	if next := nextPick(t, p, manual, ana.Token); next.AgentID != nil || !next.Manual {
		t.Errorf("manual team: forecast %s, manual %v; want nobody, manual", name(next.AgentID), next.Manual)
	}
	for _, a := range []agentOutJSON{ana, bob, cai} {
		setPresence(t, p, a, "away")
	}
	if next := nextPick(t, p, rr, bob.Token); next.AgentID != nil || len(next.Reasons) == 0 {
		t.Errorf("everyone away: forecast %s with reasons %+v; want nobody, with why", name(next.AgentID), next.Reasons)
	}
	if r := apiDo(t, p, http.MethodGet, fmt.Sprintf("/v1/teams/%d/next", rr), zed.Token, nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET /v1/teams/%d/next by an agent outside the team = %s; want 404", rr, r)
	}
}
