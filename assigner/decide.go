package assigner

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// OpenInput is what DecideOpen needs about a conversation the contact just
// opened.
type OpenInput struct {
	Now   time.Time
	Inbox Inbox
	// Conversation is the new conversation (normally without assignees).
	Conversation Conversation
	// Owners are the contact's owners (default assignees), active or not.
	Owners  []Agent
	Message Message
	// Teams holds the state of the team the routing step names (see
	// Route), loaded under a row lock; other teams may be present.
	Teams map[int64]TeamState
	// Agents holds the state of the agents the routing step names.
	Agents map[int64]Agent
	// PresenceTimeout: DefaultPresenceTimeout when zero.
	PresenceTimeout time.Duration
	// WelcomeStaleness: DefaultWelcomeStaleness when zero.
	WelcomeStaleness time.Duration
	// Previous is the contact's latest resolved conversation on the inbox,
	// for the sticky rule (nil: none, or the inbox has no StickyDays). Its
	// agent is in Agents and its team, locked, in Teams.
	Previous *Previous
}

// DecideOpen decides the assignment of a conversation the contact opened
// (DESIGN §6 rules 1, 2, 4, 6–11):
//
//  1. every active owner is added (source owner) whatever their presence
//     or capacity; deactivated owners are skipped with a reason;
//     without one, the sticky rule may give the conversation to the agent
//     of the contact's previous one (see Inbox.StickyDays), and then
//     routing does not run;
//  2. the inbox's routing rules are evaluated in order, first match wins,
//     else the inbox default step (Route);
//  3. the step's users are added (source flow; not gated on presence);
//     the step's team becomes the conversation's team and its strategy
//     runs, unless someone already assigned (an owner) is an eligible
//     member of that team;
//  4. nobody eligible in the team: Queued (rule 10); a manual-strategy
//     team or no step at all: unassigned, waiting for a claim (rule 6);
//  5. Welcome when the inbox has a welcome text, no agent has replied and
//     the opening message is not older than WelcomeStaleness;
//  6. the inbox's first-response SLA, if any, is armed (armSLA).
func DecideOpen(in OpenInput) Decision {
	b := newBuilder(in.Conversation, in.Now, in.PresenceTimeout)
	b.see(in.Owners...)
	b.seeAll(in.Agents, in.Teams)
	if !in.Conversation.Open() {
		b.rule("open")
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is resolved."})
		return b.finish()
	}
	if b.addOwners(in.Owners) {
		b.rule("default_assignees")
	}
	if !b.sticky(in) {
		m := Route(in.Inbox, in.Message, in.Now)
		b.reason(m.Reasons...)
		if m.Step != nil {
			b.rule(m.Label)
			b.applyStep(*m.Step, in.Agents, in.Teams, SourceFlow)
		}
	}
	if len(b.set) == 0 && !b.queued && !b.awaiting {
		if len(b.rules) == 0 {
			b.rule("pick_and_assign")
		}
		b.awaiting = true
		b.reason(Reason{Code: CodeAwaitingClaim,
			Text: "Nobody was assigned: the conversation waits unassigned in the inbox until an agent claims it."})
	}
	b.welcome(in)
	b.armSLA(in.Inbox)
	return b.finish()
}

// addOwners adds the active owners; it reports whether any was added.
func (b *builder) addOwners(owners []Agent) bool {
	added := false
	for _, o := range owners {
		name := agentName(o)
		switch {
		case b.has(o.ID):
			continue
		case !o.Active:
			b.reason(Reason{AgentID: o.ID, Code: CodeInactive,
				Text: fmt.Sprintf("%s owns this contact but was not added: deactivated.", name)})
			continue
		}
		b.add(o, SourceOwner)
		added = true
		text := fmt.Sprintf("%s was added as the contact's owner.", name)
		if !o.Online(b.now, b.timeout) {
			text = fmt.Sprintf("%s was added as the contact's owner although %s: owners are not gated on presence.",
				name, presenceReason(o, b.now, b.timeout).Text)
		}
		b.reason(Reason{AgentID: o.ID, Code: CodeOwner, Text: text})
	}
	return added
}

