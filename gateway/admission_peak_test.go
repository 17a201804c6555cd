package gateway

import (
	"testing"
	"time"
)

// TestAdmissionRidesOutAPause: MaxWait 500 ms, MaxInFlight 4,000. For the
// first 2 s of webhooks the bound is MaxInFlight (a cold process); then,
// at 5,000 answers a second, it is 2,500. A window in which the answers
// pause (40 in 250 ms) leaves it there: the webhooks that piled up during
// the pause would otherwise be shed though none waits MaxWait. Once the
// rate has stayed at 1,500/s for longer than admitPeak (2 s), the bound is 750.
func TestAdmissionRidesOutAPause(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	a := newAdmission(4000, 500*time.Millisecond)
	now := t0
	// window answers n webhooks over the next admitWindow (the last of
	// them the one admitted at its end) and returns the bound that one
	// was admitted under.
	window := func(n int) int64 {
		for range n - 1 {
			a.inFlight.Add(1)
			a.done()
		}
		now = now.Add(admitWindow)
		if !a.take(now) {
			t.Fatalf("at %v: one webhook in flight was shed under %d", now.Sub(t0), a.limit.Load())
		}
		a.done()
		return a.limit.Load()
	}
	for range 8 { // the first 2 s after the first webhook: warming up
		if b := window(1250); b != 4000 {
			t.Fatalf("bound in the first 2 s: %d, want MaxInFlight, 4,000", b)
		}
	}
	if b := window(1250); b != 2500 {
		t.Fatalf("bound at 5,000/s: %d, want 2,500", b)
	}
	if b := window(40); b != 2500 {
		t.Fatalf("bound after a pause of the answers: %d, want 2,500 still", b)
	}
	for range 8 { // 2 s
		window(375)
	}
	if b := window(375); b != 750 {
		t.Fatalf("bound after 2 s at 1,500/s: %d, want 750", b)
	}
}
