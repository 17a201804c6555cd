package loadtest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Targets of issue 10, by scenario (scripts/bench.sh runs them).
const (
	benchT1AckP99MS     = 25    // 1: ack p99 at 1,000 webhooks/s, at most
	benchT1AssignP99MS  = 250   // 1: webhook → assignment committed p99, at most
	benchT2AckP99MS     = 100   // 2: ack p99 at 5,000 webhooks/s, at most
	benchT2DrainSeconds = 2     // 2: consumer drained after the load, at most
	benchCeilingRatio   = 0.25  // 3: serve / no-op closed-loop throughput, at least
	benchT4MaxMS        = 1000  // 4: slowest answer in overload, at most
	benchMaxRSSMB       = 300   // 4, 5: RSS of serve, at most
	benchHandlerCPUNs   = 30000 // 7: CPU per typical webhook, at most
	benchDrainSeconds   = 1     // 6: drained within this, so the rate was sustained
	benchStoredPerSec   = 8000  // 6: messages stored and assigned per second, at least
	benchHandler        = "BenchmarkWebhookHandler"

	scenarioMetaTier    = "1 Meta's top tier"
	scenarioFiveTimes   = "2 5× Meta's top tier"
	scenarioCeiling     = "3 ingest ceiling"
	scenarioOverload    = "4 overload"
	scenarioPooled      = "4p overload, pooled"
	scenarioMemory      = "5 memory over time"
	scenarioConsumerMax = "6 consumer ceiling"
	scenarioHandlerCPU  = "7 handler CPU"
	scenarioReplay      = "6 consumer replay"
)

// missing adds a MISSED row for a target whose data is not there.
func (t *benchTable) missing(scenario, metric, target, why string) {
	t.add(BenchRow{Scenario: scenario, Metric: metric, Target: target, Met: met(false), Detail: why})
}

// ackRows adds an open-loop run's ack p99 (met only without errors) and
// its errors.
func (t *benchTable) ackRows(scenario string, r *Report, p99Target float64) {
	target := fmt.Sprintf("≤ %g ms", p99Target)
	if !ran(r) {
		t.missing(scenario, "ack p99", target, "no report")
		t.missing(scenario, "errors", "0", "no report")
		return
	}
	l := r.Run.Latency
	t.add(BenchRow{Scenario: scenario, Metric: "ack p99", Value: l.P99MS, Unit: "ms", Target: target,
		Met: met(r.Run.Sent > 0 && r.Run.Errors == 0 && l.P99MS <= p99Target),
		Detail: fmt.Sprintf("%.0f req/s offered, %.0f answered, %.0f msg/s; p50 %s, p99.9 %s, max %s", r.Run.Offered, r.Run.Throughput,
			r.Run.MsgRate, benchMS(l.P50MS), benchMS(l.P999MS), benchMS(l.MaxMS))})
	t.add(BenchRow{Scenario: scenario, Metric: "errors", Value: float64(r.Run.Errors), Target: "0",
		Met: met(r.Run.Sent > 0 && r.Run.Errors == 0), Detail: fmt.Sprintf("of %d requests%s", r.Run.Sent, codesDetail(r.Run.Codes))})
}

// metaTier is scenario 1: 1,000 webhooks/s, realistic mix, round robin.
func (t *benchTable) metaTier(r *Report) {
	t.ackRows(scenarioMetaTier, r, benchT1AckP99MS)
	target := fmt.Sprintf("≤ %d ms", benchT1AssignP99MS)
	if r == nil || r.Verify == nil {
		t.missing(scenarioMetaTier, "webhook → assignment committed p99", target, "not verified")
	} else {
		a, unheard := r.Verify.Assignment, r.Verify.AssignmentUnheard
		detail := fmt.Sprintf("p50 %s over %d conversations, each heard committed", benchMS(a.P50MS), a.Count)
		if unheard > 0 {
			detail = fmt.Sprintf("p50 %s over %d conversations; %d more whose commit was not heard", benchMS(a.P50MS), a.Count, unheard)
		}
		t.add(BenchRow{Scenario: scenarioMetaTier, Metric: "webhook → assignment committed p99", Value: a.P99MS, Unit: "ms", Target: target,
			Met: met(a.Count > 0 && unheard == 0 && a.P99MS <= benchT1AssignP99MS), Detail: detail})
	}
	t.verified(scenarioMetaTier, r)
}

