package gateway

import (
	"sync"
	"sync/atomic"
	"time"
)

// Admission of signed webhooks. A webhook taken in waits for its Kafka
// write; one shed is answered 503 with Retry-After at once and Meta
// retries it later, so shedding costs a customer's message its retry
// delay, and taking in too many makes every answer slow. By Little's law
// the webhooks in flight are the rate the gateway answers them times how
// long each waits, so the bound on webhooks in flight follows the rate
// measured over the last admitWindow: rate × MaxWait, never under
// admitFloor (a burst after a quiet spell, when the measured rate says
// nothing) and never over MaxInFlight (memory).
const (
	// DefaultMaxWait is how long a webhook should wait for its answer
	// once taken in (Config.MaxWait).
	DefaultMaxWait = 500 * time.Millisecond
	// admitFloor is the bound whatever the measured rate (at most
	// MaxInFlight).
	admitFloor = 512
	// admitWindow is how often the bound follows the measured rate.
	admitWindow = 250 * time.Millisecond
)

// admission bounds the webhooks in flight.
type admission struct {
	floor, ceiling int64
	wait           time.Duration
	inFlight       atomic.Int64
	answered       atomic.Int64 // webhooks taken in and answered, ever
	limit          atomic.Int64 // the bound now
	mu             sync.Mutex   // guards the window; held by one refresh at a time
	windowStart    time.Time
	windowAnswered int64
}

func newAdmission(ceiling int, wait time.Duration, now time.Time) *admission {
	a := &admission{floor: min(admitFloor, int64(ceiling)), ceiling: int64(ceiling), wait: wait, windowStart: now}
	a.limit.Store(a.floor)
	return a
}

// take admits one webhook unless the bound is reached; a webhook taken
// in is given back with done.
func (a *admission) take(now time.Time) bool {
	a.refresh(now)
	if a.inFlight.Add(1) > a.limit.Load() {
		a.inFlight.Add(-1)
		return false
	}
	return true
}

func (a *admission) done() {
	a.inFlight.Add(-1)
	a.answered.Add(1)
}

// refresh sets the bound from the rate of answers since the window began,
// once the window is admitWindow old (one caller does; the others go on).
func (a *admission) refresh(now time.Time) {
	if !a.mu.TryLock() {
		return
	}
	defer a.mu.Unlock()
	elapsed := now.Sub(a.windowStart)
	if elapsed < admitWindow {
		return
	}
	answered := a.answered.Load()
	rate := float64(answered-a.windowAnswered) / elapsed.Seconds()
	a.windowStart, a.windowAnswered = now, answered
	a.limit.Store(boundFor(rate, a.wait, a.floor, a.ceiling))
}

// boundFor is rate × wait webhooks, within [floor, ceiling].
func boundFor(rate float64, wait time.Duration, floor, ceiling int64) int64 {
	return min(ceiling, max(floor, int64(rate*wait.Seconds())))
}
