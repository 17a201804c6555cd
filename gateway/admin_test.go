package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// StoresOf gives every group of handlers the one store, as cmd/wagw does
// (the package's external tests use it too).
func StoresOf(s *db.Store) Stores {
	return Stores{Reads: s, Tokens: s, Commands: s, Agents: s, Teams: s, Inboxes: s}
}

const adminTestToken = "admin-test-token"

type adminEnv struct {
	app *fiber.App
}

// newAdminEnv serves the API over a fresh database and an embedded broker.
func newAdminEnv(t *testing.T) *adminEnv {
	e, _, _ := newAPIEnv(t, 0)
	return e
}

// newCommandEnv is newAdminEnv with its store and database, and no
// consumer: commands wait briefly and answer 202.
func newCommandEnv(t *testing.T) (*adminEnv, *db.Store, *sqlx.DB) {
	return newAPIEnv(t, 100*time.Millisecond)
}

// newAPIEnv serves the API over a fresh database and an embedded broker,
// commands waiting commandWait for their result (the default when 0).
func newAPIEnv(t *testing.T, commandWait time.Duration) (*adminEnv, *db.Store, *sqlx.DB) {
	t.Helper()
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"wa.events", "wa.events.dlq"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	conn, _ := dbtest.New(t)
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events", WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { prod.Close() })
	store := db.NewStore(conn)
	cfg := Config{AppSecrets: [][]byte{[]byte("app-secret")}, VerifyToken: "verify", AdminToken: adminTestToken, DeadLetterTopic: "wa.events.dlq",
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), CommandWait: commandWait}
	app, err := New(cfg, prod, StoresOf(store))
	if err != nil {
		t.Fatal(err)
	}
	return &adminEnv{app: app}, store, conn
}

// conversationOf stores a text message from the number from, as a webhook
// gives it, and returns the conversation it opened.
func conversationOf(t *testing.T, store *db.Store, conn *sqlx.DB, from, wamid string) int64 {
	t.Helper()
	envs, err := event.ParseAndSplit(wagwtest.TextWebhook("106540352242922", from, wamid, time.Now(), "hello"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), envs, time.Now()); err != nil {
		t.Fatal(err)
	}
	var conv int64
	if err := conn.Get(&conv, `SELECT conversation_id FROM messages WHERE wamid = $1`, wamid); err != nil {
		t.Fatal(err)
	}
	return conv
}

// call sends a request with a bearer token and decodes the JSON answer
// into out (when not nil); it returns the status and the raw body.
func (e *adminEnv) call(t *testing.T, method, path, token, body string, out any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// expect checks the status and, for errors, the error code.
func (e *adminEnv) expect(t *testing.T, method, path, token, body string, status int, code string) string {
	t.Helper()
	got, resp := e.call(t, method, path, token, body, nil)
	if got != status {
		t.Fatalf("%s %s %s: %d %s, want %d %s", method, path, body, got, resp, status, code)
	}
	if code != "" {
		var eb struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(resp), &eb); err != nil || eb.Error.Code != code || eb.Error.Message == "" {
			t.Fatalf("%s %s %s: %s, want error code %q with a message", method, path, body, resp, code)
		}
	}
	return resp
}

type testAgent struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	Role        string     `json:"role"`
	Active      bool       `json:"active"`
	Capacity    *int       `json:"capacity"`
	Presence    string     `json:"presence"`
	HeartbeatAt *time.Time `json:"heartbeat_at"`
	OpenCount   int        `json:"open_count"`
	Token       string     `json:"token"`
}

func (e *adminEnv) createAgent(t *testing.T, name, email string) testAgent {
	t.Helper()
	var a testAgent
	code, body := e.call(t, "POST", "/v1/agents", adminTestToken, fmt.Sprintf(`{"name":%q,"email":%q,"role":"agent","capacity":null}`, name, email), &a)
	if code != 201 {
		t.Fatalf("create agent: %d %s", code, body)
	}
	return a
}

