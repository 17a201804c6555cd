package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// The fault suite: each test drives generated webhook traffic (and, where
// the fault is on the sending side, welcomes and agent replies) through
// wagw while one fault happens, then proves with the load test verifier
// that every acknowledged message was stored exactly once, in each
// contact's order, with one conversation per burst, one decision, one
// welcome and an assignee each, that every process rode the fault out,
// and (for sends) that the Cloud API accepted every outbox row once.
// `make chaos` (WAGW_CHAOS=1) runs the full-length variants. Every test
// logs one "FAULT |" line: the README's fault table.

// TestFaultServeKill kills `wagw serve` (embedded broker, consumer,
// relay, simulator in one process) with SIGKILL mid-stream and starts it
// again on the same data dir.
func TestFaultServeKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newFaultRig(t, rigOptions{relayLease: faultLen(5*time.Second, 0)})
	extra := []string{"KAFKA_EMBEDDED_ADDR=" + freeTCPAddr(t), "WAGW_DATA_DIR=" + t.TempDir(), "WAGW_SIMULATOR_ADDR=" + freeTCPAddr(t)}
	serve := r.start("serve", "serve", extra...)
	r.setup(ctx)
	load := r.startLoad(ctx, loadSpec{rate: 150, duration: faultLen(10*time.Second, 60*time.Second), contacts: 300, seed: 21})
	time.Sleep(faultLen(4*time.Second, 20*time.Second))
	killed := time.Now()
	if err := serve.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	serve.wait()
	again := r.start("serve after kill -9", "serve", extra...)
	ready := time.Since(killed)
	v := r.verify(ctx, load, verifyExpect{welcome: true, assigned: true})
	r.alive(map[string]*childProc{"serve after kill -9": again})
	rec := r.recovery(ctx, load, killed, killed)
	t.Logf("killed serve; ready again after %v; webhooks failed meanwhile: %v", ready.Round(time.Millisecond), rec.Failed)
	faultReport(t, "kill -9 of `serve` mid-stream, restart on the same data dir",
		fmt.Sprintf("webhooks refused while down (%s); every acknowledged one kept by the embedded broker and stored after the restart", codeSummary(rec.Failed)),
		v, fmt.Sprintf("ready %s after the kill; acknowledging %s; all acknowledged stored %s", after(ready), after(rec.Acknowledging), after(rec.Stored)))
}

// TestFaultConsumerKill kills one of three `wagw consumer` processes with
// SIGKILL under load; the other two take its partitions over.
func TestFaultConsumerKill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newFaultRig(t, rigOptions{kafka: true, sim: true})
	procs := map[string]*childProc{"gateway": r.start("gateway", "gateway"), "relay": r.start("relay", "relay")}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("consumer %d", i)
		// One group member each, so each owns partitions.
		procs[name] = r.start(name, "consumer", "WAGW_CONSUMER_WORKERS=1")
	}
	r.setup(ctx)
	load := r.startLoad(ctx, loadSpec{rate: 150, duration: faultLen(10*time.Second, 60*time.Second), contacts: 300, seed: 22})
	time.Sleep(faultLen(4*time.Second, 20*time.Second))
	victim := procs["consumer 2"]
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.wait()
	delete(procs, "consumer 2")
	v := r.verify(ctx, load, verifyExpect{welcome: true, assigned: true, statuses: true})
	r.alive(procs)
	rec := r.recovery(ctx, load, killed, killed)
	faultReport(t, "kill -9 of one of three consumer processes under load",
		"the group gave the dead member's partitions to the other two after the session timeout (3 s here); they redelivered its uncommitted records, applied once",
		v, "all acknowledged before the kill stored "+after(rec.Stored)+" after it")
}

// TestFaultPostgresCut cuts every role off Postgres under load (a proxy
// closes every connection and refuses new ones), then lets it back.
func TestFaultPostgresCut(t *testing.T) {
	t.Parallel()
	outage := faultLen(8*time.Second, 15*time.Second)
	t.Run("proxy cut", func(t *testing.T) {
		r := newFaultRig(t, rigOptions{kafka: true, sim: true})
		postgresOutage(t, r, outage, "Postgres cut off (proxy) for "+outage.String()+" under load",
			func() { r.pg.set(proxyCut) }, func() { r.pg.set(proxyPass) })
	})
	if chaosMode() {
		t.Run("restart", func(t *testing.T) {
			pg := startPrivatePostgres(t)
			r := newFaultRig(t, rigOptions{kafka: true, sim: true, pgBase: pg.url})
			postgresOutage(t, r, outage, "Postgres stopped (immediate) and started again after "+outage.String()+" under load",
				pg.stop, pg.start)
		})
	}
}

// postgresOutage runs gateway, consumer and relay under load through one
// Postgres outage made by down and ended by up.
func postgresOutage(t *testing.T, r *faultRig, outage time.Duration, fault string, down, up func()) {
	ctx := context.Background()
	procs := map[string]*childProc{"gateway": r.start("gateway", "gateway"), "consumer": r.start("consumer", "consumer"),
		"relay": r.start("relay", "relay")}
	r.setup(ctx)
	load := r.startLoad(ctx, loadSpec{rate: 150, duration: outage + 8*time.Second, contacts: 300, seed: 23})
	time.Sleep(3 * time.Second)
	start := time.Now()
	down()
	time.Sleep(outage)
	up()
	end := time.Now()
	v := r.verify(ctx, load, verifyExpect{welcome: true, assigned: true, statuses: true})
	sends := r.sendsSettled(60 * time.Second)
	if len(sends.Resent) > 0 {
		t.Errorf("%d outbox rows sent more than once across a Postgres outage shorter than half the lease: first %+v", len(sends.Resent), sends.Resent[0])
	}
	r.alive(procs)
	rec := r.recovery(ctx, load, start, end)
	faultReport(t, fault,
		fmt.Sprintf("webhooks still acknowledged (Kafka up; failed: %s); consumer and relay retried with backoff and went on", orNone(codeSummary(rec.Failed))),
		v, fmt.Sprintf("all acknowledged stored %s after Postgres came back", after(rec.Stored)))
}

// TestFaultKafkaOutage makes Kafka unreachable under load: every
// connection reset for the first half, a blackhole (nothing answers) for
// the second.
func TestFaultKafkaOutage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	outage := faultLen(8*time.Second, 30*time.Second)
	r := newFaultRig(t, rigOptions{kafka: true, sim: true})
	procs := map[string]*childProc{"gateway": r.start("gateway", "gateway"), "consumer": r.start("consumer", "consumer"),
		"relay": r.start("relay", "relay")}
	r.setup(ctx)
	load := r.startLoad(ctx, loadSpec{rate: 150, duration: outage + 10*time.Second, contacts: 300, seed: 24})
	time.Sleep(3 * time.Second)
	start := time.Now()
	r.kp.set(proxyReset)
	time.Sleep(outage / 2)
	r.kp.set(proxyBlackhole)
	time.Sleep(outage / 2)
	r.alive(procs)
	r.kp.set(proxyPass)
	end := time.Now()
	v := r.verify(ctx, load, verifyExpect{welcome: true, assigned: true})
	r.alive(procs)
	rec := r.recovery(ctx, load, start, end)
	faultReport(t, "Kafka unreachable for "+outage.String()+" under load (resets, then a blackhole)",
		fmt.Sprintf("webhooks refused while Kafka was away (%s), so Meta retries them; roles kept running", codeSummary(rec.Failed)),
		v, fmt.Sprintf("acknowledging %s after Kafka came back, storing %s after", after(rec.Acknowledging), after(rec.Resumed)))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
