package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Every caller may read the directory: names, presence and load of the
// agents and the teams with their members; emails and roles stay admin's.
func TestDirectory(t *testing.T) {
	e := newAdminEnv(t)
	ana := e.createAgent(t, "Ana", "ana@example.com")
	e.expect(t, http.MethodPost, "/v1/teams", adminTestToken, `{"name":"Sales","member_ids":[`+itoa(ana.ID)+`]}`, 201, "")
	var dir struct {
		Agents []map[string]any `json:"agents"`
		Teams  []teamJSON       `json:"teams"`
	}
	if code, body := e.call(t, http.MethodGet, "/v1/directory", ana.Token, "", &dir); code != 200 {
		t.Fatalf("GET /v1/directory as an agent: %d %s", code, body)
	}
	if len(dir.Agents) != 1 || dir.Agents[0]["name"] != "Ana" || dir.Agents[0]["presence"] != "offline" {
		t.Fatalf("agents %v", dir.Agents)
	}
	if _, leaks := dir.Agents[0]["email"]; leaks {
		t.Errorf("the directory shows emails: %v", dir.Agents[0])
	}
	if len(dir.Teams) != 1 || dir.Teams[0].Name != "Sales" || len(dir.Teams[0].MemberIDs) != 1 || dir.Teams[0].MemberIDs[0] != ana.ID {
		t.Fatalf("teams %+v", dir.Teams)
	}
	// a team Ana is not in is not in her directory (as with GET /v1/teams),
	// and is in the admin's
	e.expect(t, http.MethodPost, "/v1/teams", adminTestToken, `{"name":"Night","member_ids":[]}`, 201, "")
	if code, body := e.call(t, http.MethodGet, "/v1/directory", ana.Token, "", &dir); code != 200 || len(dir.Teams) != 1 || dir.Teams[0].Name != "Sales" {
		t.Errorf("Ana's directory after another team was made: %d %s, want Sales alone", code, body)
	}
	if code, body := e.call(t, http.MethodGet, "/v1/directory", adminTestToken, "", &dir); code != 200 || len(dir.Teams) != 2 {
		t.Errorf("the admin's directory: %d %s, want both teams", code, body)
	}
	e.expect(t, http.MethodGet, "/v1/directory", "", "", 401, "unauthorized")
	e.expect(t, http.MethodGet, "/v1/conversations?order=sideways", adminTestToken, "", 400, "bad_query")
	e.expect(t, http.MethodGet, "/v1/conversations?order=newest&after=3", adminTestToken, "", 400, "bad_query")
	e.expect(t, http.MethodGet, "/v1/conversations?before=3", adminTestToken, "", 400, "bad_query")
	if resp := e.expect(t, http.MethodGet, "/v1/conversations?after=-1", adminTestToken, "", 400, "bad_query"); !strings.Contains(resp, "0 or more") {
		t.Errorf("after=-1: %s, want the range it takes", resp)
	}
	for _, q := range []string{"team_id=0", "team_id=2147483648", "assignee=0", "assignee=-3", "contact_id=0", "contact_id=x"} {
		e.expect(t, http.MethodGet, "/v1/conversations?"+q, adminTestToken, "", 400, "bad_id")
	}
	e.expect(t, http.MethodGet, "/v1/conversations?team_id=2147483647&assignee=1&contact_id=9223372036854775807", adminTestToken, "", 200, "")
	e.expect(t, http.MethodGet, "/v1/conversations?order=newest&before=3&inbox=106540352242922", adminTestToken, "", 200, "")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
