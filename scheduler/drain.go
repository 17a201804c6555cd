package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/outage"
)

// QueueRef is a queued conversation that may be assignable now.
type QueueRef struct {
	ConversationID int64
	ContactKey     string
	Expired        bool
}

// Publisher puts the drainer's commands on the contacts' partitions.
type Publisher interface {
	Publish(ctx context.Context, events []event.Envelope) error
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
	// Stats reads the queue's length and oldest conversation for the
	// metrics, on each look at the queue. Nil: not exported.
	Stats func(ctx context.Context) (QueueStats, error)
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
	unsent    map[int64]event.Envelope // commands Kafka has not taken yet, by conversation
	expired   prometheus.Counter
	queue     *queueGauges
	pg, kafka *outage.Dependency
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
		unsent: map[int64]event.Envelope{},
		pg:     outage.NewDependency("queue drainer", "postgres", cfg.Logger, cfg.Registerer),
		kafka:  outage.NewDependency("queue drainer", "kafka", cfg.Logger, cfg.Registerer),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_queue_expired_total",
			Help: "Queued conversations that waited past the queue expiry and went to the inbox's fallback (alert on any)."}),
		queue: newQueueGauges(cfg.Registerer, cfg.Now)}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(d.expired)
	}
	return d
}

// Health is nil while the drainer's calls to Postgres and Kafka work, and
// otherwise says which fail and since when (for /readyz).
func (d *Drainer) Health() error {
	return outage.FirstErr(d.pg, d.kafka)
}

// Run drains until ctx is cancelled. While Postgres or Kafka fail it backs
// off (from RetryMin, doubling up to Interval) and resumes by itself.
func (d *Drainer) Run(ctx context.Context) error {
	return runLoop(ctx, func(ctx context.Context) (time.Duration, error) { return d.cfg.Interval, d.once(ctx) },
		d.cfg.Wake, d.cfg.Interval, d.cfg.RetryMin)
}

// once publishes a drain command for each candidate that has none on its
// way; commands Kafka refused are kept and published with the next ones.
func (d *Drainer) once(ctx context.Context) error {
	now := d.cfg.Now()
	refs, err := d.store(ctx, 500, now)
	if err == nil {
		err = d.sampleQueue(ctx)
	} else {
		err = fmt.Errorf("list queued conversations: %w", err)
	}
	if err != nil {
		d.pg.Failed(err)
		return err
	}
	d.pg.OK()
	for id, at := range d.published {
		if now.Sub(at) > 2*time.Second {
			delete(d.published, id)
		}
	}
	for _, r := range refs {
		if _, recent := d.published[r.ConversationID]; recent {
			continue // its drain command is probably still on its way
		}
		cmd := event.DrainCommand{ConversationID: r.ConversationID, Expire: r.Expired}
		env, err := event.NewCommand(event.ScheduledID(cmd, r.ConversationID, now), r.ContactKey, cmd, now)
		if err != nil {
			return err // a drain command always encodes
		}
		d.unsent[r.ConversationID] = env
		d.published[r.ConversationID] = now
	}
	if len(d.unsent) == 0 {
		return nil
	}
	events := make([]event.Envelope, 0, len(d.unsent))
	for _, e := range d.unsent {
		events = append(events, e)
	}
	if err := d.pub.Publish(ctx, events); err != nil {
		d.kafka.Failed(fmt.Errorf("publish drain commands: %w", err))
		return err
	}
	d.kafka.OK()
	for id, e := range d.unsent {
		if e.Command.Type == event.CmdExpire {
			d.expired.Inc()
			d.log.Warn("a queued conversation waited past the queue expiry", "conversation_id", id)
		}
		delete(d.unsent, id)
	}
	return nil
}