// applyStep adds the step's users with src and applies its team.
func (b *builder) applyStep(s Step, agents map[int64]Agent, teams map[int64]TeamState, src Source) {
	added := b.addUsers(s.AgentIDs, agents, src, nil, "")
	if s.TeamID == nil {
		if added {
			b.queued = false
		}
		return
	}
	ts, ok := teams[*s.TeamID]
	if !ok {
		b.warn(Reason{Code: CodeUnknownTeam,
			Text: fmt.Sprintf("Team #%d named by the assignment is unknown, so it was not applied.", *s.TeamID)})
		if added {
			b.queued = false
		}
		return
	}
	b.applyTeam(ts)
}

// addUsers adds named agents (flow or manual). Presence and capacity are
// not gated: they are noted as reasons, and as warnings when the source is
// manual. ts, if set, contributes its per-member limit for its members.
// It reports whether anyone was added.
func (b *builder) addUsers(ids []int64, agents map[int64]Agent, src Source, ts *TeamState, by string) bool {
	added := false
	for _, id := range uniq(ids) {
		a, ok := agents[id]
		switch {
		case !ok:
			b.reason(Reason{AgentID: id, Code: CodeUnknownAgent,
				Text: fmt.Sprintf("Agent #%d named by the assignment is unknown and was skipped.", id)})
			continue
		case !a.Active:
			b.reason(Reason{AgentID: id, Code: CodeInactive,
				Text: fmt.Sprintf("%s was skipped: deactivated.", agentName(a))})
			continue
		case b.has(id):
			cur := b.source(id)
			if src == SourceManual && cur.Automatic() {
				b.setSource(id, SourceManual)
				b.reason(Reason{AgentID: id, Code: CodeAdded,
					Text: fmt.Sprintf("%s was already assigned by %s; the assignment is now manual, so automation won't remove it.", agentName(a), sourceText(cur))})
				added = true
				continue
			}
			b.reason(Reason{AgentID: id, Code: CodeAlreadyAssigned,
				Text: fmt.Sprintf("%s is already assigned (%s).", agentName(a), sourceText(cur))})
			continue
		}
		b.add(a, src)
		added = true
		note := func(r Reason) { b.reason(r) }
		text := fmt.Sprintf("%s was added by the automation step.", agentName(a))
		if src == SourceManual {
			note = b.warn
			text = fmt.Sprintf("%s was assigned manually%s.", agentName(a), by)
		}
		b.reason(Reason{AgentID: id, Code: CodeAdded, Text: text})
		if !a.Online(b.now, b.timeout) {
			note(Reason{AgentID: id, Code: CodeBypassedPresence,
				Text: fmt.Sprintf("%s is %s; assigned anyway.", agentName(a), presenceReason(a, b.now, b.timeout).Text)})
		}
		t := Team{}
		if ts != nil {
			if _, member := ts.Member(id); member {
				t = ts.Team
			}
		}
		if limit, ok := capacity(t, a); ok && a.OpenCount >= limit {
			note(Reason{AgentID: id, Code: CodeOverCapacityWarning,
				Text: fmt.Sprintf("%s is at capacity (%d open, limit %s); assigned anyway.", agentName(a), a.OpenCount, limitText(t, a, limit))})
		}
	}
	return added
}

// applyTeam sets the team and, unless someone assigned is an eligible
// member, runs its strategy.
func (b *builder) applyTeam(ts TeamState) {
	b.seeTeam(ts)
	team := teamName(ts.Team)
	if b.teamID == nil || *b.teamID != ts.Team.ID {
		b.reason(Reason{Code: CodeTeamSet, Text: fmt.Sprintf("The conversation now belongs to %s.", team)})
	}
	id := ts.Team.ID
	b.teamID, b.teamName = &id, ts.Team.Name
	for _, as := range b.set {
		m, ok := ts.Member(as.AgentID)
		if !ok || !m.Active || (ts.Team.OnlineOnly && !m.Online(b.now, b.timeout)) {
			continue
		}
		state := "an active"
		if ts.Team.OnlineOnly {
			state = "an online"
		}
		b.queued = false
		b.reason(Reason{AgentID: m.ID, Code: CodeTeamSatisfied,
			Text: fmt.Sprintf("%s (%s) is already assigned and is %s member of %s, which satisfies the team assignment; nobody else was picked.",
				agentName(m.Agent), sourceText(as.Source), state, team)})
		return
	}
	p := Strategy(ts, b.ids(), b.now, b.timeout)
	b.reason(p.Reasons...)
	switch {
	case p.OK():
		m, _ := ts.Member(p.AgentID)
		b.add(m.Agent, p.Source)
		b.d.Chosen = append(b.d.Chosen, p.AgentID)
		b.d.ChosenAt = ts.NextAssignedAt(b.now)
		b.armNoReply(ts.Team)
		b.rule(string(p.Source))
		b.queued = false
	case p.Manual:
		b.rule("manual")
		b.awaiting = true
		b.queued = false
	default:
		b.rule("queue")
		b.queued = true
		b.reason(Reason{Code: CodeQueued,
			Text: fmt.Sprintf("The conversation waits in the queue of %s and is assigned as soon as a member becomes eligible.", team)})
	}
}

