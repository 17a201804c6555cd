package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// On the fast path, the assignment of the conversations a batch opens is
// decided after the batch's other events and before its commit (or before
// the next command, which might read it): the teams are then locked for a
// moment at the end of the transaction instead of from the first opening
// on; the welcome messages are written before the locks are taken, and
// all the decisions after, with one statement (sqlPersistOpenings). The
// decisions are taken one by one, in batch order, on the locked teams'
// state, each seeing the picks of the ones before.

type opening struct {
	e      *event.Envelope
	c      contactRow
	convID int64
	// handover is set for a conversation opened because control of the
	// thread came to wagw (routing.go, messages.go): how it came.
	handover *assigner.RoutingChange
}

const sqlOwnersOfContacts = `SELECT o.contact_id, a.id, a.name, a.role, a.active, a.capacity, a.presence,
	COALESCE(a.heartbeat_at, 'epoch'), a.open_count
	FROM contact_owners o JOIN agents a ON a.id = o.agent_id
	WHERE o.contact_id = ANY($1) ORDER BY o.contact_id, o.added_at, a.id`

func (b *batch) ownersOf(ctx context.Context, contactIDs []int64) (map[int64][]assigner.Agent, error) {
	out := map[int64][]assigner.Agent{}
	if len(contactIDs) == 0 {
		return out, nil
	}
	rows, err := b.tx.QueryContext(ctx, sqlOwnersOfContacts, pq.Array(contactIDs))
	if err != nil {
		return nil, fmt.Errorf("owners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cid int64
		var a assigner.Agent
		var role, presence string
		if err := rows.Scan(&cid, &a.ID, &a.Name, &role, &a.Active, &a.Capacity, &presence, &a.HeartbeatAt, &a.OpenCount); err != nil {
			return nil, err
		}
		a.Role, a.Presence = assigner.Role(role), assigner.Presence(presence)
		if a.HeartbeatAt.Unix() == 0 {
			a.HeartbeatAt = time.Time{}
		}
		out[cid] = append(out[cid], a)
	}
	return out, rows.Err()
}

// decideOpenings decides and writes the deferred openings.
func (b *batch) decideOpenings(ctx context.Context) error {
	if len(b.openings) == 0 {
		return nil
	}
	ops := b.openings
	b.openings = nil

	var known []int64
	for _, o := range ops {
		if !o.c.Fresh {
			known = append(known, o.c.ID)
		}
	}
	owners, err := b.ownersOf(ctx, known)
	if err != nil {
		return err
	}
	ins := make([]assigner.OpenInput, len(ops))
	inboxes := make([]assigner.Inbox, len(ops))
	for i, o := range ops {
		if inboxes[i], err = b.inboxSettings(ctx, o.e.PhoneNumberID); err != nil {
			return fmt.Errorf("inbox settings: %w", err)
		}
	}
	prev, err := b.previousConversations(ctx, ops, inboxes)
	if err != nil {
		return err
	}
	var teamIDs []*int64
	var agentIDs []int64
	for i, o := range ops {
		ids, team := stickyNeeds(prev[i])
		agentIDs, teamIDs = append(agentIDs, ids...), append(teamIDs, team)
		conv := assigner.Conversation{ID: o.convID, ContactID: o.c.ID, Inbox: o.e.PhoneNumberID,
			Status: assigner.StatusOpen, OpenedAt: openedAt(o.e)}
		msg := assigner.Message{ContactWaID: o.e.Contact.WaID, SentAt: conv.OpenedAt} // a handover opens without a message
		if m := o.e.Message; m != nil {
			msg.Text, msg.ReplyID, msg.ReferralSourceID, msg.HasReferral = m.Body(), m.ReplyID(), m.ReferralSourceID(), m.Referral != nil
		}
		ins[i] = assigner.OpenInput{Now: b.now, Inbox: inboxes[i], Conversation: conv, Owners: owners[o.c.ID], Message: msg,
			PresenceTimeout: b.rules.PresenceTimeout, WelcomeStaleness: b.rules.WelcomeStaleness, Previous: prev[i]}
		if r := assigner.Route(inboxes[i], msg, b.now); r.Step != nil {
			teamIDs = append(teamIDs, r.Step.TeamID)
			agentIDs = append(agentIDs, r.Step.AgentIDs...)
		}
	}
	// The welcome messages depend on nothing the team locks guard: written
	// before the locks are taken, they do not hold the other consumers'
	// openings (the locks last until commit).
	w, err := welcomesOf(ops, ins)
	if err != nil {
		return err
	}
	if err := b.writeWelcomes(ctx, w); err != nil {
		return err
	}
	agents, err := b.agents(ctx, agentIDs)
	if err != nil {
		return err
	}
	if _, err := b.lockTeams(ctx, teamIDs...); err != nil {
		return err
	}
	ds := make([]assigner.Decision, len(ops))
	for i := range ins {
		ins[i].Agents, ins[i].Teams = agents, b.teams
		if ops[i].handover != nil {
			ds[i] = assigner.DecideOpenHandedOver(ins[i], *ops[i].handover)
		} else {
			ds[i] = assigner.DecideOpen(ins[i])
		}
		ds[i].ConversationID = ops[i].convID
		b.remember(ds[i])
		for id, n := range ds[i].OpenCountDelta { // the next decisions see the counts this one changed
			if a, ok := agents[id]; ok {
				a.OpenCount = max(0, a.OpenCount+n)
				agents[id] = a
			}
		}
		if len(ds[i].Added) > 0 {
			b.noteAssigned(openedAt(ops[i].e))
		}
	}
	if err := b.persistOpenings(ctx, ops, ds); err != nil {
		return err
	}
	later := b.wroteLater
	b.wroteLater = nil
	return b.contactWrote(ctx, later)
}

// sqlPersistOpenings writes a batch's opening decisions in one statement,
// one data-modifying part per table: the decisions are taken under the
// team locks, held until commit, and on a busy machine every round trip
// inside that section costs more than the statements themselves (a
// 1,000/s run held the lock 25 ms at the median for about 4 ms of
// statements). The parts touch different rows, so they need not see each
// other's writes.
const sqlPersistOpenings = `WITH ` + sqlTimerParts + `,
	c AS (UPDATE conversations c SET team_id = u.t,
			queued_at = CASE WHEN u.q THEN $25::timestamptz ELSE NULL END, first_response_due_at = u.f::timestamptz
		FROM unnest($8::bigint[], $9::bigint[], $10::boolean[], $11::text[]) AS u(id, t, q, f) WHERE c.id = u.id),
	a AS (INSERT INTO conversation_assignees (conversation_id, agent_id, source, added_at)
		SELECT c, a, s, $25::timestamptz FROM unnest($12::bigint[], $13::bigint[], $14::text[]) AS u(c, a, s)
		ON CONFLICT (conversation_id, agent_id) DO UPDATE SET source = EXCLUDED.source),
	o AS (UPDATE agents SET open_count = GREATEST(0, open_count + u.d)
		FROM unnest($15::bigint[], $16::int[]) AS u(id, d) WHERE agents.id = u.id),
	p AS (UPDATE team_members m SET last_assigned_at = u.at::timestamptz
		FROM unnest($17::bigint[], $18::bigint[], $19::text[]) AS u(t, a, at) WHERE m.team_id = u.t AND m.agent_id = u.a),
	d AS (INSERT INTO decisions (conversation_id, event_id, rule, summary, decision, created_at)
		SELECT c, e, r, s, d::jsonb, $25::timestamptz
		FROM unnest($20::bigint[], $21::text[], $22::text[], $23::text[], $24::text[]) WITH ORDINALITY AS u(c, e, r, s, d, n) ORDER BY n)
	` + sqlTimerNotifyIfSet

// persistOpenings writes opening decisions, but for their welcome
// messages (written before, welcomesOf), with one statement.
func (b *batch) persistOpenings(ctx context.Context, ops []opening, ds []assigner.Decision) error {
	var (
		cIDs            []int64
		cTeams          []sql.NullInt64
		cQueued         []bool
		cDue            []sql.NullString
		aConv, aAgent   []int64
		aSource         []string
		deltas          = map[int64]int{}
		picks           = map[[2]int64]time.Time{}
		dConv           []int64
		dEvent, dRule   []string
		dSummary, dJSON []string
	)
	for i, d := range ds {
		id := ops[i].convID
		if d.TeamID != nil || d.Queued || d.FirstResponseDueAt != nil {
			cIDs = append(cIDs, id)
			t := sql.NullInt64{}
			if d.TeamID != nil {
				t = sql.NullInt64{Int64: *d.TeamID, Valid: true}
			}
			due := sql.NullString{}
			if d.FirstResponseDueAt != nil {
				due = sql.NullString{String: d.FirstResponseDueAt.UTC().Format(time.RFC3339Nano), Valid: true}
			}
			cTeams, cQueued, cDue = append(cTeams, t), append(cQueued, d.Queued), append(cDue, due)
		}
		for _, a := range append(slices.Clone(d.Added), d.Updated...) {
			aConv, aAgent, aSource = append(aConv, id), append(aAgent, a.AgentID), append(aSource, string(a.Source))
		}
		for agent, n := range d.OpenCountDelta {
			deltas[agent] += n
		}
		if d.TeamID != nil {
			for _, agent := range d.Chosen {
				k := [2]int64{*d.TeamID, agent}
				if d.ChosenAt.After(picks[k]) {
					picks[k] = d.ChosenAt
				}
			}
		}
		raw, err := json.Marshal(d)
		if err != nil {
			return err
		}
		dConv, dEvent, dRule = append(dConv, id), append(dEvent, ops[i].e.ID), append(dRule, d.Rule)
		dSummary, dJSON = append(dSummary, d.Summary()), append(dJSON, string(raw))
	}
	tr, err := timerRowsOf(dConv, ds) // dConv[i] is ds[i]'s conversation
	if err != nil {
		return err
	}
	cr := counterRowsOf(deltas, picks)
	args := append(tr.args(),
		pq.Array(cIDs), pq.Array(cTeams), pq.Array(cQueued), nullTexts(cDue),
		pq.Array(aConv), pq.Array(aAgent), texts(aSource),
		pq.Array(cr.agents), pq.Array(cr.deltas), pq.Array(cr.teams), pq.Array(cr.picked), texts(cr.at),
		pq.Array(dConv), texts(dEvent), texts(dRule), texts(dSummary), texts(dJSON),
		b.now.UTC().Format(time.RFC3339Nano))
	if _, err := b.tx.ExecContext(ctx, sqlPersistOpenings, args...); err != nil {
		return fmt.Errorf("openings: %w", err)
	}
	return nil
}

// welcomeRows are the welcome messages a batch's openings queue, one
// entry per conversation in each slice.
type welcomeRows struct {
	conv, contact         []int64
	pn, to, body, payload []string
}

// welcomesOf are the welcome messages of the openings that rule 11 welcomes
// (assigner.Welcomes: the decisions will say the same).
func welcomesOf(ops []opening, ins []assigner.OpenInput) (welcomeRows, error) {
	var w welcomeRows
	for i, o := range ops {
		if ok, _ := assigner.Welcomes(ins[i]); !ok {
			continue
		}
		e, body := o.e, ins[i].Inbox.WelcomeMessage
		msg := whatsapp.OutboundMessage{MessagingProduct: "whatsapp", RecipientType: "individual",
			To: firstNonEmpty(e.Contact.WaID, e.Contact.UserID), Type: "text", Text: &whatsapp.OutboundText{Body: body}}
		payload, err := json.Marshal(msg)
		if err != nil {
			return w, err
		}
		w.conv, w.contact = append(w.conv, o.convID), append(w.contact, o.c.ID)
		w.pn, w.to, w.body = append(w.pn, e.PhoneNumberID), append(w.to, msg.To), append(w.body, body)
		w.payload = append(w.payload, string(payload))
	}
	return w, nil
}

// writeWelcomes stores the welcome messages and their outbox rows in one
// statement.
func (b *batch) writeWelcomes(ctx context.Context, w welcomeRows) error {
	if len(w.conv) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(ctx, `WITH u AS (
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])
			WITH ORDINALITY AS u(conv, contact, pn, rcpt, body, payload, n)),
		m AS (INSERT INTO messages (direction, contact_id, conversation_id, inbox, type, body, context_wamid, sent_at, received_at, status)
			SELECT 'out', contact, conv, pn, 'text', body, '', $7::timestamptz, $7::timestamptz, 'pending' FROM u ORDER BY n
			RETURNING id, conversation_id)
		INSERT INTO outbox (contact_id, contact_key, conversation_id, message_id, phone_number_id, recipient, kind, payload)
		SELECT u.contact, ct.key, u.conv, m.id, u.pn, u.rcpt, 'welcome', u.payload::jsonb
		FROM u JOIN m ON m.conversation_id = u.conv JOIN contacts ct ON ct.id = u.contact ORDER BY u.n`,
		pq.Array(w.conv), pq.Array(w.contact), texts(w.pn), texts(w.to), texts(w.body), texts(w.payload),
		b.now.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("welcome messages: %w", err)
	}
	return nil
}

// counterRows are the openings' open-count changes per agent (agents,
// deltas; in id order) and the teams' last picks (teams, picked, at).
type counterRows struct {
	agents, deltas, teams, picked []int64
	at                            []string
}

func counterRowsOf(deltas map[int64]int, picks map[[2]int64]time.Time) counterRows {
	var r counterRows
	for id := range deltas {
		r.agents = append(r.agents, id)
	}
	slices.Sort(r.agents)
	for _, id := range r.agents {
		r.deltas = append(r.deltas, int64(deltas[id]))
	}
	for k, at := range picks {
		r.teams, r.picked, r.at = append(r.teams, k[0]), append(r.picked, k[1]), append(r.at, at.UTC().Format(time.RFC3339Nano))
	}
	return r
}
