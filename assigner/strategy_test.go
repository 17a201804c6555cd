package assigner

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// Rule 8.
func TestPickRoundRobin(t *testing.T) {
	at := func(m Member, ago time.Duration) Member {
		m.LastAssignedAt = t0.Add(-ago)
		return m
	}
	capped := func(a Agent, capacity, open int) Agent {
		a.Capacity, a.OpenCount = ptr(capacity), open
		return a
	}
	inactive := online(4, "Dan")
	inactive.Active = false
	tests := []struct {
		name       string
		ts         TeamState
		assigned   []int64
		want       int64
		chosenText string
		skipped    [][2]string
	}{
		{
			name: "least recently assigned wins",
			ts: team(1, "Support", StrategyRoundRobin,
				at(member(online(1, "Ana"), 0), time.Minute), at(member(online(2, "Bob"), 1), time.Hour), at(member(online(3, "Cid"), 2), 2*time.Minute)),
			want:       2,
			chosenText: "Bob was chosen by round robin in team Support: last assigned by this team at 09:09, the least recent of 3 eligible members.",
		},
		{
			name: "never assigned comes first",
			ts: team(1, "Support", StrategyRoundRobin,
				at(member(online(1, "Ana"), 0), time.Hour), member(online(2, "Bob"), 1)),
			want: 2,
		},
		{
			name: "tie: member order decides",
			ts: team(1, "Support", StrategyRoundRobin,
				member(online(1, "Ana"), 2), member(online(2, "Bob"), 1), member(online(3, "Cid"), 3)),
			want:       2,
			chosenText: "Bob was chosen by round robin in team Support: never assigned by this team, the least recent of 3 eligible members. Tied with Ana; member order decides.",
		},
		{
			name: "tie on order: lower id decides",
			ts: team(1, "Support", StrategyRoundRobin,
				member(online(7, "Gil"), 1), member(online(5, "Eva"), 1), member(online(6, "Fay"), 1)),
			want: 5,
		},
		{
			name: "skips already assigned, inactive, offline, away and full members",
			ts: team(1, "Support", StrategyRoundRobin,
				member(online(1, "Ana"), 0), member(offline(2, "Bob"), 1), member(withPresence(online(3, "Cid"), PresenceAway), 2),
				member(inactive, 3), member(capped(online(5, "Eva"), 3, 3), 4), at(member(online(6, "Fay"), 5), time.Hour)),
			assigned:   []int64{1},
			want:       6,
			chosenText: "Fay was chosen by round robin in team Support: the only eligible member.",
			skipped: [][2]string{
				{CodeAlreadyAssigned, "Ana was skipped: already assigned to this conversation."},
				{CodeOffline, "Bob was skipped: offline since 10:02 (no heartbeat for 7 min)."},
				{CodeAway, "Cid was skipped: away."},
				{CodeInactive, "Dan was skipped: deactivated."},
				{CodeAtCapacity, "Eva was skipped: at capacity (3 open, limit 3)."},
			},
		},
		{
			name: "team per-member limit",
			ts: TeamState{Team: Team{ID: 1, Name: "Support", OnlineOnly: true, MaxOpen: ptr(2)},
				Members: []Member{member(capped(online(1, "Ana"), 10, 2), 0), member(capped(online(2, "Bob"), 10, 1), 1)}},
			want:    2,
			skipped: [][2]string{{CodeAtCapacity, "Ana was skipped: at capacity (2 open, limit 2 per member in team Support)."}},
		},
		{
			name: "offline members are candidates when the team is not online-only",
			ts: TeamState{Team: Team{ID: 1, Name: "Support", Strategy: StrategyRoundRobin},
				Members: []Member{at(member(online(1, "Ana"), 0), time.Minute), member(withPresence(offline(2, "Bob"), PresenceOffline), 1)}},
			want: 2,
		},
		{
			name: "explicit offline status",
			ts: team(1, "Support", StrategyRoundRobin,
				member(withPresence(online(1, "Ana"), PresenceOffline), 0), member(withHeartbeat(online(2, "Bob"), time.Time{}), 1)),
			want: 0,
			skipped: [][2]string{
				{CodeOffline, "Ana was skipped: offline (last heartbeat at 10:08)."},
				{CodeOffline, "Bob was skipped: offline (no heartbeat yet)."},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, reasons := PickRoundRobin(tt.ts, tt.assigned, t0, 0)
			if got != tt.want || ok != (tt.want != 0) {
				t.Fatalf("picked %d %v, want %d\n%s", got, ok, tt.want, dump(reasons))
			}
			d := Decision{Reasons: reasons}
			if tt.chosenText != "" {
				hasReason(t, d, CodeChosen, tt.chosenText)
			}
			for _, s := range tt.skipped {
				hasReason(t, d, s[0], s[1])
			}
		})
	}
}

