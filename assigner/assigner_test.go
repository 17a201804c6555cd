package assigner

import (
	"slices"
	"testing"
	"time"
)

func TestAgentOnline(t *testing.T) {
	tests := []struct {
		name    string
		agent   Agent
		timeout time.Duration
		want    bool
	}{
		{"recent heartbeat", online(1, "Ana"), 0, true},
		{"heartbeat exactly at the default timeout", withHeartbeat(online(1, "Ana"), t0.Add(-DefaultPresenceTimeout)), 0, true},
		{"heartbeat past the default timeout", offline(1, "Ana"), 0, false},
		{"heartbeat within a longer timeout", offline(1, "Ana"), 10 * time.Minute, true},
		{"away", withPresence(online(1, "Ana"), PresenceAway), 0, false},
		{"offline status", withPresence(online(1, "Ana"), PresenceOffline), 0, false},
		{"empty status", withPresence(online(1, "Ana"), ""), 0, false},
		{"never sent a heartbeat", withHeartbeat(online(1, "Ana"), time.Time{}), 0, false},
		{"heartbeat in the future (clock skew)", withHeartbeat(online(1, "Ana"), t0.Add(time.Minute)), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.agent.Online(t0, tt.timeout); got != tt.want {
				t.Errorf("Online = %v, want %v", got, tt.want)
			}
		})
	}
}