func TestAdminAgents(t *testing.T) {
	e := newAdminEnv(t)
	ana := e.createAgent(t, "Ana", "ana@example.com")
	if ana.ID == 0 || len(ana.Token) != 64 || ana.Email != "ana@example.com" || ana.Role != "agent" || !ana.Active ||
		ana.Capacity != nil || ana.Presence != "offline" || ana.HeartbeatAt != nil {
		t.Fatalf("created %+v", ana)
	}
	bob := e.createAgent(t, "Bob", "bob@example.com")
	if bob.Token == ana.Token {
		t.Fatal("two agents got the same token")
	}

	// The token is shown once.
	for _, path := range []string{fmt.Sprintf("/v1/agents/%d", ana.ID), "/v1/agents"} {
		if body := e.expect(t, "GET", path, adminTestToken, "", 200, ""); strings.Contains(body, ana.Token) || strings.Contains(body, `"token"`) {
			t.Fatalf("GET %s shows the token: %s", path, body)
		}
	}
	// It works as a bearer token for the agent's own profile, not for
	// reading or configuring others: agents, teams and inboxes are admin's.
	var list struct{ Agents []testAgent }
	if code, body := e.call(t, "GET", "/v1/agents", adminTestToken, "", &list); code != 200 || len(list.Agents) != 2 || list.Agents[0].Email != "ana@example.com" {
		t.Fatalf("list with the admin token: %d %s", code, body)
	}
	var me testAgent
	if code, body := e.call(t, "GET", "/v1/me", ana.Token, "", &me); code != 200 || me.ID != ana.ID || me.Email != "ana@example.com" || me.Token != "" {
		t.Fatalf("GET /v1/me with the agent's token: %d %s", code, body)
	}
	if body := e.expect(t, "GET", "/v1/me", adminTestToken, "", 200, ""); !strings.Contains(body, `"admin_token":true`) || !strings.Contains(body, `"role":"admin"`) {
		t.Fatalf("GET /v1/me with the admin token: %s", body)
	}
	e.expect(t, "GET", "/v1/agents", ana.Token, "", 403, "forbidden")
	e.expect(t, "GET", fmt.Sprintf("/v1/agents/%d", bob.ID), ana.Token, "", 403, "forbidden")
	e.expect(t, "GET", fmt.Sprintf("/v1/agents/%d", ana.ID), ana.Token, "", 403, "forbidden")
	e.expect(t, "POST", "/v1/agents", ana.Token, `{"name":"Eve","email":"eve@example.com"}`, 403, "forbidden")
	e.expect(t, "PATCH", fmt.Sprintf("/v1/agents/%d", ana.ID), ana.Token, `{"role":"admin"}`, 403, "forbidden")
	e.expect(t, "GET", "/v1/agents", "not-a-token", "", 401, "unauthorized")
	e.expect(t, "GET", "/v1/agents", "", "", 401, "unauthorized")

	// Bad shapes are 400, rule violations 422, duplicates 409.
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"Eve","email":"eve@example.com","colour":"red"}`, 400, "bad_json")
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"Eve","email":"eve@example.com","capacity":"two"}`, 400, "bad_json")
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"Eve"`, 400, "bad_json")
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"Eve","email":"eve@example.com","role":"boss"}`, 422, "invalid_agent")
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"","email":"eve@example.com"}`, 422, "invalid_agent")
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"Eve","email":"not an email"}`, 422, "invalid_agent")
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"Eve","email":"eve@example.com","capacity":-1}`, 422, "invalid_agent")
	e.expect(t, "POST", "/v1/agents", adminTestToken, `{"name":"Ana again","email":"ana@example.com"}`, 409, "duplicate_email")
	e.expect(t, "GET", "/v1/agents/9999", adminTestToken, "", 404, "not_found")
	e.expect(t, "GET", "/v1/agents/abc", adminTestToken, "", 400, "bad_id")

	// PATCH changes only what it names; capacity null clears the limit.
	var got testAgent
	if code, body := e.call(t, "PATCH", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, `{"name":"Bob B.","capacity":3}`, &got); code != 200 ||
		got.Name != "Bob B." || got.Capacity == nil || *got.Capacity != 3 || got.Email != "bob@example.com" || !got.Active {
		t.Fatalf("patch: %d %s", code, body)
	}
	if code, body := e.call(t, "PATCH", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, `{"capacity":null,"email":"robert@example.com"}`, &got); code != 200 ||
		got.Capacity != nil || got.Name != "Bob B." || got.Email != "robert@example.com" {
		t.Fatalf("patch clearing capacity: %d %s", code, body)
	}
	e.expect(t, "PATCH", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, `{"email":"ana@example.com"}`, 409, "duplicate_email")
	e.expect(t, "PATCH", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, `{"role":"owner"}`, 422, "invalid_agent")
	e.expect(t, "PATCH", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, `{"nickname":"B"}`, 400, "bad_json")
	e.expect(t, "PATCH", "/v1/agents/9999", adminTestToken, `{"name":"X"}`, 404, "not_found")

	// An agent promoted to admin configures; a deactivated one is refused.
	e.expect(t, "PATCH", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, `{"role":"admin"}`, 200, "")
	e.expect(t, "POST", "/v1/agents", bob.Token, `{"name":"Eve","email":"eve@example.com"}`, 201, "")
	e.expect(t, "GET", "/v1/agents", bob.Token, "", 200, "")
	e.expect(t, "PATCH", fmt.Sprintf("/v1/agents/%d", ana.ID), adminTestToken, `{"active":false}`, 200, "")
	if code, body := e.call(t, "GET", "/v1/me", ana.Token, "", nil); code != 401 && code != 403 {
		t.Fatalf("deactivated agent's token: %d %s", code, body)
	}
}

func TestAdminPresence(t *testing.T) {
	e := newAdminEnv(t)
	ana := e.createAgent(t, "Ana", "ana@example.com")
	bob := e.createAgent(t, "Bob", "bob@example.com")
	path := func(id int64) string { return fmt.Sprintf("/v1/agents/%d/presence", id) }

	before := time.Now().Add(-time.Second)
	var got testAgent
	if code, body := e.call(t, "PUT", path(ana.ID), ana.Token, `{"status":"online"}`, &got); code != 200 ||
		got.ID != ana.ID || got.Presence != "online" || got.HeartbeatAt == nil || got.HeartbeatAt.Before(before) {
		t.Fatalf("own presence: %d %s", code, body)
	}
	first := *got.HeartbeatAt
	time.Sleep(5 * time.Millisecond)
	if code, body := e.call(t, "PUT", path(ana.ID), ana.Token, `{"status":"away"}`, &got); code != 200 || got.Presence != "away" || !got.HeartbeatAt.After(first) {
		t.Fatalf("heartbeat not refreshed: %d %s", code, body)
	}

	e.expect(t, "PUT", path(bob.ID), ana.Token, `{"status":"offline"}`, 403, "forbidden")
	e.expect(t, "PUT", path(9999), ana.Token, `{"status":"online"}`, 403, "forbidden")
	if code, body := e.call(t, "PUT", path(bob.ID), adminTestToken, `{"status":"online"}`, &got); code != 200 || got.ID != bob.ID || got.Presence != "online" {
		t.Fatalf("admin sets presence: %d %s", code, body)
	}
	e.expect(t, "PUT", path(ana.ID), ana.Token, `{"status":"busy"}`, 422, "invalid_presence")
	e.expect(t, "PUT", path(ana.ID), ana.Token, `{"status":"online","since":"now"}`, 400, "bad_json")
	e.expect(t, "PUT", path(9999), adminTestToken, `{"status":"online"}`, 404, "not_found")

	var agent testAgent
	e.call(t, "GET", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, "", &agent)
	if agent.Presence != "online" || agent.HeartbeatAt == nil {
		t.Fatalf("presence not stored: %+v", agent)
	}
}

type testTeam struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Strategy   string  `json:"strategy"`
	OnlineOnly bool    `json:"online_only"`
	MaxOpen    *int    `json:"max_open"`
	MemberIDs  []int64 `json:"member_ids"`
	// the no-reply rule (issue 12)
	ReassignAfterSeconds *int   `json:"reassign_after_seconds"`
	ReassignMax          *int   `json:"reassign_max"`
	ReassignExhausted    string `json:"reassign_exhausted"`
	ReassignOnAway       *bool  `json:"reassign_on_away"`
}

func TestAdminTeams(t *testing.T) {
	e := newAdminEnv(t)
	a := e.createAgent(t, "A", "a@example.com")
	b := e.createAgent(t, "B", "b@example.com")
	c := e.createAgent(t, "C", "c@example.com")

	var team testTeam
	code, body := e.call(t, "POST", "/v1/teams", adminTestToken, fmt.Sprintf(`{"name":"Support","member_ids":[%d,%d],"max_open":null}`, b.ID, a.ID), &team)
	if code != 201 || team.ID == 0 || team.Strategy != "round_robin" || !team.OnlineOnly || team.MaxOpen != nil || !slices.Equal(team.MemberIDs, []int64{b.ID, a.ID}) {
		t.Fatalf("create team: %d %s", code, body)
	}
	var sales testTeam
	if code, body := e.call(t, "POST", "/v1/teams", adminTestToken, `{"name":"Sales","strategy":"least_open","online_only":false,"max_open":5}`, &sales); code != 201 ||
		sales.Strategy != "least_open" || sales.OnlineOnly || *sales.MaxOpen != 5 || sales.MemberIDs == nil || len(sales.MemberIDs) != 0 {
		t.Fatalf("create team without members: %d %s", code, body)
	}

	if team.ReassignAfterSeconds != nil || team.ReassignMax == nil || *team.ReassignMax != 1 || team.ReassignExhausted != "keep" ||
		team.ReassignOnAway == nil || *team.ReassignOnAway {
		t.Errorf("a new team's no-reply rule: after %v, max %v, exhausted %q; want off, 1, keep", team.ReassignAfterSeconds, team.ReassignMax, team.ReassignExhausted)
	}
	var timed testTeam
	if code, body := e.call(t, "POST", "/v1/teams", adminTestToken,
		`{"name":"Timed","reassign_after_seconds":300,"reassign_max":2,"reassign_exhausted":"fallback","reassign_on_away":true}`, &timed); code != 201 ||
		timed.ReassignAfterSeconds == nil || *timed.ReassignAfterSeconds != 300 || *timed.ReassignMax != 2 || timed.ReassignExhausted != "fallback" ||
		!*timed.ReassignOnAway {
		t.Fatalf("create team with the no-reply rule: %d %s", code, body)
	}
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"X","reassign_after_seconds":0}`, 422, "invalid_team")
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"X","reassign_after_seconds":2592001}`, 422, "invalid_team")
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"X","reassign_max":-1}`, 422, "invalid_team")
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"X","reassign_exhausted":"drop"}`, 422, "invalid_team")
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"X","strategy":"random"}`, 422, "invalid_team")
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"X","max_open":-2}`, 422, "invalid_team")
	e.expect(t, "POST", "/v1/teams", adminTestToken, fmt.Sprintf(`{"name":"X","member_ids":[%d,%d]}`, a.ID, a.ID), 422, "invalid_team")
	e.expect(t, "POST", "/v1/teams", adminTestToken, fmt.Sprintf(`{"name":"X","member_ids":[%d,9999]}`, a.ID), 422, "unknown_agent")
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"Support"}`, 409, "duplicate_name")
	e.expect(t, "POST", "/v1/teams", adminTestToken, `{"name":"X","members":[1]}`, 400, "bad_json")
	e.expect(t, "POST", "/v1/teams", a.Token, `{"name":"X"}`, 403, "forbidden")

	// PUT replaces settings and members, in the order given.
	teamPath := fmt.Sprintf("/v1/teams/%d", team.ID)
	var upd testTeam
	if code, body := e.call(t, "PUT", teamPath, adminTestToken, fmt.Sprintf(`{"name":"Support","member_ids":[%d,%d],"strategy":"least_open","online_only":true,"max_open":2}`, c.ID, a.ID), &upd); code != 200 ||
		upd.ID != team.ID || upd.Strategy != "least_open" || *upd.MaxOpen != 2 || !slices.Equal(upd.MemberIDs, []int64{c.ID, a.ID}) {
		t.Fatalf("put team: %d %s", code, body)
	}
	var got testTeam
	if code, body := e.call(t, "GET", teamPath, adminTestToken, "", &got); code != 200 || !slices.Equal(got.MemberIDs, []int64{c.ID, a.ID}) || got.Name != "Support" {
		t.Fatalf("get team: %d %s", code, body)
	}
	// A member (role agent) reads their team but does not edit it.
	if code, body := e.call(t, "GET", teamPath, a.Token, "", &got); code != 200 || got.ID != team.ID {
		t.Fatalf("get team as a member: %d %s", code, body)
	}
	var mine struct{ Teams []testTeam }
	if code, body := e.call(t, "GET", "/v1/teams", a.Token, "", &mine); code != 200 || len(mine.Teams) != 1 || mine.Teams[0].ID != team.ID {
		t.Fatalf("list teams as a member: %d %s", code, body)
	}
	e.expect(t, "GET", fmt.Sprintf("/v1/teams/%d", sales.ID), a.Token, "", 404, "not_found")
	e.expect(t, "PUT", teamPath, adminTestToken, `{"name":"Support","member_ids":[],"agent_visibility":"everyone"}`, 422, "invalid_team")
	e.expect(t, "PUT", teamPath, adminTestToken, `{"name":"Support"}`, 400, "bad_json")
	e.expect(t, "PUT", teamPath, adminTestToken, `{"name":"Sales","member_ids":[]}`, 409, "duplicate_name")
	e.expect(t, "PUT", teamPath, adminTestToken, `{"name":"Support","member_ids":[9999]}`, 422, "unknown_agent")
	e.expect(t, "PUT", teamPath, adminTestToken, `{"name":"Support","member_ids":[],"strategy":"fastest"}`, 422, "invalid_team")
	e.expect(t, "PUT", teamPath, a.Token, `{"name":"Support","member_ids":[]}`, 403, "forbidden")
	e.expect(t, "PUT", "/v1/teams/9999", adminTestToken, `{"name":"Nobody","member_ids":[]}`, 404, "not_found")
	e.expect(t, "GET", "/v1/teams/9999", adminTestToken, "", 404, "not_found")

	var list struct{ Teams []testTeam }
	if code, body := e.call(t, "GET", "/v1/teams", adminTestToken, "", &list); code != 200 || len(list.Teams) != 3 || list.Teams[0].ID != team.ID ||
		!slices.Equal(list.Teams[0].MemberIDs, []int64{c.ID, a.ID}) {
		t.Fatalf("list teams: %d %s", code, body)
	}
}

