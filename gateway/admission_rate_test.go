package gateway_test

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/gateway"
)

// TestAdmissionFollowsTheAnswerRate: MaxInFlight 1,000, MaxWait 1 s, on
// the gateway's clock. Before a rate is measured the bound is
// MaxInFlight; after 1,200 webhooks answered in two seconds it is 600
// (rate × MaxWait); after five seconds with 600 more answered (120/s) it
// is the floor (512). Each bound is read from wagw_webhook_inflight_limit and
// proven by holding that many webhooks in flight: one more is shed.
func TestAdmissionFollowsTheAnswerRate(t *testing.T) {
	pub, _ := newHeldPublisher(t, 1024, 1024)
	var mu sync.Mutex
	clock := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	reg := prometheus.NewRegistry()
	app, err := gateway.New(gateway.Config{AppSecrets: [][]byte{[]byte(secret)}, VerifyToken: verifyToken, DeadLetterTopic: dlqTopic,
		MaxInFlight: 1000, MaxWait: time.Second, Now: now, Logger: slog.New(slog.DiscardHandler), Registry: reg}, pub, gateway.Stores{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	// answer has k webhooks answered 200, all k in flight at once; with
	// full set, one more sent while they are is answered 503.
	answer := func(k int, full bool) {
		t.Helper()
		var wg sync.WaitGroup
		for range k {
			n++
			body := messageWithStatus(fmt.Sprintf("wamid.ADMIT.%d", n), "1749416400")
			wg.Add(1)
			go func() {
				defer wg.Done()
				if resp, err := app.Test(signed(body, secret), 20000); err != nil || resp.StatusCode != 200 {
					t.Errorf("webhook taken in: %v %v", resp, err)
				}
			}()
			<-pub.entered
		}
		if full {
			n++
			resp, err := app.Test(signed(messageWithStatus(fmt.Sprintf("wamid.ADMIT.%d", n), "1749416400"), secret), 5000)
			if err != nil || resp.StatusCode != 503 {
				t.Errorf("webhook beyond %d in flight: %v %v, want 503", k, resp, err)
			}
		}
		for range k {
			pub.open <- struct{}{}
		}
		wg.Wait()
	}
	bound := func() float64 { return gathered(t, reg, "wagw_webhook_inflight_limit") }

	if b := bound(); b != 1000 {
		t.Fatalf("bound before any answer: %v, want MaxInFlight, 1,000", b)
	}
	answer(1000, true)
	answer(200, false) // 1,200 answered in the clock's first two seconds
	advance(2 * time.Second)
	answer(600, true)
	if b := bound(); b != 600 {
		t.Fatalf("bound after 1,200 answers in 2 s: %v, want 600", b)
	}
	advance(5 * time.Second)
	answer(512, true)
	if b := bound(); b != 512 {
		t.Fatalf("bound after 600 answers in 5 s: %v, want the floor 512", b)
	}
}
