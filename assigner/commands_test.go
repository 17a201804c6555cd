package assigner

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Rule 3.
func TestDecideManual(t *testing.T) {
	full := online(3, "Cid")
	full.Capacity, full.OpenCount = ptr(5), 5
	inactive := online(4, "Dan")
	inactive.Active = false
	agents := map[int64]Agent{1: online(1, "Ana"), 2: offline(2, "Bob"), 3: full, 4: inactive, 5: online(5, "Olga"), 6: online(6, "Fay")}
	support := team(10, "Support", StrategyRoundRobin, member(online(1, "Ana"), 0), member(online(6, "Fay"), 1), member(full, 2))
	billing := team(20, "Billing", StrategyLeastOpen, member(withOpen(online(1, "Ana"), 4), 0), member(withOpen(online(6, "Fay"), 1), 1))
	teams := map[int64]TeamState{10: support, 20: billing}
	current := []Assignee{{5, SourceOwner}, {6, SourceRoundRobin}, {2, SourceFlow}}

	tests := []struct {
		name     string
		conv     Conversation
		in       ManualInput
		wantErr  error
		wantSet  []Assignee
		added    []Assignee
		removed  []Assignee
		updated  []Assignee
		team     *int64
		queued   bool
		warnings []string
		reasons  [][2]string
	}{
		{
			name:     "add an offline agent and a full agent: assigned with warnings",
			conv:     openConv(),
			in:       ManualInput{AgentIDs: []int64{2, 3}, By: "Rita"},
			wantSet:  []Assignee{{2, SourceManual}, {3, SourceManual}},
			added:    []Assignee{{2, SourceManual}, {3, SourceManual}},
			warnings: []string{"Bob is offline since 10:02 (no heartbeat for 7 min); assigned anyway.", "Cid is at capacity (5 open, limit 5); assigned anyway."},
			reasons:  [][2]string{{CodeAdded, "Bob was assigned manually by Rita."}, {CodeBypassedPresence, ""}, {CodeOverCapacityWarning, ""}},
		},
		{
			name:    "add keeps everyone; an automatic assignee named becomes manual",
			conv:    openConv(current...),
			in:      ManualInput{AgentIDs: []int64{6, 1}, Mode: ModeAdd},
			wantSet: []Assignee{{5, SourceOwner}, {6, SourceManual}, {2, SourceFlow}, {1, SourceManual}},
			added:   []Assignee{{1, SourceManual}},
			updated: []Assignee{{6, SourceManual}},
			reasons: [][2]string{{CodeAdded, "Fay was already assigned by round robin; the assignment is now manual, so automation won't remove it."}},
		},
		{
			name:    "replace keeps owners and removes everyone else",
			conv:    openConv(current...),
			in:      ManualInput{AgentIDs: []int64{1}, Mode: ModeReplace, By: "Rita"},
			wantSet: []Assignee{{5, SourceOwner}, {1, SourceManual}},
			added:   []Assignee{{1, SourceManual}},
			removed: []Assignee{{6, SourceRoundRobin}, {2, SourceFlow}},
			reasons: [][2]string{
				{CodeKept, "Olga stays assigned as the contact's owner: replacing keeps owners, only an unassign removes them."},
				{CodeRemoved, "Fay (round robin) was removed: replaced by a manual assignment by Rita."},
			},
		},
		{
			name:    "replace naming someone already assigned keeps them",
			conv:    openConv(current...),
			in:      ManualInput{AgentIDs: []int64{2}, Mode: ModeReplace},
			wantSet: []Assignee{{5, SourceOwner}, {2, SourceManual}},
			removed: []Assignee{{6, SourceRoundRobin}},
			updated: []Assignee{{2, SourceManual}},
		},
		{
			name:    "team only runs the team's strategy",
			conv:    openConv(),
			in:      ManualInput{TeamID: ptr(int64(20))},
			wantSet: []Assignee{{6, SourceLeastOpen}},
			added:   []Assignee{{6, SourceLeastOpen}},
			team:    ptr(int64(20)),
			reasons: [][2]string{{CodeTeamSet, "The conversation now belongs to team Billing."}, {CodeChosen, ""}},
		},
		{
			name:    "replace with a team only: others removed, then the strategy picks",
			conv:    openConv(current...),
			in:      ManualInput{TeamID: ptr(int64(10)), Mode: ModeReplace},
			wantSet: []Assignee{{5, SourceOwner}, {1, SourceRoundRobin}},
			added:   []Assignee{{1, SourceRoundRobin}},
			removed: []Assignee{{6, SourceRoundRobin}, {2, SourceFlow}},
			team:    ptr(int64(10)),
		},
		{
			name:    "team and members of it",
			conv:    openConv(),
			in:      ManualInput{TeamID: ptr(int64(10)), AgentIDs: []int64{6}},
			wantSet: []Assignee{{6, SourceManual}},
			added:   []Assignee{{6, SourceManual}},
			team:    ptr(int64(10)),
		},
		{
			name:     "team limit counts in the capacity warning",
			conv:     openConv(),
			in:       ManualInput{TeamID: ptr(int64(10)), AgentIDs: []int64{1}, Teams: map[int64]TeamState{10: withMaxOpen(support, 0)}},
			wantSet:  []Assignee{{1, SourceManual}},
			added:    []Assignee{{1, SourceManual}},
			team:     ptr(int64(10)),
			warnings: []string{"Ana is at capacity (0 open, limit 0 per member in team Support); assigned anyway."},
		},
		{
			name:    "the team limit applies only to its members",
			conv:    Conversation{ID: 1, Status: StatusOpen, TeamID: ptr(int64(10))},
			in:      ManualInput{AgentIDs: []int64{5}, Teams: map[int64]TeamState{10: withMaxOpen(support, 0)}},
			wantSet: []Assignee{{5, SourceManual}},
			added:   []Assignee{{5, SourceManual}},
			team:    ptr(int64(10)),
		},
		{
			name:    "a manual assignment takes the conversation out of the queue",
			conv:    Conversation{ID: 1, Status: StatusOpen, TeamID: ptr(int64(10)), Queued: true},
			in:      ManualInput{AgentIDs: []int64{1}},
			wantSet: []Assignee{{1, SourceManual}},
			added:   []Assignee{{1, SourceManual}},
			team:    ptr(int64(10)),
			reasons: [][2]string{{CodeDequeued, "The conversation left the team queue: it was assigned manually."}},
		},
		{
			name:    "team only with nobody eligible: queued",
			conv:    openConv(),
			in:      ManualInput{TeamID: ptr(int64(30)), Teams: map[int64]TeamState{30: team(30, "Night", StrategyRoundRobin, member(offline(2, "Bob"), 0))}},
			wantSet: []Assignee{},
			team:    ptr(int64(30)),
			queued:  true,
		},
		{name: "agent not in the named team", conv: openConv(), in: ManualInput{TeamID: ptr(int64(20)), AgentIDs: []int64{2}}, wantErr: ErrNotMember},
		{name: "unknown agent", conv: openConv(), in: ManualInput{AgentIDs: []int64{99}}, wantErr: ErrInvalid},
		{name: "deactivated agent", conv: openConv(), in: ManualInput{AgentIDs: []int64{4}}, wantErr: ErrInvalid},
		{name: "unknown team", conv: openConv(), in: ManualInput{TeamID: ptr(int64(99))}, wantErr: ErrInvalid},
		{name: "nothing to assign", conv: openConv(), in: ManualInput{}, wantErr: ErrInvalid},
		{name: "bad mode", conv: openConv(), in: ManualInput{AgentIDs: []int64{1}, Mode: "merge"}, wantErr: ErrInvalid},
		{name: "resolved conversation", conv: Conversation{Status: StatusResolved}, in: ManualInput{AgentIDs: []int64{1}}, wantErr: ErrResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Now, in.Conversation = t0, tt.conv
			if in.Agents == nil {
				in.Agents = agents
			}
			if in.Teams == nil {
				in.Teams = teams
			}
			d, err := DecideManual(in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want []Assignee) {
				if !slices.Equal(got, want) {
					t.Errorf("%s = %v, want %v\n%s", what, got, want, dump(d.Reasons))
				}
			}
			check("assignees", d.Assignees, tt.wantSet)
			check("added", d.Added, tt.added)
			check("removed", d.Removed, tt.removed)
			check("updated", d.Updated, tt.updated)
			if !reflect.DeepEqual(d.TeamID, tt.team) {
				t.Errorf("team = %v, want %v", d.TeamID, tt.team)
			}
			if d.Queued != tt.queued {
				t.Errorf("queued = %v", d.Queued)
			}
			if !slices.Equal(d.Warnings, tt.warnings) {
				t.Errorf("warnings = %q, want %q", d.Warnings, tt.warnings)
			}
			for _, r := range tt.reasons {
				hasReason(t, d, r[0], r[1])
			}
			if !strings.HasPrefix(d.Rule, "manual") {
				t.Errorf("rule = %q", d.Rule)
			}
			wantDelta := map[int64]int{}
			for _, a := range tt.added {
				wantDelta[a.AgentID]++
			}
			for _, a := range tt.removed {
				wantDelta[a.AgentID]--
			}
			if len(wantDelta) == 0 {
				wantDelta = nil
			}
			if !maps.Equal(d.OpenCountDelta, wantDelta) {
				t.Errorf("open count delta = %v, want %v", d.OpenCountDelta, wantDelta)
			}
		})
	}
}

