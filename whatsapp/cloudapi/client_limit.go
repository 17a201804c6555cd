package cloudapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// bucketLimiter is a set of token buckets, one per key, created on first use
// and evicted once idle long enough to be full again (a full bucket is the
// same as a new one, so eviction never changes behaviour). A reservation may
// drive a bucket negative; the caller then waits for the debt to refill, so
// waiters are served in arrival order.
type bucketLimiter struct {
	rate  float64 // tokens per second; <= 0 disables the limiter
	burst float64

	mu        sync.Mutex
	buckets   map[string]*tokenBucket
	lastSweep time.Time
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

// sweepEvery is how often reserve looks for idle buckets to evict.
const sweepEvery = time.Minute

func newBucketLimiter(rate float64, burst int) *bucketLimiter {
	if burst < 1 {
		burst = 1
	}
	return &bucketLimiter{rate: rate, burst: float64(burst), buckets: make(map[string]*tokenBucket)}
}

func (l *bucketLimiter) enabled() bool { return l != nil && l.rate > 0 }

// refill brings b up to now and returns its tokens.
func (l *bucketLimiter) refill(b *tokenBucket, now time.Time) float64 {
	if el := now.Sub(b.last); el > 0 {
		b.tokens += el.Seconds() * l.rate
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
		b.last = now
	}
	return b.tokens
}

// reserve takes one token for key and returns how long the caller must
// wait before using it.
func (l *bucketLimiter) reserve(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &tokenBucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	t := l.refill(b, now) - 1
	b.tokens = t
	if t >= 0 {
		return 0
	}
	return time.Duration(-t / l.rate * float64(time.Second))
}

// release gives back a token taken by reserve and not used.
func (l *bucketLimiter) release(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		l.refill(b, now)
		b.tokens++
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
	}
}

// sweep evicts buckets that are full again. Called with mu held.
func (l *bucketLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if l.refill(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// size returns the number of live buckets (for tests).
func (l *bucketLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// wait takes a token for key, waiting for it while ctx allows. When the
// wait would end after ctx's deadline it returns ErrPaced at once, without
// taking the token, so the caller can reschedule instead of blocking.
func (l *bucketLimiter) wait(ctx context.Context, key, what string) error {
	if !l.enabled() {
		return nil
	}
	now := time.Now()
	d := l.reserve(key, now)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && now.Add(d).After(dl) {
		l.release(key, now)
		return whatsapp.ClientError(whatsapp.Throttled, false, d, fmt.Errorf("%w: %s needs %v, past the deadline", whatsapp.ErrPaced, what, d.Round(time.Millisecond)))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.release(key, time.Now())
		return whatsapp.ClientError(whatsapp.Transient, false, 0, fmt.Errorf("whatsapp: waiting for the %s: %w", what, ctx.Err()))
	}
}