// fiveTimes is scenario 2: 5,000 webhooks/s, realistic mix.
func (t *benchTable) fiveTimes(r *Report) {
	t.ackRows(scenarioFiveTimes, r, benchT2AckP99MS)
	target := fmt.Sprintf("≤ %d s", benchT2DrainSeconds)
	if r == nil || r.Verify == nil {
		t.missing(scenarioFiveTimes, "consumer drained after the load", target, "not verified")
	} else {
		v, drain := r.Verify, drainedAfter(r)
		t.add(BenchRow{Scenario: scenarioFiveTimes, Metric: "consumer drained after the load", Value: drain, Unit: "s", Target: target,
			Met: met(v.Passed && drain <= benchT2DrainSeconds), Detail: "lag p99 " + benchMS(v.ConsumerLag.P99MS)})
	}
	t.verified(scenarioFiveTimes, r)
}

// drainedAfter is how long after the load the consumer had stored every
// message: the later of the last message's stored_at (the start of the
// transaction that stored it) and the run's own polling of the stored
// count, which sees only commits (every 50 ms).
func drainedAfter(r *Report) float64 {
	d := r.Verify.DrainSeconds
	if p := r.Run.Drain; p != nil && p.Drained {
		d = max(d, p.Seconds)
	}
	return d
}

// ceiling is scenario 3: closed-loop throughput of serve against a no-op
// Fiber handler, in rounds that alternate the two (noop[i] just before
// serve[i]), so that both sides of each ratio see the machine alike: the
// speed of a shared virtual machine drifts over minutes (docs/performance.md).
// The target holds for the median of the rounds' ratios.
func (t *benchTable) ceiling(noop, serve []*Report) {
	target := fmt.Sprintf("≥ %g", benchCeilingRatio)
	complete := len(noop) > 0 && len(noop) == len(serve)
	for i := range noop {
		complete = complete && ran(noop[i]) && ran(serve[i]) && noop[i].Run.Throughput > 0
	}
	if !complete {
		t.missing(scenarioCeiling, "serve / no-op throughput", target, "a run is missing")
		return
	}
	ratios, errs := make([]float64, len(noop)), 0
	for i := range noop {
		ratios[i] = serve[i].Run.Throughput / noop[i].Run.Throughput
		errs += serve[i].Run.Errors
	}
	rounds := fmt.Sprintf("%d rounds", len(noop))
	if len(noop) == 1 {
		rounds = "1 round"
	}
	rate := func(r *RunResult) string { return fmt.Sprintf("%.0f", r.Throughput) }
	p99 := func(r *RunResult) string { return benchMS(r.Latency.P99MS) }
	t.add(BenchRow{Scenario: scenarioCeiling, Metric: "no-op Fiber handler", Value: median(throughputs(noop)), Unit: "req/s",
		Detail: fmt.Sprintf("median of %s (%s req/s), closed loop, %d connections, p99 %s", rounds, each(noop, rate),
			noop[0].Run.Connections, each(noop, p99))})
	t.add(BenchRow{Scenario: scenarioCeiling, Metric: "wagw serve (acked after the durable write)", Value: median(throughputs(serve)), Unit: "req/s",
		Detail: fmt.Sprintf("median of %s (%s req/s), %d errors, p99 %s", rounds, each(serve, rate), errs, each(serve, p99))})
	ratio := median(ratios)
	shown := make([]string, len(ratios))
	for i, r := range ratios {
		shown[i] = ratioText(r)
	}
	t.add(BenchRow{Scenario: scenarioCeiling, Metric: "serve / no-op throughput", Value: ratio, Unit: "×", Target: target,
		Met: met(errs == 0 && ratio >= benchCeilingRatio), Detail: "median of the rounds' " + strings.Join(shown, ", ")})
}

// each joins f of every run's result.
func each(rs []*Report, f func(*RunResult) string) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = f(r.Run)
	}
	return strings.Join(out, ", ")
}

// throughputs lists the throughput of each run.
func throughputs(rs []*Report) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.Run.Throughput
	}
	return out
}

// median of xs (not empty): the middle value, or the mean of the two
// middle values.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// overload is scenario 4 (and 4p, from a pooled client): 20,000
// webhooks/s offered. Every request is answered within a second, what is
// refused is 503 with Retry-After, the RSS (peakKB) stays bounded and
// every 200 is stored.
func (t *benchTable) overload(s string, r *Report, peakKB int64) {
	within := fmt.Sprintf("≤ %d ms", benchT4MaxMS)
	if !ran(r) {
		t.missing(s, "slowest answer", within, "no report")
		t.missing(s, "answers other than 200 and 503 with Retry-After", "0", "no report")
	} else {
		run := r.Run
		n503 := run.Codes["503"]
		t.add(BenchRow{Scenario: s, Metric: "slowest answer", Value: run.Latency.MaxMS, Unit: "ms", Target: within,
			Met: met(run.Sent > 0 && run.Latency.MaxMS <= benchT4MaxMS),
			Detail: fmt.Sprintf("%.0f req/s offered, %d sent, %d answered 200 (%.0f/s), %d answered 503; %s",
				run.Offered, run.Sent, run.OK, run.Throughput, n503, answerTimes(run))})
		other := run.Sent - run.OK - n503 + run.NoRetryAfter
		t.add(BenchRow{Scenario: s, Metric: "answers other than 200 and 503 with Retry-After", Value: float64(other), Target: "0",
			Met:    met(run.Sent > 0 && other == 0),
			Detail: fmt.Sprintf("%d 503s without Retry-After%s", run.NoRetryAfter, codesDetail(run.Codes))})
	}
	t.rssRow(s, "peak RSS of serve", peakKB)
	t.verified(s, r)
}