// Rule 3: unassign removes anyone, owners included.
func TestDecideUnassign(t *testing.T) {
	conv := openConv(Assignee{5, SourceOwner}, Assignee{1, SourceManual})
	d, err := DecideUnassign(conv, Agent{ID: 5, Name: "Olga"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Assignees, []Assignee{{1, SourceManual}}) || !slices.Equal(d.Removed, []Assignee{{5, SourceOwner}}) {
		t.Errorf("assignees %v removed %v", d.Assignees, d.Removed)
	}
	hasReason(t, d, CodeRemoved, "Olga (owner) was unassigned manually.")
	if !maps.Equal(d.OpenCountDelta, map[int64]int{5: -1}) {
		t.Errorf("delta = %v", d.OpenCountDelta)
	}
	if d.Summary() != "unassign: removed Olga (owner)" {
		t.Errorf("summary = %q", d.Summary())
	}

	d, err = DecideUnassign(d.apply(conv), Agent{ID: 1, Name: "Ana"})
	if err != nil || len(d.Assignees) != 0 {
		t.Fatalf("%v %v", d.Assignees, err)
	}
	hasReason(t, d, CodeAwaitingClaim, "Nobody is assigned any more: the conversation waits until an agent claims it.")

	d, err = DecideUnassign(conv, Agent{ID: 9})
	if err != nil || len(d.Removed) != 0 || d.OpenCountDelta != nil {
		t.Errorf("unassigning a non-assignee: %v %v", d, err)
	}
	hasReason(t, d, CodeNotAssigned, "agent #9 is not assigned to this conversation; nothing changed.")

	resolved := conv
	resolved.Status = StatusResolved
	d, _ = DecideUnassign(resolved, Agent{ID: 1})
	if len(d.Removed) != 1 || d.OpenCountDelta != nil {
		t.Errorf("resolved: removed %v delta %v", d.Removed, d.OpenCountDelta)
	}

	if _, err := DecideUnassign(conv, Agent{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("err = %v", err)
	}
}

// Rule 4.
func TestDecideFlowStep(t *testing.T) {
	sales := team(10, "Sales", StrategyRoundRobin, member(online(1, "Ana"), 0), member(online(2, "Bob"), 1), member(offline(5, "Olga"), 2))
	agents := map[int64]Agent{1: online(1, "Ana"), 2: online(2, "Bob"), 3: offline(3, "Cid"), 7: online(7, "Gil")}
	tests := []struct {
		name    string
		conv    Conversation
		step    Step
		wantSet []Assignee
		removed []Assignee
		chosen  []int64
		queued  bool
		reasons [][2]string
	}{
		{
			name:    "users step keeps owners and manual assignees",
			conv:    openConv(Assignee{5, SourceOwner}, Assignee{7, SourceManual}),
			step:    Step{AgentIDs: []int64{1, 3}},
			wantSet: []Assignee{{5, SourceOwner}, {7, SourceManual}, {1, SourceFlow}, {3, SourceFlow}},
			reasons: [][2]string{{CodeAdded, "Ana was added by the automation step."}, {CodeBypassedPresence, "Cid is offline since 10:02 (no heartbeat for 7 min); assigned anyway."}},
		},
		{
			name: "later step replaces earlier automatic assignees only",
			conv: openConv(Assignee{5, SourceOwner}, Assignee{1, SourceFlow}, Assignee{2, SourceRoundRobin}, Assignee{3, SourceLeastOpen},
				Assignee{7, SourceManual}, Assignee{8, SourceClaim}, Assignee{9, SourceFirstResponder}),
			step:    Step{AgentIDs: []int64{2}},
			wantSet: []Assignee{{5, SourceOwner}, {2, SourceRoundRobin}, {7, SourceManual}, {8, SourceClaim}, {9, SourceFirstResponder}},
			removed: []Assignee{{1, SourceFlow}, {3, SourceLeastOpen}},
			reasons: [][2]string{{CodeRemoved, "Ana (flow) was removed: a later automation step replaces earlier automatic assignments."}},
		},
		{
			name:    "team step: an eligible owner in the team satisfies it",
			conv:    openConv(Assignee{2, SourceOwner}),
			step:    Step{TeamID: ptr(int64(10))},
			wantSet: []Assignee{{2, SourceOwner}},
			reasons: [][2]string{{CodeTeamSatisfied, ""}},
		},
		{
			name:    "team step: an offline owner in the team does not; people already assigned are skipped",
			conv:    openConv(Assignee{5, SourceOwner}),
			step:    Step{TeamID: ptr(int64(10))},
			wantSet: []Assignee{{5, SourceOwner}, {1, SourceRoundRobin}},
			chosen:  []int64{1},
			reasons: [][2]string{{CodeAlreadyAssigned, "Olga was skipped: already assigned to this conversation."}},
		},
		{
			name:    "team step replaces an earlier automatic pick, then picks again",
			conv:    openConv(Assignee{5, SourceOwner}, Assignee{7, SourceFlow}),
			step:    Step{TeamID: ptr(int64(10))},
			wantSet: []Assignee{{5, SourceOwner}, {1, SourceRoundRobin}},
			removed: []Assignee{{7, SourceFlow}},
			chosen:  []int64{1},
		},
		{
			name:    "team step with users: a named user in the team satisfies it",
			conv:    openConv(),
			step:    Step{TeamID: ptr(int64(10)), AgentIDs: []int64{2}},
			wantSet: []Assignee{{2, SourceFlow}},
			reasons: [][2]string{{CodeTeamSatisfied, "Bob (flow) is already assigned and is an online member of team Sales, which satisfies the team assignment; nobody else was picked."}},
		},
		{
			name:    "team step with nobody eligible: queued, owners kept",
			conv:    openConv(Assignee{5, SourceOwner}),
			step:    Step{TeamID: ptr(int64(20))},
			wantSet: []Assignee{{5, SourceOwner}},
			queued:  true,
		},
	}
	teams := map[int64]TeamState{10: sales, 20: team(20, "Night", StrategyLeastOpen, member(offline(3, "Cid"), 0))}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideFlowStep(FlowInput{Now: t0, Conversation: tt.conv, Step: tt.step, Label: "flow:intake/2", Agents: agents, Teams: teams})
			if !slices.Equal(d.Assignees, tt.wantSet) {
				t.Errorf("assignees = %v, want %v\n%s", d.Assignees, tt.wantSet, dump(d.Reasons))
			}
			if !slices.Equal(d.Removed, tt.removed) {
				t.Errorf("removed = %v, want %v", d.Removed, tt.removed)
			}
			if !slices.Equal(d.Chosen, tt.chosen) {
				t.Errorf("chosen = %v, want %v", d.Chosen, tt.chosen)
			}
			if d.Queued != tt.queued {
				t.Errorf("queued = %v", d.Queued)
			}
			if !strings.HasPrefix(d.Rule, "flow:intake/2") {
				t.Errorf("rule = %q", d.Rule)
			}
			for _, r := range tt.reasons {
				hasReason(t, d, r[0], r[1])
			}
			for _, a := range tt.conv.Assignees {
				if !a.Source.Automatic() && !d.apply(tt.conv).Assigned(a.AgentID) {
					t.Errorf("automation removed %v", a)
				}
			}
		})
	}
}