func TestAdminInboxes(t *testing.T) {
	e := newAdminEnv(t)
	ana := e.createAgent(t, "Ana", "ana@example.com")
	var team testTeam
	if code, body := e.call(t, "POST", "/v1/teams", adminTestToken, fmt.Sprintf(`{"name":"Support","member_ids":[%d]}`, ana.ID), &team); code != 201 {
		t.Fatalf("create team: %d %s", code, body)
	}
	const path = "/v1/inboxes/106540352242922"
	e.expect(t, "GET", path, adminTestToken, "", 404, "not_found")

	// The shape: a single "keyword"; "keywords" lists work too.
	body := fmt.Sprintf(`{"name":"Main","welcome_message":"Hi!","first_responder_becomes_owner":false,
		"routing":[{"when":{"keyword":"refund"},"assign":{"team_id":%d}},
		           {"when":{"keywords":["vip","gold"],"regex":"(?i)^hello"},"assign":{"agent_ids":[%d]}}],
		"default_assign":{"team_id":%d},"fallback_agent_id":null}`, team.ID, ana.ID, team.ID)
	type inbox struct {
		PhoneNumberID string `json:"phone_number_id"`
		Name          string `json:"name"`
		Welcome       string `json:"welcome_message"`
		FirstResp     bool   `json:"first_responder_becomes_owner"`
		Routing       []struct {
			When struct {
				Keywords []string `json:"keywords"`
				Regex    string   `json:"regex"`
			} `json:"when"`
			Assign struct {
				TeamID   *int64  `json:"team_id"`
				AgentIDs []int64 `json:"agent_ids"`
			} `json:"assign"`
		} `json:"routing"`
		DefaultAssign *struct {
			TeamID *int64 `json:"team_id"`
		} `json:"default_assign"`
		FallbackAgentID *int64 `json:"fallback_agent_id"`
	}
	check := func(what string, in inbox) {
		t.Helper()
		if in.PhoneNumberID != "106540352242922" || in.Name != "Main" || in.Welcome != "Hi!" || len(in.Routing) != 2 ||
			!slices.Equal(in.Routing[0].When.Keywords, []string{"refund"}) || *in.Routing[0].Assign.TeamID != team.ID ||
			!slices.Equal(in.Routing[1].When.Keywords, []string{"vip", "gold"}) || in.Routing[1].When.Regex != "(?i)^hello" ||
			!slices.Equal(in.Routing[1].Assign.AgentIDs, []int64{ana.ID}) || in.DefaultAssign == nil || *in.DefaultAssign.TeamID != team.ID || in.FallbackAgentID != nil {
			t.Fatalf("%s: %+v", what, in)
		}
	}
	var in inbox
	if code, resp := e.call(t, "PUT", path, adminTestToken, body, &in); code != 200 {
		t.Fatalf("put inbox: %d %s", code, resp)
	}
	check("put", in)
	in = inbox{}
	if code, resp := e.call(t, "GET", path, adminTestToken, "", &in); code != 200 {
		t.Fatalf("get inbox: %d %s", code, resp)
	}
	check("get", in)
	var list struct{ Inboxes []inbox }
	if code, resp := e.call(t, "GET", "/v1/inboxes", adminTestToken, "", &list); code != 200 || len(list.Inboxes) != 1 {
		t.Fatalf("list inboxes: %d %s", code, resp)
	}
	e.expect(t, "GET", path, ana.Token, "", 403, "forbidden")
	e.expect(t, "GET", "/v1/inboxes", ana.Token, "", 403, "forbidden")
	check("list", list.Inboxes[0])

	rule := func(when, assign string) string {
		return fmt.Sprintf(`{"name":"Main","routing":[{"when":%s,"assign":%s}]}`, when, assign)
	}
	teamStep := fmt.Sprintf(`{"team_id":%d}`, team.ID)
	e.expect(t, "PUT", path, adminTestToken, rule(`{"regex":"(unclosed"}`, teamStep), 422, "invalid_inbox")
	e.expect(t, "PUT", path, adminTestToken, rule(`{}`, teamStep), 422, "invalid_inbox")
	e.expect(t, "PUT", path, adminTestToken, rule(`{"keyword":"refund"}`, `{}`), 422, "invalid_inbox")
	e.expect(t, "PUT", path, adminTestToken, rule(`{"business_hours":{"time_zone":"Mars/Olympus","from":540,"to":1080}}`, teamStep), 422, "invalid_inbox")
	e.expect(t, "PUT", path, adminTestToken, rule(`{"keyword":"refund"}`, `{"team_id":9999}`), 422, "unknown_team")
	e.expect(t, "PUT", path, adminTestToken, rule(`{"keyword":"refund"}`, `{"agent_ids":[9999]}`), 422, "unknown_agent")
	e.expect(t, "PUT", path, adminTestToken, `{"name":"Main","fallback_agent_id":9999}`, 422, "unknown_agent")
	e.expect(t, "PUT", path, adminTestToken, rule(`{"keyword":"refund","colour":"red"}`, teamStep), 400, "bad_json")
	e.expect(t, "PUT", path, adminTestToken, `{"name":"Main","routing":{}}`, 400, "bad_json")
	e.expect(t, "PUT", path, ana.Token, `{"name":"Main"}`, 403, "forbidden")
	for _, bad := range []string{`"auto_resolve_after_seconds":0`, `"auto_resolve_after_seconds":-5`, `"auto_resolve_after_seconds":99999999999`,
		`"sticky_days":0`, `"sticky_days":366`, `"closing_message":"` + strings.Repeat("x", 4097) + `"`} {
		e.expect(t, "PUT", path, adminTestToken, `{"name":"Main",`+bad+`}`, 422, "invalid_inbox")
	}
	e.expect(t, "PUT", path, adminTestToken, `{"name":"Main","auto_resolve_after_seconds":"soon"}`, 400, "bad_json")

	// Failed writes changed nothing; a full PUT replaces everything.
	in = inbox{}
	e.call(t, "GET", path, adminTestToken, "", &in)
	check("after refused writes", in)
	var replaced struct {
		Name          string            `json:"name"`
		Routing       []json.RawMessage `json:"routing"`
		DefaultAssign *json.RawMessage  `json:"default_assign"`
	}
	if code, resp := e.call(t, "PUT", path, adminTestToken, `{"name":"Main 2"}`, &replaced); code != 200 || replaced.Name != "Main 2" ||
		replaced.Routing == nil || len(replaced.Routing) != 0 || replaced.DefaultAssign != nil {
		t.Fatalf("replace inbox: %d %s", code, resp)
	}

	// Rule 3's settings round-trip, and null turns them off.
	var rule3 map[string]any
	if code, resp := e.call(t, "PUT", path, adminTestToken, `{"name":"Main","auto_resolve_after_seconds":2,"closing_message":"Bye!","sticky_days":7}`, &rule3); code != 200 ||
		rule3["auto_resolve_after_seconds"] != 2.0 || rule3["closing_message"] != "Bye!" || rule3["sticky_days"] != 7.0 {
		t.Fatalf("rule 3 settings: %d %s", code, resp)
	}
	rule3 = nil
	if code, resp := e.call(t, "GET", path, adminTestToken, "", &rule3); code != 200 || rule3["auto_resolve_after_seconds"] != 2.0 || rule3["sticky_days"] != 7.0 {
		t.Fatalf("rule 3 settings read back: %d %s", code, resp)
	}
	rule3 = nil
	if code, resp := e.call(t, "PUT", path, adminTestToken, `{"name":"Main","auto_resolve_after_seconds":null,"sticky_days":null}`, &rule3); code != 200 ||
		rule3["auto_resolve_after_seconds"] != nil || rule3["sticky_days"] != nil || rule3["closing_message"] != "" {
		t.Fatalf("rule 3 settings off: %d %s", code, resp)
	}
}

