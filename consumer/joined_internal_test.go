package consumer

import (
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// TestStartGateOpensWhenAllJoinedOrAfterItsWait: the gate says how many
// workers have joined, opens once all have, and opens anyway once its
// wait is over; open, it stays open.
func TestStartGateOpensWhenAllJoinedOrAfterItsWait(t *testing.T) {
	g := newStartGate(2, time.Hour)
	g.joined[0].Store(true)
	if err := g.err(); err == nil || !strings.Contains(err.Error(), "1 of 2 workers") {
		t.Fatalf("one of two joined: %v", err)
	}
	g.joined[1].Store(true)
	if err := g.err(); err != nil {
		t.Fatalf("both joined: %v", err)
	}
	g.joined[1].Store(false)
	if err := g.err(); err != nil {
		t.Fatalf("open, then a worker rejoining: %v", err)
	}

	late := newStartGate(2, 20*time.Millisecond)
	if late.err() == nil {
		t.Fatal("open before anyone joined and before its wait was over")
	}
	time.Sleep(30 * time.Millisecond)
	if err := late.err(); err != nil {
		t.Fatalf("after its wait: %v", err)
	}
}

// TestStartGateWaitsAtMostMaxStartWait: a long session timeout does not
// keep readiness shut for as long; a shorter one bounds the wait.
func TestStartGateWaitsAtMostMaxStartWait(t *testing.T) {
	for _, tc := range []struct{ session, want time.Duration }{
		{time.Minute, maxStartWait},
		{time.Second, time.Second},
	} {
		c := New(Config{Workers: 2, SessionTimeout: tc.session, Logger: wagwtest.QuietLogger()}, nil, nil)
		if c.start.wait != tc.want {
			t.Errorf("session timeout %v: the gate waits %v; want %v", tc.session, c.start.wait, tc.want)
		}
	}
}
