package assigner

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

func queued(id, teamID int64, as ...Assignee) Conversation {
	return Conversation{ID: id, Status: StatusOpen, TeamID: ptr(teamID), Queued: true, Assignees: as, OpenedAt: t0.Add(time.Duration(id) * time.Minute)}
}

func capped(a Agent, capacity, open int) Agent {
	a.Capacity, a.OpenCount = ptr(capacity), open
	return a
}

// Rule 10: oldest first, as far as capacity allows, never giving an agent
// a second conversation while another eligible agent has fewer.
func TestDrainQueue(t *testing.T) {
	rr := team(1, "Support", StrategyRoundRobin,
		member(capped(online(1, "Ana"), 2, 0), 0), member(capped(online(2, "Bob"), 2, 1), 1), member(offline(3, "Cid"), 2))
	lo := team(2, "Sales", StrategyLeastOpen,
		member(capped(online(1, "Ana"), 2, 0), 0), member(withOpen(online(4, "Dan"), 2), 1), member(withOpen(online(5, "Eva"), 0), 2))
	teams := map[int64]TeamState{1: rr, 2: lo}
	orig := map[int64]TeamState{1: cloneTeam(rr), 2: cloneTeam(lo)}

	queue := []Conversation{queued(11, 1), queued(12, 1), queued(13, 1), queued(14, 1), queued(15, 1)}
	ds := DrainQueue(queue, teams, t0, 0)

	// Capacity: Ana 2 free, Bob 1 free, Cid offline: three conversations,
	// the three oldest, in rotation Ana, Bob, Ana.
	var got [][2]int64
	for _, d := range ds {
		got = append(got, [2]int64{d.ConversationID, d.Chosen[0]})
		if d.Queued || d.Rule != "drain_queue, round_robin" || len(d.Added) != 1 || d.Added[0].Source != SourceRoundRobin {
			t.Errorf("decision %+v", d)
		}
		if !maps.Equal(d.OpenCountDelta, map[int64]int{d.Chosen[0]: 1}) {
			t.Errorf("delta = %v", d.OpenCountDelta)
		}
	}
	if want := [][2]int64{{11, 1}, {12, 2}, {13, 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
	if !ds[0].ChosenAt.Before(ds[1].ChosenAt) || !ds[1].ChosenAt.Before(ds[2].ChosenAt) {
		t.Errorf("chosen at not increasing: %v %v %v", ds[0].ChosenAt, ds[1].ChosenAt, ds[2].ChosenAt)
	}
	if !reflect.DeepEqual(teams, orig) {
		t.Error("DrainQueue modified its input")
	}
}

func TestDrainQueueLeastOpenSpreads(t *testing.T) {
	lo := team(2, "Sales", StrategyLeastOpen,
		member(withOpen(online(1, "Ana"), 3), 0), member(withOpen(online(2, "Bob"), 0), 1), member(withOpen(online(3, "Cid"), 1), 2))
	var queue []Conversation
	for id := int64(1); id <= 8; id++ {
		queue = append(queue, queued(id, 2))
	}
	open := map[int64]int{1: 3, 2: 0, 3: 1}
	for _, d := range DrainQueue(queue, map[int64]TeamState{2: lo}, t0, 0) {
		id := d.Chosen[0]
		for other, n := range open {
			if n < open[id] {
				t.Fatalf("conversation %d went to %d (%d open) while %d had %d", d.ConversationID, id, open[id], other, n)
			}
		}
		open[id]++
	}
	if !maps.Equal(open, map[int64]int{1: 4, 2: 4, 3: 4}) {
		t.Errorf("open = %v", open)
	}
}

// An agent in two teams: a pick in one team counts against their capacity
// in the other within the same call.
func TestDrainQueueSharedAgent(t *testing.T) {
	a := team(1, "A", StrategyRoundRobin, member(capped(online(1, "Ana"), 1, 0), 0))
	b := team(2, "B", StrategyRoundRobin, member(capped(online(1, "Ana"), 1, 0), 0))
	ds := DrainQueue([]Conversation{queued(1, 1), queued(2, 2)}, map[int64]TeamState{1: a, 2: b}, t0, 0)
	if len(ds) != 1 || ds[0].ConversationID != 1 {
		t.Errorf("decisions = %+v", ds)
	}
}

func TestDrainQueueSkips(t *testing.T) {
	support := team(1, "Support", StrategyRoundRobin, member(online(1, "Ana"), 0), member(online(2, "Bob"), 1))
	manual := team(2, "Desk", StrategyManual, member(online(1, "Ana"), 0))
	notQueued := queued(1, 1)
	notQueued.Queued = false
	resolved := queued(2, 1)
	resolved.Status = StatusResolved
	noTeam := queued(3, 1)
	noTeam.TeamID = nil
	queue := []Conversation{notQueued, resolved, noTeam, queued(4, 2), queued(5, 99), queued(6, 1, Assignee{2, SourceOwner}), queued(7, 1)}
	ds := DrainQueue(queue, map[int64]TeamState{1: support, 2: manual}, t0, 0)
	if len(ds) != 3 {
		t.Fatalf("decisions = %+v", ds)
	}
	// Conversation 4: its team now assigns manually: it leaves the queue
	// and waits for a claim.
	if ds[0].ConversationID != 4 || len(ds[0].Added) != 0 || ds[0].Queued || ds[0].Rule != "drain_queue, manual" {
		t.Errorf("decision for 4: %+v", ds[0])
	}
	hasReason(t, ds[0], CodeAwaitingClaim, "")
	// Conversation 6: its owner Bob is now an online member: it just
	// leaves the queue.
	if ds[1].ConversationID != 6 || len(ds[1].Added) != 0 || ds[1].Queued {
		t.Errorf("decision for 6: %+v", ds[1])
	}
	hasReason(t, ds[1], CodeTeamSatisfied, "")
	hasReason(t, ds[1], CodeDequeued, "The conversation left the team queue.")
	if ds[2].ConversationID != 7 || ds[2].Chosen[0] != 1 {
		t.Errorf("decision for 7: %+v", ds[2])
	}
}

func TestDrainQueueNobodyEligible(t *testing.T) {
	ts := team(1, "Support", StrategyRoundRobin, member(offline(1, "Ana"), 0))
	if ds := DrainQueue([]Conversation{queued(1, 1)}, map[int64]TeamState{1: ts}, t0, 0); len(ds) != 0 {
		t.Errorf("decisions = %+v", ds)
	}
	// Ana comes online.
	ts.Members[0].HeartbeatAt = t0
	ds := DrainQueue([]Conversation{queued(1, 1)}, map[int64]TeamState{1: ts}, t0, 0)
	if len(ds) != 1 || ds[0].Chosen[0] != 1 || ds[0].Summary() != "drain_queue, round_robin: added Ana (round robin); team Support" {
		t.Errorf("decisions = %+v", ds)
	}
}

func TestNextAssignedAt(t *testing.T) {
	now := t0.Add(1500 * time.Nanosecond)
	tests := []struct {
		name string
		last []time.Time
		want time.Time
	}{
		{"never assigned: now at microsecond precision", []time.Time{{}}, t0.Add(time.Microsecond)},
		{"earlier picks: now", []time.Time{t0.Add(-time.Minute)}, t0.Add(time.Microsecond)},
		{"a pick at the same instant: one microsecond later", []time.Time{t0.Add(time.Microsecond)}, t0.Add(2 * time.Microsecond)},
		{"a pick in the future (clock skew): after it", []time.Time{t0, t0.Add(time.Second)}, t0.Add(time.Second + time.Microsecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ts TeamState
			for i, l := range tt.last {
				ts.Members = append(ts.Members, Member{Agent: Agent{ID: int64(i + 1)}, LastAssignedAt: l})
			}
			if got := ts.NextAssignedAt(now); !got.Equal(tt.want) {
				t.Errorf("NextAssignedAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExpireQueued(t *testing.T) {
	inbox := Inbox{PhoneNumberID: "pn1", FallbackAgentID: ptr(int64(9))}
	since := t0.Add(-8 * 24 * time.Hour)
	zoe := offline(9, "Zoe")
	inactive := zoe
	inactive.Active = false
	tests := []struct {
		name     string
		conv     Conversation
		since    time.Time
		fallback *Agent
		timeout  time.Duration
		expired  bool
		wantSet  []Assignee
		code     string
		text     string
	}{
		{name: "not yet expired", conv: queued(1, 1), since: t0.Add(-6 * 24 * time.Hour), fallback: &zoe},
		{name: "custom timeout", conv: queued(1, 1), since: t0.Add(-2 * time.Hour), timeout: time.Hour, fallback: &zoe, expired: true,
			wantSet: []Assignee{{9, SourceManual}}},
		{name: "not queued", conv: openConv(), since: since, fallback: &zoe},
		{name: "moved to the fallback agent, bypassing presence", conv: queued(1, 1, Assignee{5, SourceOwner}), since: since, fallback: &zoe, expired: true,
			wantSet: []Assignee{{5, SourceOwner}, {9, SourceManual}}, code: CodeFallback, text: "Zoe, the inbox's fallback agent, takes the conversation."},
		{name: "no fallback agent: left unassigned", conv: queued(1, 1), since: since, expired: true, wantSet: []Assignee{},
			code: CodeAwaitingClaim, text: "The inbox has no fallback agent: the conversation leaves the queue and waits unassigned until an agent claims it."},
		{name: "deactivated fallback agent", conv: queued(1, 1), since: since, fallback: &inactive, expired: true, wantSet: []Assignee{}, code: CodeAwaitingClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := ExpireQueued(ExpireInput{Now: t0, Conversation: tt.conv, Inbox: inbox, QueuedSince: tt.since, Fallback: tt.fallback, Timeout: tt.timeout})
			if ok != tt.expired {
				t.Fatalf("expired = %v, want %v", ok, tt.expired)
			}
			if !ok {
				return
			}
			if d.Queued || !slices.Equal(d.Assignees, tt.wantSet) || d.Rule != "queue_expired" {
				t.Errorf("decision %+v\n%s", d, dump(d.Reasons))
			}
			if tt.code != "" {
				hasReason(t, d, tt.code, tt.text)
			}
		})
	}
	d, _ := ExpireQueued(ExpireInput{Now: t0, Conversation: queued(1, 1), Inbox: inbox, QueuedSince: since, Fallback: &zoe})
	hasReason(t, d, CodeQueueExpired, "The conversation waited 8 days in the queue (limit 7 days).")
	if len(d.Warnings) == 0 {
		t.Error("assigning an offline fallback agent should warn")
	}
}

func cloneTeam(ts TeamState) TeamState {
	ts.Members = slices.Clone(ts.Members)
	return ts
}