func TestDecideFlowStepResolved(t *testing.T) {
	conv := openConv(Assignee{1, SourceFlow})
	conv.Status = StatusResolved
	d := DecideFlowStep(FlowInput{Now: t0, Conversation: conv, Step: Step{AgentIDs: []int64{2}}, Agents: map[int64]Agent{2: online(2, "Bob")}})
	if len(d.Added)+len(d.Removed) != 0 || d.Rule != "flow" {
		t.Errorf("resolved conversation changed: %+v", d)
	}
}

// Rule 5.
func TestDecideFirstResponder(t *testing.T) {
	on := Inbox{PhoneNumberID: "pn1", FirstResponderBecomesOwner: true}
	replied := ptr(t0.Add(-time.Hour))
	tests := []struct {
		name      string
		inbox     Inbox
		conv      Conversation
		owners    []int64
		bySystem  bool
		newOwner  *int64
		added     []Assignee
		firstSet  bool
		code      string
		text      string
		wantQueue bool
	}{
		{name: "first reply, contact without owner", inbox: on, conv: openConv(),
			newOwner: ptr(int64(1)), added: []Assignee{{1, SourceFirstResponder}}, firstSet: true,
			code: CodeNewOwner, text: "Ana sent the first reply and becomes the contact's owner."},
		{name: "first reply, contact has an owner: no new owner, still added", inbox: on, conv: openConv(Assignee{5, SourceOwner}), owners: []int64{5},
			added: []Assignee{{1, SourceFirstResponder}}, firstSet: true,
			code: CodeHasOwner, text: "Ana sent the first reply; the contact already has an owner, so ownership is unchanged."},
		{name: "first reply by someone already assigned", inbox: on, conv: openConv(Assignee{1, SourceClaim}),
			newOwner: ptr(int64(1)), firstSet: true, code: CodeAlreadyAssigned},
		{name: "second reply changes nothing", inbox: on, conv: Conversation{ID: 1, Status: StatusOpen, FirstReplyAt: replied},
			code: CodeNotFirstReply, text: "Ana replied, but an agent first replied at 09:09."},
		{name: "system message never counts", inbox: on, conv: openConv(), bySystem: true, code: CodeSystemReply},
		{name: "setting off: only the first reply time", inbox: Inbox{PhoneNumberID: "pn1"}, conv: openConv(), firstSet: true, code: CodeSettingOff},
		{name: "first responder leaves the queue", inbox: on, conv: Conversation{ID: 1, Status: StatusOpen, TeamID: ptr(int64(3)), Queued: true},
			newOwner: ptr(int64(1)), added: []Assignee{{1, SourceFirstResponder}}, firstSet: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideFirstResponder(FirstResponderInput{Now: t0, Inbox: tt.inbox, Conversation: tt.conv, Agent: online(1, "Ana"),
				ContactOwnerIDs: tt.owners, BySystem: tt.bySystem})
			if !reflect.DeepEqual(d.NewOwnerID, tt.newOwner) {
				t.Errorf("new owner = %v, want %v", d.NewOwnerID, tt.newOwner)
			}
			if !slices.Equal(d.Added, tt.added) {
				t.Errorf("added = %v, want %v\n%s", d.Added, tt.added, dump(d.Reasons))
			}
			if (d.FirstReplyAt != nil) != tt.firstSet || (tt.firstSet && !d.FirstReplyAt.Equal(t0)) {
				t.Errorf("first reply at = %v", d.FirstReplyAt)
			}
			if d.Queued != tt.wantQueue {
				t.Errorf("queued = %v", d.Queued)
			}
			if tt.code != "" {
				hasReason(t, d, tt.code, tt.text)
			}
		})
	}
}

