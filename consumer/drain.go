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
	// RetryMin bounds the first wait while Postgres or Kafka fail; the
	// wait doubles up to Interval. Default 50 ms.
	RetryMin time.Duration
	Now      func() time.Time
	// Logger. Required.
	Logger *slog.Logger
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
	unsent    map[int64]whatsapp.Envelope // commands Kafka has not taken yet, by conversation
	expired   prometheus.Counter
	pg, kafka *dependency
}

// NewDrainer builds a drainer; candidates lists what may be assignable.
func NewDrainer(cfg DrainerConfig, candidates func(ctx context.Context, limit int, now time.Time) ([]QueueRef, error), pub Publisher) *Drainer {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Drainer{cfg: cfg, store: candidates, pub: pub, log: cfg.Logger, published: map[int64]time.Time{},
		unsent: map[int64]whatsapp.Envelope{},
		pg:     newDependency("queue drainer", "postgres", cfg.Logger, cfg.Registerer),
		kafka:  newDependency("queue drainer", "kafka", cfg.Logger, cfg.Registerer),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_queue_expired_total",
			Help: "Queued conversations that waited past the queue expiry and went to the inbox's fallback (alert on any)."})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(d.expired)
	}
	return d
}

// Health is nil while the drainer's calls to Postgres and Kafka work, and
// otherwise says which fail and since when (for /readyz).
func (d *Drainer) Health() error {
	if err := d.pg.Err(); err != nil {
		return err
	}
	return d.kafka.Err()
}

// Run drains until ctx is cancelled. While Postgres or Kafka fail it backs
// off (from RetryMin, doubling up to Interval) and resumes by itself.
func (d *Drainer) Run(ctx context.Context) error {
	wait := backoff{min: d.cfg.RetryMin, max: d.cfg.Interval}
	for {
		if err := d.once(ctx); err != nil && ctx.Err() == nil {
			if !sleep(ctx, wait.next()) {
				return nil
			}
			continue
		}
		wait.reset()
		t := time.NewTimer(d.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.cfg.Wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// once publishes a drain command for each candidate that has none on its
// way; commands Kafka refused are kept and published with the next ones.
func (d *Drainer) once(ctx context.Context) error {
	now := d.cfg.Now()
	refs, err := d.store(ctx, 500, now)
	if err != nil {
		d.pg.failed(fmt.Errorf("list queued conversations: %w", err))
		return err
	}
	d.pg.ok()
	for id, at := range d.published {
		if now.Sub(at) > 2*time.Second {
			delete(d.published, id)
		}
	}
	for _, r := range refs {
		if _, recent := d.published[r.ConversationID]; recent {
			continue // its drain command is probably still on its way
		}
		typ := assigner.CmdDrain
		if r.Expired {
			typ = assigner.CmdExpire
		}
		data, _ := json.Marshal(assigner.DrainCommand{ConversationID: r.ConversationID})
		d.unsent[r.ConversationID] = whatsapp.Envelope{Version: whatsapp.EnvelopeVersion,
			ID:   fmt.Sprintf("%s:%d:%d", typ, r.ConversationID, now.UnixNano()),
			Kind: whatsapp.KindCommand, ContactKey: r.ContactKey, OccurredAt: now, ReceivedAt: now,
			Command: &whatsapp.Command{Type: typ, Data: data}}
		d.published[r.ConversationID] = now
	}
	if len(d.unsent) == 0 {
		return nil
	}
	events := make([]whatsapp.Envelope, 0, len(d.unsent))
	for _, e := range d.unsent {
		events = append(events, e)
	}
	if err := d.pub.Publish(ctx, events); err != nil {
		d.kafka.failed(fmt.Errorf("publish drain commands: %w", err))
		return err
	}
	d.kafka.ok()
	for id, e := range d.unsent {
		if e.Command.Type == assigner.CmdExpire {
			d.expired.Inc()
			d.log.Warn("a queued conversation waited past the queue expiry", "conversation_id", id)
		}
		delete(d.unsent, id)
	}
	return nil
}