// Rules 1 and 2: owners are added first, not gated on presence; the
// routing and the team strategy run after them.
func TestDecideOpenOwners(t *testing.T) {
	support := team(1, "Support", StrategyRoundRobin,
		member(online(1, "Ana"), 0), member(online(2, "Bob"), 1), member(offline(3, "Cid"), 2))
	toSupport := Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{TeamID: ptr(int64(1))}}
	full := online(9, "Zoe")
	full.Capacity, full.OpenCount = ptr(2), 2
	inactive := online(8, "Carl")
	inactive.Active = false

	tests := []struct {
		name       string
		inbox      Inbox
		owners     []Agent
		teams      map[int64]TeamState
		wantSet    []Assignee
		wantChosen []int64
		wantQueued bool
		wantRule   string
		reasons    [][2]string // code, text ("" = any text)
	}{
		{
			name:     "owners only, no routing",
			inbox:    Inbox{PhoneNumberID: "pn1"},
			owners:   []Agent{online(5, "Olga"), offline(6, "Pia")},
			wantSet:  []Assignee{{5, SourceOwner}, {6, SourceOwner}},
			wantRule: "default_assignees",
			reasons: [][2]string{
				{CodeOwner, "Olga was added as the contact's owner."},
				{CodeOwner, "Pia was added as the contact's owner although offline since 10:02 (no heartbeat for 7 min): owners are not gated on presence."},
			},
		},
		{
			name:     "owner not gated on capacity",
			inbox:    Inbox{PhoneNumberID: "pn1"},
			owners:   []Agent{full},
			wantSet:  []Assignee{{9, SourceOwner}},
			wantRule: "default_assignees",
		},
		{
			name:     "deactivated owner skipped with reason",
			inbox:    Inbox{PhoneNumberID: "pn1"},
			owners:   []Agent{inactive, online(5, "Olga")},
			wantSet:  []Assignee{{5, SourceOwner}},
			wantRule: "default_assignees",
			reasons:  [][2]string{{CodeInactive, "Carl owns this contact but was not added: deactivated."}},
		},
		{
			name:       "owner outside the team is kept and the team still picks a member",
			inbox:      toSupport,
			owners:     []Agent{online(5, "Olga")},
			teams:      map[int64]TeamState{1: support},
			wantSet:    []Assignee{{5, SourceOwner}, {1, SourceRoundRobin}},
			wantChosen: []int64{1},
			wantRule:   "default_assignees, inbox_default, round_robin",
		},
		{
			name:     "online owner in the team satisfies the team step",
			inbox:    toSupport,
			owners:   []Agent{online(2, "Bob")},
			teams:    map[int64]TeamState{1: support},
			wantSet:  []Assignee{{2, SourceOwner}},
			wantRule: "default_assignees, inbox_default",
			reasons: [][2]string{{CodeTeamSatisfied,
				"Bob (owner) is already assigned and is an online member of team Support, which satisfies the team assignment; nobody else was picked."}},
		},
		{
			name:       "offline owner in an online-only team does not satisfy it",
			inbox:      toSupport,
			owners:     []Agent{offline(3, "Cid")},
			teams:      map[int64]TeamState{1: support},
			wantSet:    []Assignee{{3, SourceOwner}, {1, SourceRoundRobin}},
			wantChosen: []int64{1},
			wantRule:   "default_assignees, inbox_default, round_robin",
			reasons:    [][2]string{{CodeAlreadyAssigned, "Cid was skipped: already assigned to this conversation."}},
		},
		{
			name:   "nobody online in the team: owner kept, conversation queued",
			inbox:  toSupport,
			owners: []Agent{online(5, "Olga")},
			teams: map[int64]TeamState{1: team(1, "Support", StrategyRoundRobin,
				member(offline(1, "Ana"), 0), member(withPresence(online(2, "Bob"), PresenceAway), 1))},
			wantSet:    []Assignee{{5, SourceOwner}},
			wantQueued: true,
			wantRule:   "default_assignees, inbox_default, queue",
			reasons: [][2]string{
				{CodeOffline, "Ana was skipped: offline since 10:02 (no heartbeat for 7 min)."},
				{CodeAway, "Bob was skipped: away."},
				{CodeNobodyEligible, "Nobody in team Support is eligible: 1 offline, 1 away."},
				{CodeQueued, "The conversation waits in the queue of team Support and is assigned as soon as a member becomes eligible."},
			},
		},
		{
			name:       "team with no members: queued with reason",
			inbox:      toSupport,
			teams:      map[int64]TeamState{1: team(1, "Support", StrategyRoundRobin)},
			wantSet:    []Assignee{},
			wantQueued: true,
			wantRule:   "inbox_default, queue",
			reasons:    [][2]string{{CodeNoMembers, "Nobody was picked: team Support has no members."}, {CodeQueued, ""}},
		},
		{
			name:       "everyone at capacity: team full, queued",
			inbox:      toSupport,
			teams:      map[int64]TeamState{1: team(1, "Support", StrategyRoundRobin, member(full, 0))},
			wantSet:    []Assignee{},
			wantQueued: true,
			wantRule:   "inbox_default, queue",
			reasons: [][2]string{
				{CodeAtCapacity, "Zoe was skipped: at capacity (2 open, limit 2)."},
				{CodeTeamFull, "Nobody was picked: every available member of team Support is at capacity."},
			},
		},
		{
			name:     "manual-strategy team: waits for a claim, not queued",
			inbox:    toSupport,
			teams:    map[int64]TeamState{1: team(1, "Support", StrategyManual, member(online(1, "Ana"), 0))},
			wantSet:  []Assignee{},
			wantRule: "inbox_default, manual",
			reasons:  [][2]string{{CodeAwaitingClaim, "Team Support assigns manually: the conversation waits in the team queue until an agent claims it."}},
		},
		{
			name:     "no routing, no owner: pick-and-assign",
			inbox:    Inbox{PhoneNumberID: "pn1"},
			wantSet:  []Assignee{},
			wantRule: "pick_and_assign",
			reasons:  [][2]string{{CodeAwaitingClaim, "Nobody was assigned: the conversation waits unassigned in the inbox until an agent claims it."}},
		},
		{
			name:     "unknown team: warning, no team",
			inbox:    toSupport,
			wantSet:  []Assignee{},
			wantRule: "inbox_default",
			reasons:  [][2]string{{CodeUnknownTeam, "Team #1 named by the assignment is unknown, so it was not applied."}, {CodeAwaitingClaim, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DecideOpen(OpenInput{Now: t0, Inbox: tt.inbox, Conversation: openConv(), Owners: tt.owners, Teams: tt.teams})
			if !slices.Equal(d.Assignees, tt.wantSet) {
				t.Errorf("assignees = %v, want %v\n%s", d.Assignees, tt.wantSet, dump(d.Reasons))
			}
			if !slices.Equal(d.Added, tt.wantSet) && len(tt.wantSet) > 0 {
				t.Errorf("added = %v, want %v", d.Added, tt.wantSet)
			}
			if !slices.Equal(d.Chosen, tt.wantChosen) {
				t.Errorf("chosen = %v, want %v", d.Chosen, tt.wantChosen)
			}
			if d.Queued != tt.wantQueued {
				t.Errorf("queued = %v, want %v", d.Queued, tt.wantQueued)
			}
			if d.Rule != tt.wantRule {
				t.Errorf("rule = %q, want %q", d.Rule, tt.wantRule)
			}
			for _, r := range tt.reasons {
				hasReason(t, d, r[0], r[1])
			}
			for _, a := range d.Added {
				if d.OpenCountDelta[a.AgentID] != 1 {
					t.Errorf("open count delta of %d = %d, want 1", a.AgentID, d.OpenCountDelta[a.AgentID])
				}
			}
		})
	}
}