// Only the first accepted reply counts, in partition order: replaying the
// replies of two agents through the store's state gives the first one.
func TestFirstResponderSequence(t *testing.T) {
	inbox := Inbox{PhoneNumberID: "pn1", FirstResponderBecomesOwner: true}
	conv := openConv()
	var owners []int64
	for _, a := range []Agent{online(2, "Bob"), online(1, "Ana"), online(2, "Bob")} {
		d := DecideFirstResponder(FirstResponderInput{Now: t0, Inbox: inbox, Conversation: conv, Agent: a, ContactOwnerIDs: owners})
		conv = d.apply(conv)
		if d.NewOwnerID != nil {
			owners = append(owners, *d.NewOwnerID)
		}
	}
	if !slices.Equal(owners, []int64{2}) || !slices.Equal(conv.Assignees, []Assignee{{2, SourceFirstResponder}}) {
		t.Errorf("owners %v assignees %v", owners, conv.Assignees)
	}
}

// Rule 6.
func TestDecideClaim(t *testing.T) {
	support := team(10, "Support", StrategyManual, member(online(1, "Ana"), 0))
	teams := map[int64]TeamState{10: support}
	admin := online(9, "Root")
	admin.Role = RoleAdmin
	inactive := online(1, "Ana")
	inactive.Active = false
	inTeam := func(c Conversation) Conversation { c.TeamID, c.Queued = ptr(int64(10)), true; return c }
	tests := []struct {
		name    string
		conv    Conversation
		agent   Agent
		wantErr error
		wantSet []Assignee
		noop    bool
	}{
		{name: "unassigned conversation", conv: openConv(), agent: online(1, "Ana"), wantSet: []Assignee{{1, SourceClaim}}},
		{name: "only owners assigned: claimable, owners kept", conv: openConv(Assignee{5, SourceOwner}), agent: online(1, "Ana"),
			wantSet: []Assignee{{5, SourceOwner}, {1, SourceClaim}}},
		{name: "team member claims from the team queue", conv: inTeam(openConv()), agent: online(1, "Ana"), wantSet: []Assignee{{1, SourceClaim}}},
		{name: "admin outside the team may claim", conv: inTeam(openConv()), agent: admin, wantSet: []Assignee{{9, SourceClaim}}},
		{name: "claim after assignment", conv: openConv(Assignee{2, SourceRoundRobin}), agent: online(1, "Ana"), wantErr: ErrAlreadyClaimed},
		{name: "claim after another claim", conv: openConv(Assignee{2, SourceClaim}), agent: online(1, "Ana"), wantErr: ErrAlreadyClaimed},
		{name: "same agent again is idempotent", conv: openConv(Assignee{1, SourceClaim}), agent: online(1, "Ana"), wantSet: []Assignee{{1, SourceClaim}}, noop: true},
		{name: "not a member of the team", conv: inTeam(openConv()), agent: online(2, "Bob"), wantErr: ErrNotMember},
		{name: "deactivated agent", conv: openConv(), agent: inactive, wantErr: ErrInvalid},
		{name: "resolved", conv: Conversation{Status: StatusResolved}, agent: online(1, "Ana"), wantErr: ErrResolved},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := DecideClaim(ClaimInput{Now: t0, Conversation: tt.conv, Agent: tt.agent, Teams: teams})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.Assignees, tt.wantSet) || d.Queued {
				t.Errorf("assignees = %v queued=%v, want %v", d.Assignees, d.Queued, tt.wantSet)
			}
			if tt.noop != (len(d.Added) == 0) {
				t.Errorf("added = %v", d.Added)
			}
			if !tt.noop {
				hasReason(t, d, CodeClaimed, agentName(tt.agent)+" claimed the conversation.")
			}
		})
	}
}

