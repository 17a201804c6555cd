package assigner

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // business-hours tests must not depend on the machine's zoneinfo
)

// Rule 7: ordered routing rules, first match wins.
func TestRoute(t *testing.T) {
	team := func(id int64) Step { return Step{TeamID: ptr(id)} }
	saoPaulo := &Hours{TimeZone: "America/Sao_Paulo", Days: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, From: 9 * 60, To: 18 * 60}
	night := &Hours{TimeZone: "Europe/Lisbon", Days: []time.Weekday{time.Monday}, From: 22 * 60, To: 6 * 60}
	// t0 is Monday 10:09 UTC = 07:09 in São Paulo (UTC-3) = 10:09 in Lisbon (WET).
	tests := []struct {
		name      string
		rules     []Rule
		def       *Step
		msg       Message
		now       time.Time
		wantIndex int
		wantLabel string
		wantText  string // text of the rule_matched / no_rule_matched reason
	}{
		{
			name:      "keyword, case-insensitive",
			rules:     []Rule{{When: Condition{Keywords: []string{"refund"}}, Assign: team(1)}},
			msg:       Message{Text: "I want a REFUND!"},
			wantIndex: 1, wantLabel: `routing:1 keyword "refund"`,
			wantText: `Routing rule 1 matched: the message contains "refund".`,
		},
		{
			name:  "keyword is a whole word, not a substring",
			rules: []Rule{{When: Condition{Keywords: []string{"refund"}}, Assign: team(1)}},
			msg:   Message{Text: "refunds and nonrefundable"},
		},
		{
			name:      "keyword phrase, second alternative",
			rules:     []Rule{{When: Condition{Keywords: []string{"money back", "reembolso"}}, Assign: team(1)}},
			msg:       Message{Text: "Quero um reembolso."},
			wantIndex: 1, wantLabel: `routing:1 keyword "reembolso"`,
		},
		{
			name:      "keyword with a symbol edge",
			rules:     []Rule{{When: Condition{Keywords: []string{"#vip"}}, Assign: team(1)}},
			msg:       Message{Text: "hello#vip"},
			wantIndex: 1, wantLabel: `routing:1 keyword "#vip"`,
		},
		{
			name:      "keyword in non-latin text",
			rules:     []Rule{{When: Condition{Keywords: []string{"возврат"}}, Assign: team(1)}},
			msg:       Message{Text: "Нужен ВОЗВРАТ денег"},
			wantIndex: 1, wantLabel: `routing:1 keyword "возврат"`,
		},
		{
			name: "first match wins",
			rules: []Rule{
				{When: Condition{Keywords: []string{"invoice"}}, Assign: team(1)},
				{When: Condition{Keywords: []string{"refund"}}, Assign: team(2)},
				{When: Condition{Regex: `refund`}, Assign: team(3)},
			},
			msg:       Message{Text: "refund please"},
			wantIndex: 2, wantLabel: `routing:2 keyword "refund"`,
		},
		{
			name:      "regex",
			rules:     []Rule{{When: Condition{Regex: `(?i)^order\s+#?\d{4,}`}, Assign: team(1)}},
			msg:       Message{Text: "Order #12345 is late"},
			wantIndex: 1, wantLabel: `routing:1 regex "(?i)^order\\s+#?\\d{4,}"`,
			wantText: `Routing rule 1 matched: the message matches the pattern "(?i)^order\\s+#?\\d{4,}".`,
		},
		{
			name:  "regex no match",
			rules: []Rule{{When: Condition{Regex: `^order \d+`}, Assign: team(1)}},
			msg:   Message{Text: "my order 12"},
		},
		{
			name:      "reply id",
			rules:     []Rule{{When: Condition{ReplyID: "talk_sales"}, Assign: team(1)}},
			msg:       Message{Text: "Talk to sales", ReplyID: "talk_sales"},
			wantIndex: 1, wantLabel: `routing:1 reply_id "talk_sales"`,
			wantText: `Routing rule 1 matched: the contact chose the reply "talk_sales".`,
		},
		{
			name:  "reply id is exact",
			rules: []Rule{{When: Condition{ReplyID: "talk_sales"}, Assign: team(1)}},
			msg:   Message{ReplyID: "talk_sales_2"},
		},
		{
			name:      "any ad referral",
			rules:     []Rule{{When: Condition{Referral: true}, Assign: team(1)}},
			msg:       Message{HasReferral: true},
			wantIndex: 1, wantLabel: "routing:1 referral",
		},
		{
			name:      "referral source id",
			rules:     []Rule{{When: Condition{ReferralSourceID: "ad-2"}, Assign: team(2)}, {When: Condition{Referral: true}, Assign: team(1)}},
			msg:       Message{HasReferral: true, ReferralSourceID: "ad-1"},
			wantIndex: 2, wantLabel: "routing:2 referral",
		},
		{
			name:  "no referral",
			rules: []Rule{{When: Condition{Referral: true}, Assign: team(1)}},
			msg:   Message{Text: "hi"},
		},
		{
			name: "country prefix",
			rules: []Rule{
				{When: Condition{CountryPrefixes: []string{"351"}}, Assign: team(1)},
				{When: Condition{CountryPrefixes: []string{"+54", "55"}}, Assign: team(2)},
			},
			msg:       Message{ContactWaID: "5511987654321"},
			wantIndex: 2, wantLabel: "routing:2 country +55",
			wantText: "Routing rule 2 matched: the contact's number starts with +55.",
		},
		{
			name:  "country prefix without wa_id (user id only) never matches",
			rules: []Rule{{When: Condition{CountryPrefixes: []string{"55"}}, Assign: team(1)}},
			msg:   Message{ContactWaID: ""},
		},
		{
			name:  "business hours in a time zone: 07:09 in São Paulo is before opening",
			rules: []Rule{{When: Condition{BusinessHours: saoPaulo}, Assign: team(1)}},
			now:   t0,
		},
		{
			name:      "business hours in a time zone: 13:00 UTC is 10:00 in São Paulo",
			rules:     []Rule{{When: Condition{BusinessHours: saoPaulo}, Assign: team(1)}},
			now:       time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC),
			wantIndex: 1, wantLabel: "routing:1 business_hours",
			wantText: "Routing rule 1 matched: it is within business hours (Mon,Tue,Wed,Thu,Fri 09:00–18:00 America/Sao_Paulo).",
		},
		{
			name:      "outside business hours",
			rules:     []Rule{{When: Condition{BusinessHours: withOutside(*saoPaulo)}, Assign: team(1)}},
			now:       t0,
			wantIndex: 1, wantLabel: "routing:1 outside_business_hours",
		},
		{
			name:  "Saturday in São Paulo is outside weekday hours",
			rules: []Rule{{When: Condition{BusinessHours: saoPaulo}, Assign: team(1)}},
			now:   time.Date(2026, 3, 7, 13, 0, 0, 0, time.UTC),
		},
		{
			name:      "window spanning midnight: Tuesday 03:00 belongs to Monday's night",
			rules:     []Rule{{When: Condition{BusinessHours: night}, Assign: team(1)}},
			now:       time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC),
			wantIndex: 1, wantLabel: "routing:1 business_hours",
		},
		{
			name:  "window spanning midnight: Monday 03:00 belongs to Sunday, not in Days",
			rules: []Rule{{When: Condition{BusinessHours: night}, Assign: team(1)}},
			now:   time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC),
		},
		{
			name:      "all fields must match",
			rules:     []Rule{{When: Condition{Keywords: []string{"refund"}, CountryPrefixes: []string{"55"}}, Assign: team(1)}},
			msg:       Message{Text: "refund", ContactWaID: "5511"},
			wantIndex: 1, wantLabel: `routing:1 keyword "refund" and country +55`,
			wantText: `Routing rule 1 matched: the message contains "refund" and the contact's number starts with +55.`,
		},
		{
			name:  "one field not matching fails the rule",
			rules: []Rule{{When: Condition{Keywords: []string{"refund"}, CountryPrefixes: []string{"55"}}, Assign: team(1)}},
			msg:   Message{Text: "refund", ContactWaID: "351"},
		},
		{
			name:      "no match: inbox default",
			rules:     []Rule{{When: Condition{Keywords: []string{"refund"}}, Assign: team(1)}},
			def:       ptr(team(9)),
			msg:       Message{Text: "hello"},
			wantLabel: "inbox_default",
			wantText:  "No routing rule matched, so the inbox default assignment applies.",
		},
		{
			name:     "no match, no default",
			rules:    []Rule{{When: Condition{Keywords: []string{"refund"}}, Assign: team(1)}},
			msg:      Message{Text: "hello"},
			wantText: "No routing rule matched and the inbox has no default assignment.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			m := Route(Inbox{PhoneNumberID: "pn1", Routing: tt.rules, DefaultAssign: tt.def}, tt.msg, now)
			if m.Index != tt.wantIndex || m.Label != tt.wantLabel {
				t.Errorf("match = %d %q, want %d %q\n%s", m.Index, m.Label, tt.wantIndex, tt.wantLabel, dump(m.Reasons))
			}
			switch {
			case tt.wantIndex > 0 && (m.Step == nil || !reflect.DeepEqual(*m.Step, tt.rules[tt.wantIndex-1].Assign)):
				t.Errorf("step = %v, want rule %d's", m.Step, tt.wantIndex)
			case tt.wantIndex == 0 && !reflect.DeepEqual(m.Step, tt.def):
				t.Errorf("step = %v, want the default %v", m.Step, tt.def)
			}
			if tt.wantText != "" && (len(m.Reasons) == 0 || m.Reasons[len(m.Reasons)-1].Text != tt.wantText) {
				t.Errorf("reasons:\n%swant text %q", dump(m.Reasons), tt.wantText)
			}
		})
	}
}