func TestDecideOpenOwnersComeBeforeRouting(t *testing.T) {
	ts := team(1, "Support", StrategyRoundRobin, member(online(1, "Ana"), 0))
	d := DecideOpen(OpenInput{
		Now:          t0,
		Inbox:        Inbox{PhoneNumberID: "pn1", Routing: []Rule{{When: Condition{Keywords: []string{"refund"}}, Assign: Step{TeamID: ptr(int64(1))}}}},
		Conversation: openConv(),
		Owners:       []Agent{online(5, "Olga")},
		Message:      Message{Text: "I want a refund", SentAt: t0},
		Teams:        map[int64]TeamState{1: ts},
	})
	codes := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		codes[i] = r.Code
	}
	want := []string{CodeOwner, CodeRuleMatched, CodeTeamSet, CodeChosen}
	if !slices.Equal(codes, want) {
		t.Errorf("reason order = %v, want %v", codes, want)
	}
	if want := `default_assignees, routing:1 keyword "refund", round_robin: added Olga (owner), Ana (round robin); team Support`; d.Summary() != want {
		t.Errorf("summary = %q\nwant      %q", d.Summary(), want)
	}
	if *d.TeamID != 1 || d.TeamName != "Support" {
		t.Errorf("team = %v %q", *d.TeamID, d.TeamName)
	}
}

// Rule 4 via routing: a step naming users is a flow step; result = flow
// users ∪ owners.
func TestDecideOpenFlowUsersStep(t *testing.T) {
	inactive := online(4, "Dan")
	inactive.Active = false
	d := DecideOpen(OpenInput{
		Now:          t0,
		Inbox:        Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{AgentIDs: []int64{1, 2, 4, 77, 5}}},
		Conversation: openConv(),
		Owners:       []Agent{online(5, "Olga")},
		Agents:       map[int64]Agent{1: online(1, "Ana"), 2: offline(2, "Bob"), 4: inactive, 5: online(5, "Olga")},
	})
	want := []Assignee{{5, SourceOwner}, {1, SourceFlow}, {2, SourceFlow}}
	if !slices.Equal(d.Assignees, want) {
		t.Fatalf("assignees = %v, want %v\n%s", d.Assignees, want, dump(d.Reasons))
	}
	hasReason(t, d, CodeBypassedPresence, "Bob is offline since 10:02 (no heartbeat for 7 min); assigned anyway.")
	hasReason(t, d, CodeInactive, "Dan was skipped: deactivated.")
	hasReason(t, d, CodeUnknownAgent, "Agent #77 named by the assignment is unknown and was skipped.")
	hasReason(t, d, CodeAlreadyAssigned, "Olga is already assigned (owner).")
	if len(d.Warnings) != 0 {
		t.Errorf("flow steps give reasons, not warnings: %v", d.Warnings)
	}
}