// Concurrent claims: the first in partition order wins, the rest get 409.
func TestClaimRace(t *testing.T) {
	conv := openConv()
	var errs []error
	for _, a := range []Agent{online(1, "Ana"), online(2, "Bob"), online(3, "Cid")} {
		d, err := DecideClaim(ClaimInput{Now: t0, Conversation: conv, Agent: a})
		errs = append(errs, err)
		if err == nil {
			conv = d.apply(conv)
		}
	}
	if errs[0] != nil || !errors.Is(errs[1], ErrAlreadyClaimed) || !errors.Is(errs[2], ErrAlreadyClaimed) {
		t.Errorf("errs = %v", errs)
	}
	if !slices.Equal(conv.Assignees, []Assignee{{1, SourceClaim}}) {
		t.Errorf("assignees = %v", conv.Assignees)
	}
}

func TestDecideResolve(t *testing.T) {
	conv := openConv(Assignee{1, SourceOwner}, Assignee{2, SourceRoundRobin})
	conv.TeamID, conv.Queued = ptr(int64(3)), true
	d := DecideResolve(conv)
	if !d.Resolved || d.Queued || !slices.Equal(d.Assignees, conv.Assignees) || len(d.Removed) != 0 {
		t.Errorf("decision = %+v", d)
	}
	if !maps.Equal(d.OpenCountDelta, map[int64]int{1: -1, 2: -1}) {
		t.Errorf("delta = %v", d.OpenCountDelta)
	}
	hasReason(t, d, CodeResolved, "The conversation was resolved; it no longer counts toward the open conversations of its 2 assignees.")
	if d.Summary() != "resolve: resolved; team #3" {
		t.Errorf("summary = %q", d.Summary())
	}
	again := DecideResolve(d.apply(conv))
	if again.Resolved || again.OpenCountDelta != nil {
		t.Errorf("resolving twice: %+v", again)
	}
}

// apply is what the store does with a decision, for tests that chain
// decisions.
func (d Decision) apply(c Conversation) Conversation {
	c.Assignees = slices.Clone(d.Assignees)
	c.TeamID, c.Queued = d.TeamID, d.Queued
	if d.Resolved {
		c.Status = StatusResolved
	}
	if d.FirstReplyAt != nil {
		c.FirstReplyAt = d.FirstReplyAt
	}
	return c
}

func withMaxOpen(ts TeamState, n int) TeamState {
	ts.Team.MaxOpen = &n
	return ts
}