// welcome applies rule 11.
func (b *builder) welcome(in OpenInput) {
	if ok, r := Welcomes(in); r != nil {
		b.d.Welcome = ok
		b.reason(*r)
	}
}

// Welcomes applies rule 11 to an opening alone: whether the inbox's
// welcome message is queued, and the reason to log (nil: the inbox has no
// welcome text). It reads nothing the assignment locks or decides, so a
// caller may act on it before deciding the assignment; DecideOpen's
// Welcome is the same answer for the same input.
func Welcomes(in OpenInput) (bool, *Reason) {
	if strings.TrimSpace(in.Inbox.WelcomeMessage) == "" || !in.Conversation.Open() {
		return false, nil
	}
	if in.Conversation.FirstReplyAt != nil {
		return false, &Reason{Code: CodeWelcomeReplied, Text: "No welcome message: an agent already replied."}
	}
	sent := in.Message.SentAt
	if sent.IsZero() {
		sent = in.Conversation.OpenedAt
	}
	staleness := orDefault(in.WelcomeStaleness, DefaultWelcomeStaleness)
	if age := in.Now.Sub(sent); !sent.IsZero() && age > staleness {
		return false, &Reason{Code: CodeWelcomeStale,
			Text: fmt.Sprintf("No welcome message: the opening message is %s old (limit %s), probably a replayed webhook.", duration(age), duration(staleness))}
	}
	return true, &Reason{Code: CodeWelcome, Text: "The welcome message was queued."}
}

// FlowInput is an automation step applied to a conversation.
type FlowInput struct {
	Now          time.Time
	Conversation Conversation
	Step         Step
	// Label names the step in Decision.Rule ("flow:vip-intake/2"); empty:
	// "flow".
	Label string
	// Agents holds the state of the step's users.
	Agents map[int64]Agent
	// Teams holds the state of the step's team, loaded under a row lock.
	Teams           map[int64]TeamState
	PresenceTimeout time.Duration // DefaultPresenceTimeout when zero
}

// DecideFlowStep applies an automation step (rule 4): earlier automatic
// assignees (flow, round_robin, least_open) not named by the step are
// removed; owners, manual, claim and first_responder assignees are never
// removed. The step's users are added (source flow; not gated on presence
// or capacity; deactivated and unknown ones are skipped). A team step sets
// the team and runs its strategy, skipping people already assigned, unless
// someone still assigned (an owner, say) is an eligible member. A resolved
// conversation is left alone.
func DecideFlowStep(in FlowInput) Decision {
	b := newBuilder(in.Conversation, in.Now, in.PresenceTimeout)
	b.seeAll(in.Agents, in.Teams)
	label := in.Label
	if label == "" {
		label = "flow"
	}
	b.rule(label)
	if !in.Conversation.Open() {
		b.reason(Reason{Code: CodeNotOpen, Text: "Nothing was done: the conversation is resolved."})
		return b.finish()
	}
	for _, a := range slices.Clone(b.set) {
		if a.Source.Automatic() && !slices.Contains(in.Step.AgentIDs, a.AgentID) {
			b.remove(a.AgentID)
			b.reason(Reason{AgentID: a.AgentID, Code: CodeRemoved,
				Text: fmt.Sprintf("%s (%s) was removed: a later automation step replaces earlier automatic assignments.", b.name(a.AgentID), sourceText(a.Source))})
		}
	}
	b.applyStep(in.Step, in.Agents, in.Teams, SourceFlow)
	return b.finish()
}

