package assigner

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Decision is the outcome of one decision function: the conversation's
// new assignment state, what changed, and why. The store persists it in
// the transaction that called the function:
//
//   - conversation row: TeamID, Queued (set queued_at when it becomes
//     true), status resolved when Resolved, first_reply_at when
//     FirstReplyAt is set, snoozed_until (SnoozedUntil, or cleared when
//     Unsnoozed);
//   - assignee rows: delete Removed, insert Added, update the source of
//     Updated (Assignees is the full resulting set, for convenience);
//   - each agent's open-conversation count: add OpenCountDelta;
//   - team member rows: last_assigned_at = ChosenAt for (TeamID, each of
//     Chosen);
//   - contact owners: add NewOwnerID;
//   - outbox: the welcome message when Welcome, the closing message
//     when Closing;
//   - timers: create or replace SetTimers, delete CancelTimers;
//   - the decision log: Rule, Reasons, Warnings, Summary().
type Decision struct {
	ConversationID int64 `json:"conversation_id"`
	// Rule names what fired, in order, comma-separated: "default_assignees",
	// `routing:2 keyword "refund"`, "inbox_default", "round_robin",
	// "least_open", "manual", "queue", "flow", "claim", "first_responder",
	// "unassign", "resolve", "drain_queue", "queue_expired",
	// "no_reply_reassign", "auto_resolve", "sticky", "sla_breached",
	// "pick_and_assign" (nothing fired: waits for a claim).
	Rule string `json:"rule"`
	// TeamID is the conversation's team after the decision; nil: none.
	TeamID   *int64 `json:"team_id,omitempty"`
	TeamName string `json:"team_name,omitempty"`
	// Assignees is the full set after the decision.
	Assignees []Assignee `json:"assignees"`
	Added     []Assignee `json:"added,omitempty"`
	Removed   []Assignee `json:"removed,omitempty"` // with the source they had
	Updated   []Assignee `json:"updated,omitempty"` // kept, with a new source
	// Chosen lists the agents picked by the team strategy (round_robin,
	// least_open) of TeamID.
	Chosen []int64 `json:"chosen,omitempty"`
	// ChosenAt is the LastAssignedAt to record for Chosen in TeamID:
	// TeamState.NextAssignedAt(now), strictly after every earlier pick of
	// the team. Zero when nobody was chosen.
	ChosenAt time.Time `json:"chosen_at,omitzero"`
	Reasons  []Reason  `json:"reasons"`
	// Queued: after the decision the conversation waits in TeamID's queue
	// for an eligible agent (rule 10). A manual-strategy team or an inbox
	// without routing leaves it unassigned but not queued: it waits for a
	// claim (rule 6), and a CodeAwaitingClaim reason says so.
	Queued bool `json:"queued"`
	// Welcome: queue the inbox's welcome message (rule 11).
	Welcome bool `json:"welcome,omitempty"`
	// Closing: queue the inbox's closing message (auto-resolve).
	Closing bool `json:"closing,omitempty"`
	// NewOwnerID: this agent becomes an owner of the contact (rule 5).
	NewOwnerID *int64 `json:"new_owner_id,omitempty"`
	// FirstReplyAt: record the conversation's first agent reply time.
	FirstReplyAt *time.Time `json:"first_reply_at,omitempty"`
	// Resolved: the conversation is closed.
	Resolved bool `json:"resolved,omitempty"`
	// SnoozedUntil: snooze the conversation until then; Unsnoozed: it is
	// no longer snoozed (woken or resolved).
	SnoozedUntil *time.Time `json:"snoozed_until,omitempty"`
	Unsnoozed    bool       `json:"unsnoozed,omitempty"`
	// FirstResponseDueAt: record when the first agent reply is due (the
	// inbox's first-response SLA, armed when the contact opens the
	// conversation).
	FirstResponseDueAt *time.Time `json:"first_response_due_at,omitempty"`
	// SLABreach: the first-response SLA passed without an agent reply
	// (DecideSLA); nil otherwise.
	SLABreach *SLABreach `json:"sla_breach,omitempty"`
	// OpenCountDelta is the change to each agent's open-conversation count
	// (Agent.OpenCount); only agents whose count changes are present.
	OpenCountDelta map[int64]int `json:"open_count_delta,omitempty"`
	// SetTimers are deadlines to create or replace (one per kind), and
	// CancelTimers the kinds to delete, in the same transaction.
	SetTimers    []Timer     `json:"set_timers,omitempty"`
	CancelTimers []TimerKind `json:"cancel_timers,omitempty"`
	// Warnings are what an admin should notice (a manual assignment of an
	// offline or full agent, an unknown team); each also appears as a Reason.
	Warnings []string `json:"warnings,omitempty"`
	// Names maps the agent ids this decision mentions to their names, for
	// Summary.
	Names map[int64]string `json:"names,omitempty"`
}

