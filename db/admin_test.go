package db_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

func adminTokenHash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

func adminInt(v int) *int       { return &v }
func adminInt64(v int64) *int64 { return &v }

func adminAgent(t *testing.T, s *db.Store, name, email string) db.AgentView {
	t.Helper()
	a, err := s.CreateAgent(context.Background(), assigner.Agent{Name: name, Role: assigner.RoleAgent, Active: true}, email, adminTokenHash("tok-"+email))
	if err != nil {
		t.Fatalf("create agent %s: %v", name, err)
	}
	return a
}

func configCode(err error) string {
	var ce *assigner.Error
	if errors.As(err, &ce) {
		return string(ce.Code)
	}
	return ""
}

func TestAgentRoundTrip(t *testing.T) {
	conn, _ := dbtest.New(t)
	s := db.NewStore(conn)
	ctx := context.Background()

	ana, err := s.CreateAgent(ctx, assigner.Agent{Name: "Ana", Role: assigner.RoleAgent, Active: true, Capacity: adminInt(3)}, "ana@example.com", adminTokenHash("secret-ana"))
	if err != nil {
		t.Fatal(err)
	}
	if ana.ID == 0 || ana.Email != "ana@example.com" || ana.Presence != assigner.PresenceOffline || !ana.HeartbeatAt.IsZero() || *ana.Capacity != 3 {
		t.Fatalf("created %+v", ana)
	}
	bob := adminAgent(t, s, "Bob", "bob@example.com")

	if _, err := s.CreateAgent(ctx, assigner.Agent{Name: "Ana 2", Role: assigner.RoleAgent, Active: true}, "ana@example.com", adminTokenHash("x")); configCode(err) != "duplicate_email" || !errors.Is(err, db.ErrConflict) {
		t.Fatalf("duplicate email: %v", err)
	}
	if _, err := s.CreateAgent(ctx, assigner.Agent{Name: "", Role: "boss"}, "c@example.com", adminTokenHash("y")); !errors.Is(err, assigner.ErrInvalid) {
		t.Fatalf("invalid agent: %v", err)
	}

	got, err := s.GetAgent(ctx, ana.ID)
	if err != nil || got.Name != "Ana" || got.Email != "ana@example.com" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetAgent(ctx, 9999); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
	list, err := s.ListAgents(ctx)
	if err != nil || len(list) != 2 || list[0].ID != ana.ID || list[1].ID != bob.ID {
		t.Fatalf("list: %+v %v", list, err)
	}

	byTok, err := s.AgentByTokenHash(ctx, adminTokenHash("secret-ana"))
	if err != nil || byTok.ID != ana.ID {
		t.Fatalf("token lookup: %+v %v", byTok, err)
	}
	if _, err := s.AgentByTokenHash(ctx, adminTokenHash("nope")); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}

	upd, err := s.UpdateAgent(ctx, ana.ID, func(a *db.AgentView) error {
		a.Name, a.Role, a.Active, a.Capacity = "Ana Maria", assigner.RoleAdmin, false, nil
		return nil
	})
	if err != nil || upd.Name != "Ana Maria" || upd.Role != assigner.RoleAdmin || upd.Active || upd.Capacity != nil || upd.Email != "ana@example.com" {
		t.Fatalf("update: %+v %v", upd, err)
	}
	if _, err := s.UpdateAgent(ctx, ana.ID, func(a *db.AgentView) error { a.Email = "bob@example.com"; return nil }); configCode(err) != "duplicate_email" {
		t.Fatalf("update to a taken email: %v", err)
	}
	if _, err := s.UpdateAgent(ctx, ana.ID, func(a *db.AgentView) error { a.Capacity = adminInt(-1); return nil }); !errors.Is(err, assigner.ErrInvalid) {
		t.Fatalf("negative capacity: %v", err)
	}
	if _, err := s.UpdateAgent(ctx, 9999, func(*db.AgentView) error { return nil }); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}
	if got, _ := s.GetAgent(ctx, ana.ID); got.Name != "Ana Maria" || got.Active {
		t.Fatalf("failed updates changed the agent: %+v", got)
	}
}

