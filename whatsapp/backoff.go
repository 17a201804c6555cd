package whatsapp

import (
	"math/rand/v2"
	"time"
)

// Backoff returns the wait before retry number attempt (0 for the first
// retry): a uniformly random duration in [0, BackoffCeiling(attempt,
// base, max)) ("full jitter").
func Backoff(attempt int, base, max time.Duration) time.Duration {
	return rand.N(BackoffCeiling(attempt, base, max))
}

// BackoffCeiling is the longest wait before retry number attempt (0 for
// the first retry) of a capped exponential backoff: min(max,
// base·2^attempt). base <= 0 means 1 s; max <= 0 means no cap (the
// doubling stops short of overflowing). Callers that jitter with their own
// random source (the simulator, seeded) start from it.
func BackoffCeiling(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	if attempt < 0 {
		attempt = 0
	}
	ceil := base
	for i := 0; i < attempt; i++ {
		if max > 0 && ceil >= max {
			break
		}
		if ceil > time.Duration(1<<62)/2 {
			break
		}
		ceil *= 2
	}
	if max > 0 && ceil > max {
		ceil = max
	}
	return ceil
}