// overloadReference is scenario 4's load against the no-op Fiber handler
// (r, t4-noop): a row without a target, it says how late a handler that
// only answers 200 is answered by the same generator on the same machine.
// When that is over the target too, no handler meets scenario 4 there.
func (t *benchTable) overloadReference(s string, r *Report) {
	if !ran(r) {
		return
	}
	run := r.Run
	t.add(BenchRow{Scenario: s, Metric: "slowest answer, no-op Fiber handler", Value: run.Latency.MaxMS, Unit: "ms",
		Detail: fmt.Sprintf("the same load against a handler that only answers 200: %d sent, %d answered 200 (%.0f/s); %s%s",
			run.Sent, run.OK, run.Throughput, answerTimes(run), codesDetail(run.Codes))})
}

// answerTimes is an overload run's answer times: from the intended send,
// how late the sends were, and from the actual send.
func answerTimes(run *RunResult) string {
	return fmt.Sprintf("p50 %s, p99 %s; sent late p99 %s; from the actual send p99 %s, slowest %s",
		benchMS(run.Latency.P50MS), benchMS(run.Latency.P99MS), benchMS(run.Late.P99MS), benchMS(run.Answer.P99MS), benchMS(run.Answer.MaxMS))
}

// memoryOverTime is scenario 5: a million webhooks through serve.
func (t *benchTable) memoryOverTime(r *Report, rss map[string]int64) {
	s := scenarioMemory
	if !ran(r) {
		t.missing(s, "webhooks answered 200", "all", "no report")
	} else {
		t.add(BenchRow{Scenario: s, Metric: "webhooks answered 200", Value: float64(r.Run.OK), Target: "all",
			Met:    met(r.Run.Sent > 0 && r.Run.OK == r.Run.Sent),
			Detail: fmt.Sprintf("of %d sent at %.0f/s offered, in %.0f s%s", r.Run.Sent, r.Run.Offered, r.Run.Seconds, codesDetail(r.Run.Codes))})
	}
	t.rssRow(s, "RSS of serve at the end", rss["t5-end"])
	if kb := rss["t5-peak"]; kb > 0 {
		t.add(BenchRow{Scenario: s, Metric: "peak RSS of serve", Value: float64(kb) / 1024, Unit: "MB"})
	}
}

func (t *benchTable) rssRow(scenario, metric string, kb int64) {
	target := fmt.Sprintf("≤ %d MB", benchMaxRSSMB)
	if kb <= 0 {
		t.missing(scenario, metric, target, "not measured")
		return
	}
	mb := float64(kb) / 1024
	t.add(BenchRow{Scenario: scenario, Metric: metric, Value: mb, Unit: "MB", Target: target, Met: met(mb <= benchMaxRSSMB)})
}

// handlerCPU is target 7: BenchmarkWebhookHandler's CPU per webhook.
func (t *benchTable) handlerCPU() {
	target := fmt.Sprintf("≤ %d µs", benchHandlerCPUNs/1000)
	for _, m := range t.res.Micro {
		if strings.HasPrefix(m.Name, benchHandler) && m.CPUNsPerOp > 0 {
			t.add(BenchRow{Scenario: scenarioHandlerCPU, Metric: "CPU per typical webhook", Value: m.CPUNsPerOp / 1000, Unit: "µs", Target: target,
				Met:    met(m.CPUNsPerOp <= benchHandlerCPUNs),
				Detail: fmt.Sprintf("%s: %.0f allocs/op, %.0f B/op, %.0f ns/op wall", m.Name, m.AllocsPerOp, m.BytesPerOp, m.NsPerOp)})
			return
		}
	}
	t.missing(scenarioHandlerCPU, "CPU per typical webhook", target, benchHandler+" not in the micro-benchmarks")
}

// codesDetail lists the answers other than 200, "; 503×12, timeout×3".
func codesDetail(codes map[string]int) string {
	var parts []string
	for k, n := range codes {
		if k != "200" {
			parts = append(parts, fmt.Sprintf("%s×%d", k, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	sort.Strings(parts)
	return "; " + strings.Join(parts, ", ")
}
