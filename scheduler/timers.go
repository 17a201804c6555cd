package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/outage"
)

// TimerRef is a conversation deadline that fell due, with the key of its
// contact's partition.
type TimerRef struct {
	ConversationID int64
	Kind           assigner.TimerKind
	DueAt          time.Time
	ContactKey     string
}

// DueTimers lists up to limit deadlines due at now, oldest first, and the
// next deadline after now (nil: none).
type DueTimers func(ctx context.Context, now time.Time, limit int) (due []TimerRef, next *time.Time, err error)

// TimersConfig configures Timers.
type TimersConfig struct {
	// Wake delivers a signal whenever a deadline was set (Postgres NOTIFY
	// on commit): it may be nearer than the one Timers waits for.
	Wake <-chan struct{}
	// Interval is the longest wait between two looks, the safety net when
	// a signal is lost. Default 30 s.
	Interval time.Duration
	// Republish is how long a published deadline that is still due waits
	// before it is published again (its command id is the same, so the
	// consumer applies it once). Default 2 s.
	Republish time.Duration
	// RetryMin bounds the first wait while Postgres or Kafka fail; the
	// wait doubles up to Interval. Default 50 ms.
	RetryMin time.Duration
	Now      func() time.Time
	// Logger. Required.
	Logger *slog.Logger
	// Registerer for metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Timers turns conversation deadlines that fell due into timer commands on
// the contacts' own partitions (DESIGN §6 rule 12). It sleeps until the
// next deadline, and wakes early when a nearer one is set; what the
// deadline does is decided by the consumer, in the contact's order, so a
// reply and its deadline racing are decided once.
type Timers struct {
	cfg       TimersConfig
	due       DueTimers
	pub       Publisher
	published map[string]time.Time // command ids published recently
	fired     *prometheus.CounterVec
	pg, kafka *outage.Dependency
}

// NewTimers builds the deadline loop; due lists what fell due.
func NewTimers(cfg TimersConfig, due DueTimers, pub Publisher) *Timers {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Republish <= 0 {
		cfg.Republish = 2 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Timers{cfg: cfg, due: due, pub: pub, published: map[string]time.Time{},
		pg:    outage.NewDependency("timers", "postgres", cfg.Logger, cfg.Registerer),
		kafka: outage.NewDependency("timers", "kafka", cfg.Logger, cfg.Registerer),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_timers_fired_total",
			Help: "Conversation deadlines published as commands when they fell due, by kind."}, []string{"kind"})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(t.fired)
	}
	return t
}

// Health is nil while the loop's calls to Postgres and Kafka work, and
// otherwise says which fail and since when (for /readyz).
func (t *Timers) Health() error { return outage.FirstErr(t.pg, t.kafka) }

// Run publishes deadlines as they fall due until ctx is cancelled. While
// Postgres or Kafka fail it backs off and resumes by itself.
func (t *Timers) Run(ctx context.Context) error {
	return runLoop(ctx, t.once, t.cfg.Wake, t.cfg.Interval, t.cfg.RetryMin)
}

const timersBatch = 500

// once publishes the deadlines due now that were not published recently,
// and says how long to wait before the next look.
func (t *Timers) once(ctx context.Context) (time.Duration, error) {
	now := t.cfg.Now()
	due, next, err := t.due(ctx, now, timersBatch)
	if err != nil {
		t.pg.Failed(fmt.Errorf("list due deadlines: %w", err))
		return 0, err
	}
	t.pg.OK()
	for id, at := range t.published {
		if now.Sub(at) >= t.cfg.Republish {
			delete(t.published, id)
		}
	}
	var events []event.Envelope
	var kinds []assigner.TimerKind
	for _, r := range due {
		cmd := event.TimerCommand{ConversationID: r.ConversationID, Kind: r.Kind, DueAt: r.DueAt}
		id := event.TimerID(cmd)
		if _, recent := t.published[id]; recent {
			continue // still on its way to the consumer
		}
		env, err := event.NewCommand(id, r.ContactKey, cmd, now)
		if err != nil {
			return 0, err // a timer command always encodes
		}
		events, kinds = append(events, env), append(kinds, r.Kind)
	}
	if len(events) > 0 {
		if err := t.pub.Publish(ctx, events); err != nil {
			t.kafka.Failed(fmt.Errorf("publish deadlines: %w", err))
			return 0, err
		}
		t.kafka.OK()
		for i, e := range events {
			t.published[e.ID] = now
			t.fired.WithLabelValues(string(kinds[i])).Inc()
		}
	}
	wait := t.cfg.Interval
	switch {
	case len(due) == timersBatch && len(events) > 0:
		wait = 0 // more are due
	case len(due) > 0:
		wait = t.cfg.Republish // those not applied yet are published again
	}
	if next != nil {
		wait = min(wait, next.Sub(now))
	}
	return wait, nil
}