// FirstResponderInput is an agent reply the Cloud API accepted.
type FirstResponderInput struct {
	Now          time.Time
	Inbox        Inbox
	Conversation Conversation
	// Agent is who replied.
	Agent Agent
	// ContactOwnerIDs are the contact's current owners.
	ContactOwnerIDs []int64
	// BySystem: the message was sent by the system (welcome, automation,
	// template); it never counts.
	BySystem bool
}

// DecideFirstResponder applies rule 5. The store calls it for every agent
// reply the Cloud API accepts, in partition order. For the first one
// (Conversation.FirstReplyAt nil, not BySystem) the decision sets
// FirstReplyAt; then, if the inbox's FirstResponderBecomesOwner is on,
// the agent becomes the contact's owner when the contact has none
// (NewOwnerID) and is added to the conversation (source first_responder)
// when not already assigned, which takes it out of the queue. Later
// replies change nothing.
func DecideFirstResponder(in FirstResponderInput) Decision {
	b := newBuilder(in.Conversation, in.Now, 0)
	a := in.Agent
	b.see(a)
	b.rule("first_responder")
	name := agentName(a)
	switch {
	case in.BySystem:
		b.reason(Reason{Code: CodeSystemReply, Text: "The message was sent by the system, so it doesn't count as a reply."})
		return b.finish()
	case in.Conversation.FirstReplyAt != nil:
		b.reason(Reason{AgentID: a.ID, Code: CodeNotFirstReply,
			Text: fmt.Sprintf("%s replied, but an agent first replied at %s.", name, when(*in.Conversation.FirstReplyAt, in.Now))})
		return b.finish()
	}
	now := in.Now
	b.d.FirstReplyAt = &now
	switch {
	case !in.Inbox.FirstResponderBecomesOwner:
		b.reason(Reason{AgentID: a.ID, Code: CodeSettingOff,
			Text: fmt.Sprintf("%s sent the first reply; the inbox does not make first responders owners.", name)})
		return b.finish()
	case !a.Active:
		b.reason(Reason{AgentID: a.ID, Code: CodeInactive,
			Text: fmt.Sprintf("%s sent the first reply but is deactivated, so nothing else changed.", name)})
		return b.finish()
	}
	if len(in.ContactOwnerIDs) == 0 {
		id := a.ID
		b.d.NewOwnerID = &id
		b.reason(Reason{AgentID: a.ID, Code: CodeNewOwner,
			Text: fmt.Sprintf("%s sent the first reply and becomes the contact's owner.", name)})
	} else {
		b.reason(Reason{AgentID: a.ID, Code: CodeHasOwner,
			Text: fmt.Sprintf("%s sent the first reply; the contact already has an owner, so ownership is unchanged.", name)})
	}
	if b.has(a.ID) {
		b.reason(Reason{AgentID: a.ID, Code: CodeAlreadyAssigned,
			Text: fmt.Sprintf("%s is already assigned (%s).", name, sourceText(b.source(a.ID)))})
		return b.finish()
	}
	b.add(a, SourceFirstResponder)
	b.queued = false
	b.reason(Reason{AgentID: a.ID, Code: CodeFirstResponder,
		Text: fmt.Sprintf("%s was added to the conversation as first responder.", name)})
	return b.finish()
}

// DecideResolve closes the conversation: it leaves the queue, assignees
// stay (history) but no longer count toward their open conversations
// (OpenCountDelta is -1 each). Resolving a resolved conversation changes
// nothing.
func DecideResolve(conv Conversation) Decision {
	b := newBuilder(conv, time.Time{}, 0)
	b.rule("resolve")
	if !conv.Open() {
		b.reason(Reason{Code: CodeNotOpen, Text: "The conversation was already resolved; nothing changed."})
		return b.finish()
	}
	b.resolved = true
	text := "The conversation was resolved."
	if n := len(conv.Assignees); n > 0 {
		text = fmt.Sprintf("The conversation was resolved; it no longer counts toward the open conversations of its %s.", plural(n, "assignee"))
	}
	b.reason(Reason{Code: CodeResolved, Text: text})
	return b.finish()
}

