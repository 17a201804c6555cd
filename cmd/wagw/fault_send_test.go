package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
)

// Faults on the sending side: the Cloud API failing, the relay dying
// mid-send, Postgres away while sends are in flight. The simulator counts
// every send it accepts; CheckSends holds them against the outbox.

// TestFaultCloudAPIStorms answers every send with Meta's rate-limit error
// (130429, "429"), then every send with HTTP 5xx, while welcomes and agent
// replies flow; afterwards every row is sent, once, in order.
func TestFaultCloudAPIStorms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	storm := faultLen(5*time.Second, 20*time.Second)
	r := newFaultRig(t, rigOptions{kafka: true, sim: true})
	procs := map[string]*childProc{"gateway": r.start("gateway", "gateway"), "consumer": r.start("consumer", "consumer"),
		"relay": r.start("relay", "relay")}
	r.setup(ctx)
	load := r.startLoad(ctx, loadSpec{rate: 100, duration: 2*storm + 6*time.Second, contacts: 300, seed: 25})
	time.Sleep(3 * time.Second)
	stop := make(chan struct{})
	replies := r.replyWhile(stop)
	// Rate limiting first: it is no breaker failure, so every retry reaches
	// the Cloud API; the 5xx storm then opens the breaker.
	r.sim.SetFaults(simulator.Faults{ErrorCodes: map[int]float64{130429: 1}})
	time.Sleep(storm)
	r.sim.SetFaults(simulator.Faults{Error5xxRate: 1})
	time.Sleep(storm)
	r.sim.SetFaults(simulator.Faults{})
	end := time.Now()
	close(stop)
	sent := replies()
	v := r.verify(ctx, load, verifyExpect{welcome: true, assigned: true, statuses: true, settle: 90 * time.Second})
	sends := r.sendsSettled(90 * time.Second)
	for _, x := range sends.Resent {
		t.Errorf("row %d (%s) accepted %d times by the Cloud API: %v", x.Row.ID, x.Row.Kind, len(x.Accepted), x.Accepted)
	}
	r.alive(procs)
	stats := r.sim.Stats()
	t.Logf("storms: %d sends answered 130429, %d answered 5xx; %d agent replies queued; outbox %v", stats["injected_130429"],
		stats["injected_5xx"], sent, sends.States)
	faultReport(t, fmt.Sprintf("Cloud API 429 (130429) storm, then 5xx storm, %v each, while welcomes and replies flow", storm),
		fmt.Sprintf("relay backed off and retried (%d sends rate-limited, %d answered 5xx; the breaker opened on the 5xx); %d welcomes and %d replies each accepted once, in order",
			stats["injected_130429"], stats["injected_5xx"], v.Conversations, sent),
		v, "every row sent "+after(sends.LastAccepted.Sub(end))+" after the storms")
}

// replyWhile sends an agent reply (admin token) to a different open
// conversation every 300 ms until stop is closed; the returned func waits
// and returns how many replies were accepted.
func (r *faultRig) replyWhile(stop <-chan struct{}) func() int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	var failures []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		replied := map[int64]bool{}
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var ids []int64
			if err := r.conn.Select(&ids, `SELECT id FROM conversations WHERE status = 'open' ORDER BY id`); err != nil {
				continue
			}
			for _, id := range ids {
				if replied[id] {
					continue
				}
				replied[id] = true
				resp, err := apiCall(r.base, http.MethodPost, "/v1/conversations/"+strconv.FormatInt(id, 10)+"/messages", faultAdminToken,
					map[string]any{"text": fmt.Sprintf("fault reply %d to conversation %d", n, id)}, nil)
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case resp.Status/100 == 2:
					accepted++
				default:
					failures = append(failures, resp.String())
				}
				mu.Unlock()
				break
			}
		}
	}()
	return func() int {
		wg.Wait()
		for _, f := range failures {
			r.t.Errorf("agent reply refused: %s", f)
		}
		return accepted
	}
}

// simInFlight is how many sends the simulator has received and not yet
// answered.
func simInFlight(sim *simulator.Simulator) int64 {
	st := sim.Stats()
	n := st["requests"]
	for _, k := range []string{"accepted", "marked_read", "unauthorized", "invalid", "rate_limited", "pair_rate_limited",
		"timeout", "injected_5xx", "injected_error"} {
		n -= st[k]
	}
	return n
}

// waitInFlight waits until the simulator holds at least one send.
func (r *faultRig) waitInFlight(what string) int64 {
	r.t.Helper()
	var n int64
	wagwtest.WaitEvery(r.t, 20*time.Second, 5*time.Millisecond, what, func() (bool, string) {
		n = simInFlight(r.sim)
		return n > 0, fmt.Sprintf("%d sends in flight", n)
	})
	return n
}

