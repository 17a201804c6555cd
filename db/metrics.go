package db

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Instrument registers the store's metrics on reg and records them from
// now on. Call it once, before the store is shared.
func (s *Store) Instrument(reg prometheus.Registerer) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wagw_assignment_seconds",
		Help: "Time from the message that opened a conversation (Meta's timestamp) to the commit that gave the conversation, " +
			"then without assignees, its first: at once by the opening rules, or later from the queue or by hand.",
		Buckets: []float64{0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}})
	reg.MustRegister(h)
	s.assignSeconds = h
}

// noteAssigned records that a conversation opened at openedAt, with no
// assignee until now, got one in this transaction.
func (b *batch) noteAssigned(openedAt time.Time) {
	b.assigned = append(b.assigned, max(0, b.now.Sub(openedAt).Seconds()))
}

// observe records what a committed transaction did.
func (s *Store) observe(b *batch) {
	if s.assignSeconds == nil {
		return
	}
	for _, v := range b.assigned {
		s.assignSeconds.Observe(v)
	}
}