// DrainQueue assigns queued conversations (rule 10), in the order given
// (the store passes them oldest first), as far as eligible members allow.
// Call it when an agent may have become eligible (came online, freed
// capacity, joined a team), with the teams' state loaded under row locks.
// Between picks it updates its own copy of the state (the chosen agent's
// OpenCount in every team, the member's LastAssignedAt = ChosenAt), so
// one call spreads conversations as successive calls would; teams is not
// modified. It returns one decision per conversation whose state changed,
// oldest first; the others stay queued. A conversation whose team is
// satisfied by someone already assigned just leaves the queue, and so
// does one whose team now assigns manually (it waits for a claim).
// Conversations not queued, resolved, without a team or whose team is not
// in teams are skipped.
func DrainQueue(queue []Conversation, teams map[int64]TeamState, now time.Time, timeout time.Duration) []Decision {
	state := make(map[int64]TeamState, len(teams))
	for id, ts := range teams {
		ts.Members = slices.Clone(ts.Members)
		state[id] = ts
	}
	var out []Decision
	for _, conv := range queue {
		if !conv.Queued || !conv.Open() || conv.TeamID == nil {
			continue
		}
		ts, ok := state[*conv.TeamID]
		if !ok {
			continue
		}
		b := newBuilder(conv, now, timeout)
		b.rule("drain_queue")
		b.applyTeam(ts)
		if b.queued {
			continue
		}
		if len(b.d.Chosen) == 0 && !b.awaiting {
			b.reason(Reason{Code: CodeDequeued, Text: "The conversation left the team queue."})
		}
		d := b.finish()
		out = append(out, d)
		for _, id := range d.Chosen {
			for tid, t := range state {
				for i := range t.Members {
					if t.Members[i].ID != id {
						continue
					}
					t.Members[i].OpenCount++
					if tid == ts.Team.ID {
						t.Members[i].LastAssignedAt = d.ChosenAt
					}
				}
			}
		}
	}
	return out
}

// ExpireInput is a queued conversation that may have waited too long.
type ExpireInput struct {
	Now          time.Time
	Conversation Conversation
	Inbox        Inbox
	// QueuedSince is when the conversation entered the queue.
	QueuedSince time.Time
	// Fallback is the state of Inbox.FallbackAgentID; nil when the inbox
	// has none or the agent no longer exists.
	Fallback *Agent
	// Timeout: DefaultQueueExpiry when zero.
	Timeout time.Duration
}

// ExpireQueued takes a conversation out of the queue once it has waited
// longer than Timeout: it is assigned to the inbox's fallback agent
// (source manual, bypassing presence and capacity, with warnings) or,
// without an active fallback agent, left unassigned waiting for a claim.
// It reports false, with an empty decision, when the conversation is not
// queued, not open or has not waited long enough.
func ExpireQueued(in ExpireInput) (Decision, bool) {
	conv := in.Conversation
	timeout := orDefault(in.Timeout, DefaultQueueExpiry)
	waited := in.Now.Sub(in.QueuedSince)
	if !conv.Queued || !conv.Open() || waited < timeout {
		return Decision{}, false
	}
	b := newBuilder(conv, in.Now, 0)
	b.rule("queue_expired")
	b.queued = false
	b.reason(Reason{Code: CodeQueueExpired,
		Text: fmt.Sprintf("The conversation waited %s in the queue (limit %s).", duration(waited), duration(timeout))})
	fb := in.Fallback
	switch {
	case fb == nil:
		b.warn(Reason{Code: CodeAwaitingClaim,
			Text: "The inbox has no fallback agent: the conversation leaves the queue and waits unassigned until an agent claims it."})
	case !fb.Active:
		b.see(*fb)
		b.warn(Reason{AgentID: fb.ID, Code: CodeAwaitingClaim,
			Text: fmt.Sprintf("The fallback agent %s is deactivated: the conversation leaves the queue and waits unassigned until an agent claims it.", agentName(*fb))})
	case b.has(fb.ID):
		b.see(*fb)
		b.reason(Reason{AgentID: fb.ID, Code: CodeAlreadyAssigned,
			Text: fmt.Sprintf("The fallback agent %s is already assigned.", agentName(*fb))})
	default:
		b.reason(Reason{AgentID: fb.ID, Code: CodeFallback,
			Text: fmt.Sprintf("%s, the inbox's fallback agent, takes the conversation.", agentName(*fb))})
		b.addUsers([]int64{fb.ID}, map[int64]Agent{fb.ID: *fb}, SourceManual, nil, " as the inbox fallback")
	}
	return b.finish(), true
}

func uniq(ids []int64) []int64 {
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