// maxRowID is the newest outbox row.
func (r *faultRig) maxRowID() int64 {
	return int64(sqlCount(r.t, r.conn, `SELECT COALESCE(max(id), 0) FROM outbox`))
}

// TestFaultRelayKill kills `wagw relay` with SIGKILL while sends are in
// flight and starts it again: the rows it held are sent after their lease;
// only a send in flight at the kill may be accepted twice (the Cloud API
// has no idempotency key), never one the relay had recorded.
func TestFaultRelayKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	latency := 300 * time.Millisecond
	r := newFaultRig(t, rigOptions{kafka: true, sim: true, simLatency: latency, relayLease: faultLen(5*time.Second, 0)})
	relay := r.start("relay", "relay")
	procs := map[string]*childProc{"gateway": r.start("gateway", "gateway"), "consumer": r.start("consumer", "consumer")}
	r.setup(ctx)
	load := r.startLoad(ctx, loadSpec{rate: 100, duration: faultLen(8*time.Second, 40*time.Second), contacts: 300, seed: 26})
	time.Sleep(faultLen(2*time.Second, 15*time.Second))
	inFlight := r.waitInFlight("sends in flight to kill the relay in")
	killed := time.Now()
	if err := relay.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	relay.wait()
	held := r.maxRowID()
	time.Sleep(time.Second)
	procs["relay after kill -9"] = r.start("relay after kill -9", "relay")
	v := r.verify(ctx, load, verifyExpect{welcome: true, assigned: true})
	sends := r.sendsSettled(90 * time.Second)
	for _, x := range sends.Resent {
		first := x.Accepted[0]
		if first.Before(killed.Add(-latency-time.Second)) || first.After(killed.Add(latency+time.Second)) {
			t.Errorf("row %d (%s) first accepted at %s, %v from the kill, and sent again: a recorded send was repeated",
				x.Row.ID, x.Row.Kind, first.Format("15:04:05.000"), first.Sub(killed).Round(time.Millisecond))
		}
	}
	if n := int64(len(sends.Resent)); n > inFlight+64 {
		t.Errorf("%d rows sent twice, more than the relay can have in flight", n)
	}
	r.alive(procs)
	var done time.Time
	for id, at := range sends.SentAt {
		if id <= held && at.After(done) {
			done = at
		}
	}
	faultReport(t, "relay killed (kill -9) mid-send, restarted after 1 s",
		fmt.Sprintf("%d sends were in flight; the rows it held were sent by the new relay after their lease (%v here); %d accepted twice by the Cloud API (sent, answer lost with the process)",
			inFlight, faultLen(5*time.Second, 60*time.Second), len(sends.Resent)),
		v, "every row queued before the kill sent "+after(done.Sub(killed))+" after it")
}

// TestFaultPostgresDownDuringSends cuts Postgres off while sends are in
// flight, for longer than half the relay's lease: the successes in hand
// are recorded when it is back, never sent again.
func TestFaultPostgresDownDuringSends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lease := faultLen(10*time.Second, 60*time.Second)
	outage := faultLen(8*time.Second, 40*time.Second)
	r := newFaultRig(t, rigOptions{kafka: true, sim: true, simLatency: time.Second, relayLease: lease})
	procs := map[string]*childProc{"gateway": r.start("gateway", "gateway"), "consumer": r.start("consumer", "consumer"),
		"relay": r.start("relay", "relay")}
	r.setup(ctx)
	load := r.startLoad(ctx, loadSpec{rate: 100, duration: outage + 6*time.Second, contacts: 300, seed: 27})
	time.Sleep(2 * time.Second)
	inFlight := r.waitInFlight("sends in flight to cut Postgres under")
	r.pg.set(proxyCut)
	time.Sleep(outage)
	r.pg.set(proxyPass)
	end := time.Now()
	v := r.verify(ctx, load, verifyExpect{welcome: true, assigned: true})
	sends := r.sendsSettled(90 * time.Second)
	for _, x := range sends.Resent {
		t.Errorf("row %d (%s) accepted %d times by the Cloud API (at %v): a success in hand was sent again", x.Row.ID, x.Row.Kind,
			len(x.Accepted), x.Accepted)
	}
	r.alive(procs)
	faultReport(t, fmt.Sprintf("Postgres down for %v while %d sends were in flight (relay lease %v)", outage, inFlight, lease),
		fmt.Sprintf("the relay kept the Cloud API's answers and retried recording them until Postgres was back; %d rows sent twice", len(sends.Resent)),
		v, "every row sent "+after(max(0, sends.LastAccepted.Sub(end)))+" after Postgres came back")
}