// Rule 9.
func TestPickLeastOpen(t *testing.T) {
	m := func(id int64, name string, open int, pos int, ago time.Duration) Member {
		a := online(id, name)
		a.OpenCount = open
		mm := member(a, pos)
		if ago > 0 {
			mm.LastAssignedAt = t0.Add(-ago)
		}
		return mm
	}
	tests := []struct {
		name       string
		ts         TeamState
		assigned   []int64
		want       int64
		chosenText string
	}{
		{"fewest open", team(1, "Sales", StrategyLeastOpen, m(1, "Ana", 3, 0, 0), m(2, "Bob", 1, 1, time.Minute), m(3, "Cid", 2, 2, 0)), nil, 2,
			"Bob was chosen by least open in team Sales: 1 open conversation, the fewest of 3 eligible members."},
		{"tie: least recently assigned", team(1, "Sales", StrategyLeastOpen, m(1, "Ana", 1, 0, time.Minute), m(2, "Bob", 1, 1, time.Hour), m(3, "Cid", 4, 2, 0)), nil, 2,
			"Bob was chosen by least open in team Sales: 1 open conversation, the fewest of 3 eligible members. Tied with Ana; the one assigned less recently wins."},
		{"tie: never assigned first", team(1, "Sales", StrategyLeastOpen, m(1, "Ana", 0, 0, time.Minute), m(2, "Bob", 0, 1, 0)), nil, 2, ""},
		{"tie on both: member order", team(1, "Sales", StrategyLeastOpen, m(1, "Ana", 0, 1, 0), m(2, "Bob", 0, 0, 0)), nil, 2, ""},
		{"tie on everything: id", team(1, "Sales", StrategyLeastOpen, m(9, "Ian", 0, 0, 0), m(8, "Hal", 0, 0, 0)), nil, 8, ""},
		{"already assigned skipped", team(1, "Sales", StrategyLeastOpen, m(1, "Ana", 0, 0, 0), m(2, "Bob", 5, 1, 0)), []int64{1}, 2,
			"Bob was chosen by least open in team Sales: the only eligible member (5 open conversations)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, reasons := PickLeastOpen(tt.ts, tt.assigned, t0, 0)
			if !ok || got != tt.want {
				t.Fatalf("picked %d %v, want %d\n%s", got, ok, tt.want, dump(reasons))
			}
			if tt.chosenText != "" {
				hasReason(t, Decision{Reasons: reasons}, CodeChosen, tt.chosenText)
			}
		})
	}
}

// Least open never picks an agent with more open conversations than
// another eligible one, whatever the state.
func TestPickLeastOpenProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var ms []Member
		for id := int64(1); id <= int64(1+rng.IntN(8)); id++ {
			a := online(id, "")
			a.OpenCount = rng.IntN(5)
			if rng.IntN(4) == 0 {
				a.Capacity = ptr(rng.IntN(5))
			}
			if rng.IntN(5) == 0 {
				a.HeartbeatAt = t0.Add(-time.Hour)
			}
			mm := member(a, rng.IntN(3))
			if rng.IntN(2) == 0 {
				mm.LastAssignedAt = t0.Add(-time.Duration(rng.IntN(100)) * time.Minute)
			}
			ms = append(ms, mm)
		}
		ts := team(1, "T", StrategyLeastOpen, ms...)
		var assigned []int64
		if rng.IntN(3) == 0 {
			assigned = []int64{1}
		}
		got, ok, _ := PickLeastOpen(ts, assigned, t0, 0)
		eligible, _ := candidates(ts, assigned, t0, DefaultPresenceTimeout)
		if ok != (len(eligible) > 0) {
			t.Fatalf("ok = %v with %d eligible", ok, len(eligible))
		}
		if !ok {
			continue
		}
		chosen, _ := ts.Member(got)
		if !slices.ContainsFunc(eligible, func(m Member) bool { return m.ID == got }) {
			t.Fatalf("picked ineligible %d", got)
		}
		for _, e := range eligible {
			if e.OpenCount < chosen.OpenCount {
				t.Fatalf("picked %d with %d open while %d has %d", got, chosen.OpenCount, e.ID, e.OpenCount)
			}
			if e.OpenCount == chosen.OpenCount && e.LastAssignedAt.Before(chosen.LastAssignedAt) {
				t.Fatalf("picked %d assigned at %v while %d, equally loaded, was assigned at %v", got, chosen.LastAssignedAt, e.ID, e.LastAssignedAt)
			}
		}
	}
}

