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
// long each waits, so the bound on webhooks in flight is rate × MaxWait,
// never under admitFloor (a burst after a quiet spell, when the measured
// rate says nothing) and never over MaxInFlight (memory). The rate is the
// highest of the rates measured over each admitWindow that ended in the
// last admitPeak: what the gateway can answer, not what it answered
// during a pause. A pause of its answers (a collection, a slow flush)
// shorter than MaxWait then sheds nothing, while a lasting fall of the
// rate lowers the bound after admitPeak. For the first admitPeak after
// its first webhook the bound is MaxInFlight: a process just started is
// at its slowest (its heap, pools and caches still growing: at 5,000
// webhooks/s the p99 of its first second's answers was 170 to 440 ms in
// four runs), the rate of its first windows is the rate of a cold
// process, and a backlog of Meta's retries may come all at once. (With
// the last window's rate alone and the bound at the floor until then,
// 20 s runs at 5,000 webhooks/s with the ceiling out of the way shed 300
// to 1,367 of 100,000 though none waited 600 ms.)
const (
	// DefaultMaxWait is how long a webhook should wait for its answer
	// once taken in (Config.MaxWait).
	DefaultMaxWait = 500 * time.Millisecond
	// admitFloor is the bound whatever the measured rate (at most
	// MaxInFlight).
	admitFloor = 512
	// admitWindow is how often the bound follows the measured rate.
	admitWindow = 250 * time.Millisecond
	// admitPeak is how long a window's rate counts for the bound.
	admitPeak = 2 * time.Second
)

// admission bounds the webhooks in flight.
type admission struct {
	floor, ceiling int64
	wait           time.Duration
	inFlight       atomic.Int64
	answered       atomic.Int64 // webhooks taken in and answered, ever
	limit          atomic.Int64 // the bound now
	mu             sync.Mutex   // guards the window; held by one refresh at a time
	first          time.Time    // the first webhook's time; zero until then
	windowStart    time.Time
	windowAnswered int64
	recent         []windowRate // the windows that ended in the last admitPeak, oldest first
}

// windowRate is the answer rate over one window and when it ended.
type windowRate struct {
	end  time.Time
	rate float64
}

func newAdmission(ceiling int, wait time.Duration) *admission {
	a := &admission{floor: min(admitFloor, int64(ceiling)), ceiling: int64(ceiling), wait: wait}
	a.limit.Store(a.ceiling)
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
	if a.first.IsZero() { // the first webhook: the first window begins
		a.first, a.windowStart, a.windowAnswered = now, now, a.answered.Load()
		return
	}
	elapsed := now.Sub(a.windowStart)
	if elapsed < admitWindow {
		return
	}
	answered := a.answered.Load()
	a.recent = append(a.recent, windowRate{end: now, rate: float64(answered-a.windowAnswered) / elapsed.Seconds()})
	a.windowStart, a.windowAnswered = now, answered
	for now.Sub(a.recent[0].end) > admitPeak { // the last one ends now
		a.recent = a.recent[1:]
	}
	if now.Sub(a.first) < admitPeak {
		return // still warming up: the bound stays MaxInFlight
	}
	peak := 0.0
	for _, w := range a.recent {
		peak = max(peak, w.rate)
	}
	a.limit.Store(boundFor(peak, a.wait, a.floor, a.ceiling))
}

// boundFor is rate × wait webhooks, within [floor, ceiling].
func boundFor(rate float64, wait time.Duration, floor, ceiling int64) int64 {
	return min(ceiling, max(floor, int64(rate*wait.Seconds())))
}