func TestSetPresenceRefreshesHeartbeatAndNotifies(t *testing.T) {
	conn, dsn := dbtest.New(t)
	s := db.NewStore(conn)
	ctx := context.Background()
	ana := adminAgent(t, s, "Ana", "ana@example.com")

	listener := pq.NewListener(dsn, 10*time.Millisecond, time.Second, nil)
	defer listener.Close()
	if err := listener.Listen("wagw_queue"); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	away, err := s.SetPresence(ctx, ana.ID, assigner.PresenceAway, now)
	if err != nil || away.Presence != assigner.PresenceAway || !away.HeartbeatAt.Equal(now) {
		t.Fatalf("away: %+v %v", away, err)
	}
	select {
	case n := <-listener.Notify:
		t.Fatalf("going away notified the queue: %+v", n)
	case <-time.After(200 * time.Millisecond):
	}

	later := now.Add(time.Minute)
	on, err := s.SetPresence(ctx, ana.ID, assigner.PresenceOnline, later)
	if err != nil || on.Presence != assigner.PresenceOnline || !on.HeartbeatAt.Equal(later) {
		t.Fatalf("online: %+v %v", on, err)
	}
	if !on.Online(later, 0) {
		t.Fatal("agent with a fresh heartbeat is not online")
	}
	select {
	case n := <-listener.Notify:
		if n == nil || n.Channel != "wagw_queue" {
			t.Fatalf("notification %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("coming online did not notify wagw_queue")
	}

	if _, err := s.SetPresence(ctx, ana.ID, "busy", now); !errors.Is(err, assigner.ErrInvalid) {
		t.Fatalf("bad presence: %v", err)
	}
	if _, err := s.SetPresence(ctx, 9999, assigner.PresenceOnline, now); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
}

func TestTeamRoundTripKeepsRoundRobinState(t *testing.T) {
	conn, _ := dbtest.New(t)
	s := db.NewStore(conn)
	ctx := context.Background()
	a := adminAgent(t, s, "A", "a@example.com")
	b := adminAgent(t, s, "B", "b@example.com")
	c := adminAgent(t, s, "C", "c@example.com")

	team, err := s.CreateTeam(ctx, assigner.Team{Name: "Support", OnlineOnly: true}, []int64{b.ID, a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if team.ID == 0 || team.Strategy != assigner.StrategyRoundRobin || !team.OnlineOnly || team.MaxOpen != nil || !slices.Equal(team.MemberIDs, []int64{b.ID, a.ID}) {
		t.Fatalf("created %+v", team)
	}
	empty, err := s.CreateTeam(ctx, assigner.Team{Name: "Sales", Strategy: assigner.StrategyManual}, nil)
	if err != nil || len(empty.MemberIDs) != 0 || empty.MemberIDs == nil {
		t.Fatalf("team without members: %+v %v", empty, err)
	}

	if _, err := s.CreateTeam(ctx, assigner.Team{Name: "Support"}, nil); configCode(err) != "duplicate_name" || !errors.Is(err, db.ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := s.CreateTeam(ctx, assigner.Team{Name: "Ghosts"}, []int64{a.ID, 9999}); configCode(err) != "unknown_agent" || !errors.Is(err, assigner.ErrInvalid) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err := s.CreateTeam(ctx, assigner.Team{Name: "Bad", Strategy: "random"}, nil); !errors.Is(err, assigner.ErrInvalid) {
		t.Fatalf("bad strategy: %v", err)
	}
	if _, err := s.CreateTeam(ctx, assigner.Team{Name: "Twice"}, []int64{a.ID, a.ID}); !errors.Is(err, assigner.ErrInvalid) {
		t.Fatalf("member listed twice: %v", err)
	}

	// The strategy recorded picks for A and B.
	picked := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(`UPDATE team_members SET last_assigned_at = $2 WHERE team_id = $1`, team.ID, picked); err != nil {
		t.Fatal(err)
	}

	upd, err := s.UpdateTeam(ctx, team.ID, assigner.Team{Name: "Support L1", Strategy: assigner.StrategyLeastOpen, MaxOpen: adminInt(4)}, []int64{c.ID, a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Name != "Support L1" || upd.Strategy != assigner.StrategyLeastOpen || upd.OnlineOnly || *upd.MaxOpen != 4 || !slices.Equal(upd.MemberIDs, []int64{c.ID, a.ID}) {
		t.Fatalf("updated %+v", upd)
	}
	rows, err := conn.Query(`SELECT agent_id, position, last_assigned_at FROM team_members WHERE team_id = $1 ORDER BY position`, team.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seen []int64
	for rows.Next() {
		var id int64
		var pos int
		var last *time.Time
		if err := rows.Scan(&id, &pos, &last); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, id)
		switch id {
		case a.ID:
			if last == nil || !last.Equal(picked) {
				t.Errorf("member that stayed lost last_assigned_at: %v", last)
			}
		case c.ID:
			if last != nil {
				t.Errorf("new member has last_assigned_at %v", last)
			}
		}
	}
	if !slices.Equal(seen, []int64{c.ID, a.ID}) {
		t.Fatalf("members by position %v, want %v", seen, []int64{c.ID, a.ID})
	}

	got, err := s.GetTeam(ctx, team.ID)
	if err != nil || !slices.Equal(got.MemberIDs, []int64{c.ID, a.ID}) || got.Name != "Support L1" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetTeam(ctx, 9999); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown team: %v", err)
	}
	if _, err := s.UpdateTeam(ctx, 9999, assigner.Team{Name: "X"}, nil); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("update unknown team: %v", err)
	}
	if _, err := s.UpdateTeam(ctx, empty.ID, assigner.Team{Name: "Support L1"}, nil); configCode(err) != "duplicate_name" {
		t.Fatalf("rename to a taken name: %v", err)
	}
	if _, err := s.UpdateTeam(ctx, team.ID, assigner.Team{Name: "Support L1"}, []int64{9999}); configCode(err) != "unknown_agent" {
		t.Fatalf("update with unknown member: %v", err)
	}
	list, err := s.ListTeams(ctx)
	if err != nil || len(list) != 2 || list[0].ID != team.ID || !slices.Equal(list[0].MemberIDs, []int64{c.ID, a.ID}) || len(list[1].MemberIDs) != 0 {
		t.Fatalf("list: %+v %v", list, err)
	}
}

func TestInboxRoundTrip(t *testing.T) {
	conn, _ := dbtest.New(t)
	s := db.NewStore(conn)
	ctx := context.Background()
	ana := adminAgent(t, s, "Ana", "ana@example.com")
	team, err := s.CreateTeam(ctx, assigner.Team{Name: "Support", OnlineOnly: true}, []int64{ana.ID})
	if err != nil {
		t.Fatal(err)
	}

	// Never seen in a webhook: defaults, and not found.
	if in, err := s.InboxSettings(ctx, "106540352242922"); err != nil || in.PhoneNumberID != "106540352242922" || in.WelcomeMessage != "" || in.Routing != nil {
		t.Fatalf("settings of an unknown inbox: %+v %v", in, err)
	}
	if _, err := s.GetInbox(ctx, "106540352242922"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("unknown inbox: %v", err)
	}

	want := assigner.Inbox{
		PhoneNumberID: "106540352242922", Name: "Main", WelcomeMessage: "Hi!", FirstResponderBecomesOwner: true,
		Routing: []assigner.Rule{
			{When: assigner.Condition{Keywords: []string{"refund"}}, Assign: assigner.Step{TeamID: &team.ID}},
			{When: assigner.Condition{Regex: `(?i)^vip`}, Assign: assigner.Step{AgentIDs: []int64{ana.ID}}},
		},
		DefaultAssign:   &assigner.Step{TeamID: &team.ID},
		FallbackAgentID: &ana.ID,
	}
	got, err := s.PutInbox(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got assigner.Inbox) {
		t.Helper()
		if got.Name != "Main" || got.WelcomeMessage != "Hi!" || !got.FirstResponderBecomesOwner || len(got.Routing) != 2 ||
			got.Routing[0].When.Keywords[0] != "refund" || *got.Routing[0].Assign.TeamID != team.ID ||
			got.Routing[1].When.Regex != `(?i)^vip` || got.Routing[1].Assign.AgentIDs[0] != ana.ID ||
			got.DefaultAssign == nil || *got.DefaultAssign.TeamID != team.ID || got.FallbackAgentID == nil || *got.FallbackAgentID != ana.ID {
			t.Fatalf("%s: %+v", what, got)
		}
	}
	check("put", got)
	got, err = s.GetInbox(ctx, want.PhoneNumberID)
	if err != nil {
		t.Fatal(err)
	}
	check("get", got)
	got, err = s.InboxSettings(ctx, want.PhoneNumberID)
	if err != nil {
		t.Fatal(err)
	}
	check("settings", got)

	// Replacing clears what is not given; webhook facts stay.
	if _, err := conn.Exec(`UPDATE inboxes SET display_phone_number = '15550783881' WHERE phone_number_id = $1`, want.PhoneNumberID); err != nil {
		t.Fatal(err)
	}
	got, err = s.PutInbox(ctx, assigner.Inbox{PhoneNumberID: want.PhoneNumberID, Name: "Main 2"})
	if err != nil || got.Name != "Main 2" || got.Routing != nil || got.DefaultAssign != nil || got.FallbackAgentID != nil || got.WelcomeMessage != "" {
		t.Fatalf("replace: %+v %v", got, err)
	}
	var display string
	if err := conn.Get(&display, `SELECT display_phone_number FROM inboxes WHERE phone_number_id = $1`, want.PhoneNumberID); err != nil || display != "15550783881" {
		t.Fatalf("display number after put: %q %v", display, err)
	}

	bad := []struct {
		in   assigner.Inbox
		code string
	}{
		{assigner.Inbox{PhoneNumberID: "1", DefaultAssign: &assigner.Step{TeamID: adminInt64(9999)}}, "unknown_team"},
		{assigner.Inbox{PhoneNumberID: "1", Routing: []assigner.Rule{{When: assigner.Condition{Keywords: []string{"x"}}, Assign: assigner.Step{AgentIDs: []int64{ana.ID, 9998}}}}}, "unknown_agent"},
		{assigner.Inbox{PhoneNumberID: "1", FallbackAgentID: adminInt64(9997)}, "unknown_agent"},
		{assigner.Inbox{PhoneNumberID: "1", Routing: []assigner.Rule{{When: assigner.Condition{Regex: "("}, Assign: assigner.Step{TeamID: &team.ID}}}}, "invalid"},
	}
	for i, tc := range bad {
		_, err := s.PutInbox(ctx, tc.in)
		if !errors.Is(err, assigner.ErrInvalid) || configCode(err) != tc.code {
			t.Errorf("bad inbox %d: %v, want ErrInvalid with code %q", i, err, tc.code)
		}
	}
	list, err := s.ListInboxes(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "Main 2" {
		t.Fatalf("list: %+v %v", list, err)
	}
}
