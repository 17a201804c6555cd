package db

import "time"

// Observer takes one measurement at a time; a prometheus.Histogram is
// one. The store takes its metrics this way so that package db imports no
// metrics library (and no HTTP through it).
type Observer interface{ Observe(float64) }

// Instrument records, from now on, the seconds from the message that
// opened a conversation (Meta's timestamp) to the commit that gave the
// conversation, then without assignees, its first (at once by the opening
// rules, or later from the queue or by hand) on assignSeconds (the
// wagw_assignment_seconds histogram). Call it once, before the store is
// shared.
func (s *Store) Instrument(assignSeconds Observer) { s.assignSeconds = assignSeconds }

// noteAssigned records that a conversation opened at openedAt, with no
// assignee until now, got one in this transaction.
func (b *batch) noteAssigned(openedAt time.Time) {
	b.assigned = append(b.assigned, max(0, b.now.Sub(openedAt).Seconds()))
}

// InstrumentSLA counts, from now on, each first-response SLA breach a
// committed transaction recorded, by the conversation's inbox
// (phone_number_id) and team name ("" when it has none): breached is
// called once per breach (cmd/wagw feeds wagw_sla_breaches_total). Call it
// once, before the store is shared.
func (s *Store) InstrumentSLA(breached func(inbox, team string)) { s.slaBreached = breached }

// observe records what a committed transaction did.
func (s *Store) observe(b *batch) {
	if s.slaBreached != nil {
		for _, l := range b.breaches {
			s.slaBreached(l[0], l[1])
		}
	}
	if s.assignSeconds == nil {
		return
	}
	for _, v := range b.assigned {
		s.assignSeconds.Observe(v)
	}
}