// Rule 11.
func TestDecideOpenWelcome(t *testing.T) {
	tests := []struct {
		name      string
		welcome   string
		sentAt    time.Time
		opened    time.Time
		replied   bool
		staleness time.Duration
		want      bool
		code      string
		text      string
	}{
		{name: "fresh message", welcome: "Hi!", sentAt: t0.Add(-30 * time.Second), want: true, code: CodeWelcome, text: "The welcome message was queued."},
		{name: "exactly at the limit", welcome: "Hi!", sentAt: t0.Add(-DefaultWelcomeStaleness), want: true, code: CodeWelcome},
		{name: "stale message (replayed webhook)", welcome: "Hi!", sentAt: t0.Add(-3 * time.Hour), code: CodeWelcomeStale,
			text: "No welcome message: the opening message is 3 h old (limit 10 min), probably a replayed webhook."},
		{name: "custom staleness", welcome: "Hi!", sentAt: t0.Add(-3 * time.Hour), staleness: 4 * time.Hour, want: true, code: CodeWelcome},
		{name: "agent already replied", welcome: "Hi!", sentAt: t0, replied: true, code: CodeWelcomeReplied, text: "No welcome message: an agent already replied."},
		{name: "no welcome text", welcome: "  ", sentAt: t0},
		{name: "unknown send time falls back to opened at", welcome: "Hi!", opened: t0.Add(-time.Hour), code: CodeWelcomeStale},
		{name: "message from the future (clock skew)", welcome: "Hi!", sentAt: t0.Add(time.Minute), want: true, code: CodeWelcome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conv := openConv()
			conv.OpenedAt = tt.opened
			if tt.replied {
				conv.FirstReplyAt = ptr(t0.Add(-time.Minute))
			}
			d := DecideOpen(OpenInput{Now: t0, Inbox: Inbox{PhoneNumberID: "pn1", WelcomeMessage: tt.welcome},
				Conversation: conv, Message: Message{SentAt: tt.sentAt}, WelcomeStaleness: tt.staleness})
			if d.Welcome != tt.want {
				t.Errorf("welcome = %v, want %v\n%s", d.Welcome, tt.want, dump(d.Reasons))
			}
			if tt.code != "" {
				hasReason(t, d, tt.code, tt.text)
			}
			for _, r := range d.Reasons {
				if tt.code == "" && (r.Code == CodeWelcome || r.Code == CodeWelcomeStale || r.Code == CodeWelcomeReplied) {
					t.Errorf("unexpected welcome reason %v", r)
				}
			}
		})
	}
}

func TestDecideOpenResolvedConversation(t *testing.T) {
	conv := openConv()
	conv.Status = StatusResolved
	d := DecideOpen(OpenInput{Now: t0, Inbox: Inbox{PhoneNumberID: "pn1", WelcomeMessage: "Hi"}, Conversation: conv,
		Owners: []Agent{online(5, "Olga")}, Message: Message{SentAt: t0}})
	if len(d.Added) != 0 || d.Welcome {
		t.Errorf("a resolved conversation got %v welcome=%v", d.Added, d.Welcome)
	}
	hasReason(t, d, CodeNotOpen, "")
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		want string
	}{
		{"queued", Decision{Rule: "inbox_default, queue", TeamID: ptr(int64(3)), TeamName: "Billing", Queued: true, Welcome: true},
			"inbox_default, queue: queued for team Billing; welcome message queued"},
		{"nothing", Decision{Rule: "unassign"}, "unassign: no change"},
		{"names and warnings", Decision{Rule: "manual", Added: []Assignee{{1, SourceManual}}, Removed: []Assignee{{2, SourceFlow}},
			Names: map[int64]string{1: "Ana"}, Warnings: []string{"x"}},
			"manual: added Ana (manual); removed agent #2 (flow); 1 warning"},
		{"new owner", Decision{Rule: "first_responder", Added: []Assignee{{1, SourceFirstResponder}}, NewOwnerID: ptr(int64(1)), Names: map[int64]string{1: "Ana"}},
			"first_responder: added Ana (first responder); Ana becomes the contact's owner"},
		{"awaiting claim", Decision{Rule: "pick_and_assign", Reasons: []Reason{{Code: CodeAwaitingClaim}}}, "pick_and_assign: waits for a claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Summary(); got != tt.want {
				t.Errorf("Summary() = %q\nwant        %q", got, tt.want)
			}
		})
	}
}