// Summary is one human line: what fired and what changed.
func (d Decision) Summary() string {
	var parts []string
	if d.Resolved {
		parts = append(parts, "resolved")
	}
	if len(d.Added) > 0 {
		parts = append(parts, "added "+d.list(d.Added))
	}
	if len(d.Updated) > 0 {
		parts = append(parts, "now "+d.list(d.Updated))
	}
	if len(d.Removed) > 0 {
		parts = append(parts, "removed "+d.list(d.Removed))
	}
	if d.NewOwnerID != nil {
		parts = append(parts, d.name(*d.NewOwnerID)+" becomes the contact's owner")
	}
	switch {
	case d.Queued:
		parts = append(parts, "queued for "+d.team())
	case slices.ContainsFunc(d.Reasons, func(r Reason) bool { return r.Code == CodeAwaitingClaim }):
		parts = append(parts, "waits for a claim")
	}
	if d.Welcome {
		parts = append(parts, "welcome message queued")
	}
	if d.Closing {
		parts = append(parts, "closing message queued")
	}
	if d.SLABreach != nil {
		parts = append(parts, "first-response SLA breached")
	}
	if len(parts) == 0 {
		parts = append(parts, "no change")
	}
	if d.TeamID != nil && !d.Queued {
		parts = append(parts, d.team())
	}
	if n := len(d.Warnings); n > 0 {
		parts = append(parts, plural(n, "warning"))
	}
	return d.Rule + ": " + strings.Join(parts, "; ")
}

func (d Decision) list(as []Assignee) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = fmt.Sprintf("%s (%s)", d.name(a.AgentID), sourceText(a.Source))
	}
	return strings.Join(s, ", ")
}

func (d Decision) name(id int64) string {
	if n := d.Names[id]; n != "" {
		return n
	}
	return fmt.Sprintf("agent #%d", id)
}

func (d Decision) team() string {
	if d.TeamID == nil {
		return "no team"
	}
	return teamName(Team{ID: *d.TeamID, Name: d.TeamName})
}

// builder accumulates a decision from a conversation's current state.
type builder struct {
	now      time.Time
	timeout  time.Duration
	conv     Conversation
	set      []Assignee
	teamID   *int64
	teamName string
	queued   bool
	awaiting bool // a CodeAwaitingClaim reason was given
	resolved bool
	snooze   *time.Time // snooze until then
	wake     bool       // end the snooze
	rules    []string
	known    map[int64]string // agent names seen in the inputs
	d        Decision
}

func newBuilder(conv Conversation, now time.Time, timeout time.Duration) *builder {
	b := &builder{
		now:     now,
		timeout: orDefault(timeout, DefaultPresenceTimeout),
		conv:    conv,
		set:     slices.Clone(conv.Assignees),
		queued:  conv.Queued,
		known:   map[int64]string{},
	}
	if conv.TeamID != nil {
		id := *conv.TeamID
		b.teamID = &id
	}
	return b
}

func (b *builder) rule(label string) { b.rules = append(b.rules, label) }

func (b *builder) reason(rs ...Reason) { b.d.Reasons = append(b.d.Reasons, rs...) }

// warn records a reason that is also a warning.
func (b *builder) warn(r Reason) {
	b.reason(r)
	b.d.Warnings = append(b.d.Warnings, r.Text)
}

// see records agents' names for the decision's Names.
func (b *builder) see(as ...Agent) {
	for _, a := range as {
		if a.Name != "" {
			b.known[a.ID] = a.Name
		}
	}
}

// seeAll records the names of the agents and team members in the inputs.
func (b *builder) seeAll(agents map[int64]Agent, teams map[int64]TeamState) {
	for _, a := range agents {
		b.see(a)
	}
	for _, ts := range teams {
		b.seeTeam(ts)
	}
}

func (b *builder) seeTeam(ts TeamState) {
	for _, m := range ts.Members {
		b.see(m.Agent)
	}
}

func (b *builder) has(id int64) bool { return indexOf(b.set, id) >= 0 }

func (b *builder) source(id int64) Source {
	if i := indexOf(b.set, id); i >= 0 {
		return b.set[i].Source
	}
	return ""
}

func (b *builder) add(a Agent, src Source) {
	b.see(a)
	b.set = append(b.set, Assignee{AgentID: a.ID, Source: src})
}