func TestRouteSkipsInvalidStoredRule(t *testing.T) {
	in := Inbox{PhoneNumberID: "pn1", Routing: []Rule{
		{When: Condition{Regex: `(`}, Assign: Step{TeamID: ptr(int64(1))}},
		{When: Condition{BusinessHours: &Hours{TimeZone: "Mars/Olympus", From: 0, To: 1440}}, Assign: Step{TeamID: ptr(int64(2))}},
		{When: Condition{Keywords: []string{"hi"}}, Assign: Step{TeamID: ptr(int64(3))}},
	}}
	m := Route(in, Message{Text: "hi"}, t0)
	if m.Index != 3 {
		t.Fatalf("index = %d, want 3\n%s", m.Index, dump(m.Reasons))
	}
	if len(m.Reasons) != 3 || m.Reasons[0].Code != CodeInvalidRule || m.Reasons[1].Code != CodeInvalidRule {
		t.Fatalf("reasons:\n%s", dump(m.Reasons))
	}
	if !strings.HasPrefix(m.Reasons[0].Text, "Routing rule 1 was skipped because it cannot be evaluated: regex \"(\"") {
		t.Errorf("text = %q", m.Reasons[0].Text)
	}
}

// DecideOpen and Route agree, so the store can lock the team Route names.
func TestDecideOpenUsesRoute(t *testing.T) {
	in := Inbox{PhoneNumberID: "pn1", Routing: []Rule{
		{When: Condition{ReplyID: "sales"}, Assign: Step{TeamID: ptr(int64(2))}},
		{When: Condition{CountryPrefixes: []string{"55"}}, Assign: Step{TeamID: ptr(int64(1))}},
	}}
	msg := Message{ReplyID: "sales", ContactWaID: "5511999"}
	teams := map[int64]TeamState{
		1: team(1, "Brasil", StrategyRoundRobin, member(online(1, "Ana"), 0)),
		2: team(2, "Sales", StrategyRoundRobin, member(online(2, "Bob"), 0)),
	}
	m := Route(in, msg, t0)
	d := DecideOpen(OpenInput{Now: t0, Inbox: in, Conversation: openConv(), Message: msg, Teams: teams})
	if *m.Step.TeamID != 2 || *d.TeamID != 2 || d.Chosen[0] != 2 {
		t.Errorf("route team %d, decision team %d chose %v", *m.Step.TeamID, *d.TeamID, d.Chosen)
	}
	if d.Rule != `routing:1 reply_id "sales", round_robin` {
		t.Errorf("rule = %q", d.Rule)
	}
}