func withHeartbeat(a Agent, at time.Time) Agent {
	a.HeartbeatAt = at
	return a
}

func withPresence(a Agent, p Presence) Agent {
	a.Presence = p
	return a
}

func TestTextFormatting(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "less than a minute"},
		{7 * time.Minute, "7 min"},
		{2 * time.Hour, "2 h"},
		{3*time.Hour + 5*time.Minute, "3 h 5 min"},
		{24 * time.Hour, "1 day"},
		{52 * time.Hour, "2 days 4 h"},
	} {
		if got := duration(tt.d); got != tt.want {
			t.Errorf("duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{t0.Add(-time.Hour), "09:09"},
		{t0.Add(-48 * time.Hour), "Feb 28 10:09"},
		{t0.AddDate(-1, 0, 0), "2025-03-02 10:09"},
		{time.Date(2026, 3, 2, 7, 0, 0, 0, time.FixedZone("BRT", -3*3600)), "10:00"},
	} {
		if got := when(tt.at, t0); got != tt.want {
			t.Errorf("when(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
	if got := agentName(Agent{ID: 4}); got != "agent #4" {
		t.Errorf("agentName = %q", got)
	}
	if got := capital("team #3"); got != "Team #3" {
		t.Errorf("capital = %q", got)
	}
}

func TestMemberIDs(t *testing.T) {
	ts := TeamState{Members: []Member{
		{Agent: Agent{ID: 3}, Position: 1}, {Agent: Agent{ID: 9}, Position: 0}, {Agent: Agent{ID: 2}, Position: 1},
	}}
	if got := ts.MemberIDs(); !slices.Equal(got, []int64{9, 2, 3}) {
		t.Errorf("MemberIDs = %v", got)
	}
	if _, ok := ts.Member(5); ok {
		t.Error("Member(5) found")
	}
}

// The whole explanation of a typical decision, as an admin reads it.
func TestDecideOpenExplanation(t *testing.T) {
	ts := team(1, "Support", StrategyRoundRobin, member(online(1, "Ana"), 0), member(offline(2, "Bob"), 1))
	d := DecideOpen(OpenInput{
		Now:          t0,
		Inbox:        Inbox{PhoneNumberID: "pn1", WelcomeMessage: "Hi", Routing: []Rule{{When: Condition{Keywords: []string{"help"}}, Assign: Step{TeamID: ptr(int64(1))}}}},
		Conversation: openConv(),
		Owners:       []Agent{offline(5, "Olga")},
		Message:      Message{Text: "Help!", SentAt: t0},
		Teams:        map[int64]TeamState{1: ts},
	})
	want := []string{
		"Olga was added as the contact's owner although offline since 10:02 (no heartbeat for 7 min): owners are not gated on presence.",
		`Routing rule 1 matched: the message contains "help".`,
		"The conversation now belongs to team Support.",
		"Bob was skipped: offline since 10:02 (no heartbeat for 7 min).",
		"Ana was chosen by round robin in team Support: the only eligible member.",
		"The welcome message was queued.",
	}
	var got []string
	for _, r := range d.Reasons {
		got = append(got, r.Text)
	}
	if !slices.Equal(got, want) {
		t.Errorf("reasons:\n%s", dump(d.Reasons))
	}
	if s := d.Summary(); s != `default_assignees, routing:1 keyword "help", round_robin: added Olga (owner), Ana (round robin); welcome message queued; team Support` {
		t.Errorf("summary = %q", s)
	}
	if !d.ChosenAt.Equal(t0) || !slices.Equal(d.Chosen, []int64{1}) {
		t.Errorf("chosen %v at %v", d.Chosen, d.ChosenAt)
	}
	if d.Names[1] != "Ana" || d.Names[5] != "Olga" {
		t.Errorf("names = %v", d.Names)
	}
}