func (b *builder) remove(id int64) {
	if i := indexOf(b.set, id); i >= 0 {
		b.set = slices.Delete(b.set, i, i+1)
	}
}

func (b *builder) setSource(id int64, src Source) {
	if i := indexOf(b.set, id); i >= 0 {
		b.set[i].Source = src
	}
}

func (b *builder) ids() []int64 {
	ids := make([]int64, len(b.set))
	for i, a := range b.set {
		ids[i] = a.AgentID
	}
	return ids
}

// name returns a known agent's name, else "agent #id".
func (b *builder) name(id int64) string {
	if n := b.known[id]; n != "" {
		return n
	}
	return fmt.Sprintf("agent #%d", id)
}

// finish diffs the working set against the conversation and fills in the
// decision.
func (b *builder) finish() Decision {
	b.settleTimers()
	d := b.d
	d.ConversationID = b.conv.ID
	d.Rule = strings.Join(b.rules, ", ")
	if d.Rule == "" {
		d.Rule = "none"
	}
	if b.teamID != nil {
		id := *b.teamID
		d.TeamID = &id
		d.TeamName = b.teamName
	}
	d.Assignees = b.set
	if d.Assignees == nil {
		d.Assignees = []Assignee{}
	}
	if d.Reasons == nil {
		d.Reasons = []Reason{}
	}
	d.Queued = b.queued && !b.resolved
	d.Resolved = b.resolved
	for _, old := range b.conv.Assignees {
		i := indexOf(b.set, old.AgentID)
		switch {
		case i < 0:
			d.Removed = append(d.Removed, old)
		case b.set[i].Source != old.Source:
			d.Updated = append(d.Updated, b.set[i])
		}
	}
	for _, a := range b.set {
		if !b.conv.Assigned(a.AgentID) {
			d.Added = append(d.Added, a)
		}
	}
	d.OpenCountDelta = b.openCountDelta()
	if b.snooze != nil && !b.resolved {
		d.SnoozedUntil = b.snooze
	}
	d.Unsnoozed = b.conv.Snoozed() && (b.wake || b.resolved)
	mentioned := slices.Concat(b.conv.Assignees, b.set)
	if d.NewOwnerID != nil {
		mentioned = append(mentioned, Assignee{AgentID: *d.NewOwnerID})
	}
	for _, a := range mentioned {
		if n := b.known[a.AgentID]; n != "" {
			if d.Names == nil {
				d.Names = map[int64]string{}
			}
			d.Names[a.AgentID] = n
		}
	}
	return d
}

// openCountDelta is the change to each agent's open-conversation count:
// an assignee counts while the conversation is open and not snoozed, so
// the delta is what counts after the decision minus what counted before.
func (b *builder) openCountDelta() map[int64]int {
	before := b.conv.Open() && !b.conv.Snoozed()
	snoozedAfter := b.snooze != nil || (b.conv.Snoozed() && !b.wake)
	after := b.conv.Open() && !b.resolved && !snoozedAfter
	delta := map[int64]int{}
	if before {
		for _, a := range b.conv.Assignees {
			delta[a.AgentID]--
		}
	}
	if after {
		for _, a := range b.set {
			delta[a.AgentID]++
		}
	}
	for id, n := range delta {
		if n == 0 {
			delete(delta, id)
		}
	}
	if len(delta) == 0 {
		return nil
	}
	return delta
}

func agentName(a Agent) string {
	if a.Name != "" {
		return a.Name
	}
	return fmt.Sprintf("agent #%d", a.ID)
}

func teamName(t Team) string {
	if t.Name != "" {
		return "team " + t.Name
	}
	return fmt.Sprintf("team #%d", t.ID)
}

func sourceText(s Source) string {
	switch s {
	case SourceOwner:
		return "owner"
	case SourceRoundRobin:
		return "round robin"
	case SourceLeastOpen:
		return "least open"
	case SourceFirstResponder:
		return "first responder"
	}
	return string(s)
}

func capital(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// when formats t in now's location: "15:04" on the same day, "Jan 2 15:04"
// in the same year, else "2006-01-02 15:04".
func when(t, now time.Time) string {
	t = t.In(now.Location())
	switch {
	case t.YearDay() == now.YearDay() && t.Year() == now.Year():
		return t.Format("15:04")
	case t.Year() == now.Year():
		return t.Format("Jan 2 15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// duration formats d coarsely: "less than a minute", "7 min", "3 h 5 min",
// "2 days 4 h".
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	s := plural(days, "day")
	if h > 0 {
		s += fmt.Sprintf(" %d h", h)
	}
	return s
}