func TestValidate(t *testing.T) {
	good := Rule{When: Condition{Keywords: []string{"refund"}}, Assign: Step{TeamID: ptr(int64(1))}}
	tests := []struct {
		name    string
		inbox   Inbox
		wantErr []string // substrings; nil = valid
	}{
		{"valid", Inbox{PhoneNumberID: "pn1", Routing: []Rule{good,
			{When: Condition{Regex: `^\d+$`, CountryPrefixes: []string{"+55", "1787"}, BusinessHours: &Hours{TimeZone: "Asia/Kolkata", Days: []time.Weekday{time.Sunday}, From: 1320, To: 360}},
				Assign: Step{AgentIDs: []int64{3}}}},
			DefaultAssign: &Step{TeamID: ptr(int64(2))}, FallbackAgentID: ptr(int64(4))}, nil},
		{"missing phone number id", Inbox{}, []string{"phone_number_id is required"}},
		{"bad regex", Inbox{PhoneNumberID: "pn1", Routing: []Rule{good, {When: Condition{Regex: "a(b"}, Assign: good.Assign}}},
			[]string{"routing rule 2: assigner: invalid: regex \"a(b\": error parsing regexp"}},
		{"empty condition", Inbox{PhoneNumberID: "pn1", Routing: []Rule{{Assign: good.Assign}}},
			[]string{"routing rule 1:", "the rule has no condition"}},
		{"blank keyword", Inbox{PhoneNumberID: "pn1", Routing: []Rule{{When: Condition{Keywords: []string{" "}}, Assign: good.Assign}}},
			[]string{"empty keyword"}},
		{"bad prefix", Inbox{PhoneNumberID: "pn1", Routing: []Rule{{When: Condition{CountryPrefixes: []string{"BR"}}, Assign: good.Assign}}},
			[]string{`country prefix "BR" must be 1 to 15 digits`}},
		{"bad hours", Inbox{PhoneNumberID: "pn1", Routing: []Rule{{When: Condition{BusinessHours: &Hours{TimeZone: "Nowhere/City", From: 600, To: 600, Days: []time.Weekday{7}}}, Assign: good.Assign}}},
			[]string{`time zone "Nowhere/City"`, "start and end are equal", "day 7 must be 0 (Sunday) to 6 (Saturday)"}},
		{"hours out of range", Inbox{PhoneNumberID: "pn1", Routing: []Rule{{When: Condition{BusinessHours: &Hours{From: -1, To: 1441}}, Assign: good.Assign}}},
			[]string{"start -1", "end 1441"}},
		{"empty step", Inbox{PhoneNumberID: "pn1", Routing: []Rule{{When: good.When}}},
			[]string{"names no team and no agent"}},
		{"bad ids", Inbox{PhoneNumberID: "pn1", DefaultAssign: &Step{TeamID: ptr(int64(0)), AgentIDs: []int64{-1}}, FallbackAgentID: ptr(int64(0))},
			[]string{"default assignment: assigner: invalid: team id must be positive", "agent id -1", "fallback agent id"}},
		{"welcome too long", Inbox{PhoneNumberID: "pn1", WelcomeMessage: strings.Repeat("é", 4097)},
			[]string{"welcome message has 4097 characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.inbox.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestValidateTeamAndAgent(t *testing.T) {
	if err := (Team{Name: "Support", Strategy: StrategyLeastOpen}).Validate(); err != nil {
		t.Errorf("valid team: %v", err)
	}
	err := Team{Strategy: "fastest", MaxOpen: ptr(-1)}.Validate()
	for _, s := range []string{"team name is required", `strategy "fastest"`, "max open -1"} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), s) {
			t.Errorf("team error %v lacks %q", err, s)
		}
	}
	if err := online(1, "Ana").Validate(); err != nil {
		t.Errorf("valid agent: %v", err)
	}
	err = Agent{Role: "boss", Presence: "busy", Capacity: ptr(-2)}.Validate()
	for _, s := range []string{"agent name is required", `role "boss"`, `presence "busy"`, "capacity -2"} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), s) {
			t.Errorf("agent error %v lacks %q", err, s)
		}
	}
}

