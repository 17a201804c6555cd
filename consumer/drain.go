package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/whatsapp"
)

// QueueRef is a queued conversation that may be assignable now.
type QueueRef struct {
	ConversationID int64
	ContactKey     string
	Expired        bool
}

// DrainerConfig configures a Drainer.
type DrainerConfig struct {
	// Wake delivers a signal whenever an agent may have become eligible
	// (Postgres NOTIFY on commit). Required for prompt assignment.
	Wake <-chan struct{}
	// Interval is the safety net when no signal comes. Default 5 s.
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
	// Registerer for metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Drainer turns "an agent may be free" into drain commands on the queued
// conversations' own partitions (DESIGN §6 rule 10): the assignment itself
// is decided by the consumer, in the contact's order, under the team lock.
type Drainer struct {
	cfg       DrainerConfig
	store     func(ctx context.Context, limit int, now time.Time) ([]QueueRef, error)
	pub       Publisher
	log       *slog.Logger
	published map[int64]time.Time
	expired   prometheus.Counter
}

// NewDrainer builds a drainer; candidates lists what may be assignable.
func NewDrainer(cfg DrainerConfig, candidates func(ctx context.Context, limit int, now time.Time) ([]QueueRef, error), pub Publisher) *Drainer {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Drainer{cfg: cfg, store: candidates, pub: pub, log: cfg.Logger, published: map[int64]time.Time{},
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_queue_expired_total",
			Help: "Queued conversations that waited past the queue expiry and went to the inbox's fallback (alert on any)."})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(d.expired)
	}
	return d
}

// Run drains until ctx is cancelled.
func (d *Drainer) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		if err := d.once(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("queue drain failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.cfg.Wake:
		case <-t.C:
		}
	}
}

func (d *Drainer) once(ctx context.Context) error {
	now := d.cfg.Now()
	refs, err := d.store(ctx, 500, now)
	if err != nil {
		return err
	}
	for id, at := range d.published {
		if now.Sub(at) > 2*time.Second {
			delete(d.published, id)
		}
	}
	var events []whatsapp.Envelope
	for _, r := range refs {
		if _, recent := d.published[r.ConversationID]; recent {
			continue // its drain command is probably still on its way
		}
		typ := assigner.CmdDrain
		if r.Expired {
			typ = assigner.CmdExpire
			d.expired.Inc()
			d.log.Warn("a queued conversation waited past the queue expiry", "conversation_id", r.ConversationID)
		}
		data, _ := json.Marshal(assigner.DrainCommand{ConversationID: r.ConversationID})
		events = append(events, whatsapp.Envelope{Version: whatsapp.EnvelopeVersion,
			ID:   fmt.Sprintf("%s:%d:%d", typ, r.ConversationID, now.UnixNano()),
			Kind: whatsapp.KindCommand, ContactKey: r.ContactKey, OccurredAt: now, ReceivedAt: now,
			Command: &whatsapp.Command{Type: typ, Data: data}})
		d.published[r.ConversationID] = now
	}
	if len(events) == 0 {
		return nil
	}
	return d.pub.Publish(ctx, events)
}
