package outage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Dependency is what one role knows of Kafka or Postgres: whether its last
// call worked. It logs once when calls start failing and once when they
// work again (never once per retry), and exports the state as
// wagw_dependency_up{role, dependency}.
type Dependency struct {
	role, name string
	log        *slog.Logger
	up         prometheus.Gauge

	mu    sync.Mutex
	since time.Time // start of the current outage; zero while up
	err   error     // last failure of the current outage
}

// NewDependency starts as up. role and name label the gauge and the logs
// ("relay", "postgres").
func NewDependency(role, name string, log *slog.Logger, reg prometheus.Registerer) *Dependency {
	d := &Dependency{role: role, name: name, log: log, up: dependencyGauge(reg).WithLabelValues(role, name)}
	d.up.Set(1)
	return d
}

// dependencyGauge registers wagw_dependency_up once per registry; the
// roles of one process share it.
func dependencyGauge(reg prometheus.Registerer) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wagw_dependency_up",
		Help: "1 while the role's calls to the dependency work, 0 during an outage (alert when 0 for minutes)."},
		[]string{"role", "dependency"})
	if reg == nil {
		return g
	}
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(g); errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.GaugeVec); ok {
			return existing
		}
	}
	return g
}

// Failed records a failed call; the first failure after a success logs.
func (d *Dependency) Failed(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
	if !d.since.IsZero() {
		return
	}
	d.since = time.Now()
	d.up.Set(0)
	d.log.Warn(d.role+": "+d.name+" calls fail; retrying with backoff until they work", "err", err)
}

// OK records a call that worked; the first success after a failure logs.
func (d *Dependency) OK() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.since.IsZero() {
		return
	}
	d.log.Info(d.role+": "+d.name+" calls work again", "outage", time.Since(d.since).Round(time.Millisecond))
	d.since, d.err = time.Time{}, nil
	d.up.Set(1)
}

// Err is nil while calls work, else what failed and since when.
func (d *Dependency) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.since.IsZero() {
		return nil
	}
	return fmt.Errorf("%s: %s failing for %v: %w", d.role, d.name, time.Since(d.since).Round(time.Second), d.err)
}

// FirstErr is the Err of the first of deps that fails, nil when all work:
// a role's Health over its dependencies.
func FirstErr(deps ...*Dependency) error {
	for _, d := range deps {
		if err := d.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Backoff is a capped exponential backoff with jitter: each wait is
// uniformly random in [cur/2, cur], and cur doubles from Min up to Max.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	if b.cur < b.Min {
		b.cur = b.Min
	}
	d := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(b.cur*2, b.Max)
	return d
}

// Reset starts again from Min.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d; false when ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