func TestAdminErrorsAreJSON(t *testing.T) {
	e := newAdminEnv(t)
	resp := e.expect(t, http.MethodGet, "/v1/teams/abc", adminTestToken, "", 400, "bad_id")
	if !strings.HasPrefix(resp, `{"error":{`) {
		t.Fatalf("error body %s", resp)
	}
}

// The inbox's first-response SLA and business hours: accepted, returned,
// cleared with null; bad values are 422 (a wrong type 400).
func TestInboxSLASettings(t *testing.T) {
	e := newAdminEnv(t)
	const path = "/v1/inboxes/106540352242923"
	type inbox struct {
		SLA   *int `json:"first_response_sla_seconds"`
		Hours *struct {
			TimeZone string `json:"time_zone"`
			Days     []int  `json:"days"`
			From     int    `json:"from"`
			To       int    `json:"to"`
		} `json:"business_hours"`
	}
	var in inbox
	body := `{"name":"Sales","first_response_sla_seconds":900,
		"business_hours":{"time_zone":"America/Sao_Paulo","days":[1,2,3,4,5],"from":540,"to":1080}}`
	if code, resp := e.call(t, "PUT", path, adminTestToken, body, &in); code != 200 || in.SLA == nil || *in.SLA != 900 ||
		in.Hours == nil || in.Hours.TimeZone != "America/Sao_Paulo" || len(in.Hours.Days) != 5 || in.Hours.From != 540 || in.Hours.To != 1080 {
		t.Fatalf("put: %d %s", code, resp)
	}
	in = inbox{}
	if code, resp := e.call(t, "GET", path, adminTestToken, "", &in); code != 200 || in.SLA == nil || *in.SLA != 900 || in.Hours == nil {
		t.Fatalf("get: %d %s", code, resp)
	}
	for _, bad := range []string{
		`{"name":"Sales","first_response_sla_seconds":0}`,
		`{"name":"Sales","first_response_sla_seconds":-1}`,
		`{"name":"Sales","first_response_sla_seconds":604801}`,
		`{"name":"Sales","business_hours":{"time_zone":"Mars/Olympus","from":540,"to":1080}}`,
		`{"name":"Sales","business_hours":{"time_zone":"UTC","from":540,"to":540}}`,
		`{"name":"Sales","business_hours":{"time_zone":"UTC","from":540,"to":1080,"outside":true}}`,
		`{"name":"Sales","business_hours":{"time_zone":"UTC","days":[7],"from":540,"to":1080}}`,
		`{"name":"Sales","first_response_sla_seconds":604800,"business_hours":{"time_zone":"UTC","days":[0],"from":0,"to":1}}`,
	} {
		e.expect(t, "PUT", path, adminTestToken, bad, 422, "invalid_inbox")
	}
	e.expect(t, "PUT", path, adminTestToken, `{"name":"Sales","first_response_sla_seconds":"900"}`, 400, "bad_json")
	in = inbox{}
	if code, resp := e.call(t, "PUT", path, adminTestToken, `{"name":"Sales","first_response_sla_seconds":null,"business_hours":null}`, &in); code != 200 ||
		in.SLA != nil || in.Hours != nil || !strings.Contains(resp, `"first_response_sla_seconds":null`) || !strings.Contains(resp, `"business_hours":null`) {
		t.Fatalf("cleared: %d %s", code, resp)
	}
}