// Routing settings are stored as JSON by the store; they must round-trip.
func TestInboxJSONRoundTrip(t *testing.T) {
	in := Inbox{PhoneNumberID: "pn1", Name: "Main", WelcomeMessage: "Hi", FirstResponderBecomesOwner: true,
		Routing: []Rule{{When: Condition{Keywords: []string{"refund"}, BusinessHours: &Hours{TimeZone: "UTC", Days: []time.Weekday{time.Monday}, From: 60, To: 120, Outside: true}},
			Assign: Step{TeamID: ptr(int64(1)), AgentIDs: []int64{2}}}},
		DefaultAssign: &Step{TeamID: ptr(int64(3))}, FallbackAgentID: ptr(int64(4))}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Inbox
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n%+v\n%+v", in, out)
	}
}

func withOutside(h Hours) *Hours {
	h.Outside = true
	return &h
}

// "Local" is not a time zone but the zone of whichever process reads the
// hours (time.LoadLocation accepts it): the gateway that validated them,
// a consumer on another host, a container in UTC. Hours in it would open
// and close, and SLAs fall due, at different instants on each; it is
// refused like an unknown zone.
func TestHoursRefuseTheProcessLocalZone(t *testing.T) {
	h := Hours{TimeZone: "Local", From: 540, To: 1080}
	if err := h.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("business hours in time zone %q: Validate() = %v, want ErrInvalid", h.TimeZone, err)
	}
	in := Inbox{PhoneNumberID: "pn1", FirstResponseSLASeconds: ptr(900), BusinessHours: &h}
	if err := in.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("an inbox's SLA hours in time zone %q: Validate() = %v, want ErrInvalid", h.TimeZone, err)
	}
}