func TestStrategyDispatch(t *testing.T) {
	ms := []Member{member(withOpen(online(1, "Ana"), 3), 0), member(withOpen(online(2, "Bob"), 1), 1)}
	tests := []struct {
		strategy TeamStrategy
		want     int64
		source   Source
		manual   bool
	}{
		{StrategyRoundRobin, 1, SourceRoundRobin, false},
		{"", 1, SourceRoundRobin, false},
		{StrategyLeastOpen, 2, SourceLeastOpen, false},
		{StrategyManual, 0, "", true},
		{"bogus", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.strategy), func(t *testing.T) {
			p := Strategy(team(1, "T", tt.strategy, ms...), nil, t0, 0)
			if p.AgentID != tt.want || p.Source != tt.source || p.Manual != tt.manual || p.OK() != (tt.want != 0) {
				t.Errorf("pick = %+v", p)
			}
		})
	}
}

// applyPick is what the store does in the transaction after a pick: the
// member's last assignment time and open count.
func applyPick(ts *TeamState, id int64, at time.Time) {
	for i := range ts.Members {
		if ts.Members[i].ID == id {
			ts.Members[i].LastAssignedAt = at
			ts.Members[i].OpenCount++
		}
	}
}

// 1000 sequential round-robin decisions over 5 online members give 200
// each, in strict rotation.
func TestRoundRobinSimulation(t *testing.T) {
	ts := team(1, "Support", StrategyRoundRobin)
	for id := int64(1); id <= 5; id++ {
		ts.Members = append(ts.Members, member(online(id, ""), int(id)))
	}
	counts := map[int64]int{}
	var order []int64
	now := t0
	for i := range 1000 {
		d := DecideOpen(OpenInput{Now: now, Inbox: Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{TeamID: ptr(int64(1))}},
			Conversation: Conversation{ID: int64(i + 1), Status: StatusOpen}, Teams: map[int64]TeamState{1: ts}})
		if len(d.Chosen) != 1 {
			t.Fatalf("decision %d chose %v", i, d.Chosen)
		}
		counts[d.Chosen[0]]++
		order = append(order, d.Chosen[0])
		applyPick(&ts, d.Chosen[0], d.ChosenAt)
		// Many decisions share a timestamp (like now() in one Postgres
		// transaction); some are a second apart.
		if i%7 == 0 {
			now = now.Add(time.Second)
		}
	}
	for id := int64(1); id <= 5; id++ {
		if counts[id] != 200 {
			t.Errorf("agent %d got %d, want 200 (%v)", id, counts[id], counts)
		}
	}
	for i := 5; i < len(order); i++ {
		if order[i] != order[i-5] {
			t.Fatalf("rotation broken at %d: %v", i, order[i-5:i+1])
		}
	}
}

// Concurrent decisions, serialised by the team lock as the store does
// (SELECT … FOR UPDATE), never pick the same "next" agent.
func TestRoundRobinUnderTeamLock(t *testing.T) {
	var mu sync.Mutex // stands for the team row lock
	ts := team(1, "Support", StrategyRoundRobin)
	for id := int64(1); id <= 5; id++ {
		ts.Members = append(ts.Members, member(online(id, ""), int(id)))
	}
	counts := map[int64]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 125 {
				mu.Lock()
				id, ok, _ := PickRoundRobin(ts, nil, t0, 0) // all at the same instant
				if ok {
					applyPick(&ts, id, ts.NextAssignedAt(t0))
					counts[id]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id := int64(1); id <= 5; id++ {
		if counts[id] != 200 {
			t.Errorf("agent %d got %d, want 200 (%v)", id, counts[id], counts)
		}
	}
}

// Least open over many sequential decisions keeps counts within one of
// each other, starting from uneven loads.
func TestLeastOpenSimulation(t *testing.T) {
	ts := team(1, "Sales", StrategyLeastOpen,
		member(withOpen(online(1, ""), 10), 0), member(withOpen(online(2, ""), 0), 1), member(withOpen(online(3, ""), 4), 2))
	for i := range 300 {
		now := t0.Add(time.Duration(i) * time.Second)
		id, ok, _ := PickLeastOpen(ts, nil, now, time.Hour)
		if !ok {
			t.Fatal("nobody picked")
		}
		chosen, _ := ts.Member(id)
		for _, m := range ts.Members {
			if m.OpenCount < chosen.OpenCount {
				t.Fatalf("step %d: picked %d (%d open) over %d (%d open)", i, id, chosen.OpenCount, m.ID, m.OpenCount)
			}
		}
		applyPick(&ts, id, ts.NextAssignedAt(now))
	}
	lo, hi := ts.Members[0].OpenCount, ts.Members[0].OpenCount
	for _, m := range ts.Members {
		lo, hi = min(lo, m.OpenCount), max(hi, m.OpenCount)
	}
	if hi-lo > 1 {
		t.Errorf("counts spread %d..%d", lo, hi)
	}
}

func withOpen(a Agent, n int) Agent {
	a.OpenCount = n
	return a
}
