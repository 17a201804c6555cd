package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BenchRow is one line of the bench table: a measured value of a
// scenario, with its target when it has one.
type BenchRow struct {
	Scenario string  `json:"scenario"`
	Metric   string  `json:"metric"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Target   string  `json:"target,omitempty"`
	Met      *bool   `json:"met,omitempty"`
	Detail   string  `json:"detail,omitempty"`
}

// BenchMicro is one line of `go test -bench` output.
type BenchMicro struct {
	Name        string  `json:"name"`
	Iterations  int64   `json:"iterations"`
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
}

// BenchResults is the bench table with where and how it was measured
// (bench/results.json).
type BenchResults struct {
	Date      time.Time         `json:"date"`
	Host      HostInfo          `json:"host"`
	Command   string            `json:"command"`
	Durations map[string]string `json:"durations,omitempty"`
	Rows      []BenchRow        `json:"rows"`
	Micro     []BenchMicro      `json:"micro_benchmarks,omitempty"`
	Notes     []string          `json:"notes,omitempty"`
}

// BenchConfig says where the bench's reports are and what else the table
// holds.
type BenchConfig struct {
	// Dir holds a report directory per scenario: s1-noop, s1-serve,
	// s2-noop, s2-serve, s3-e2e, s3-max, s6-replay.
	Dir string
	// Micro is a file of `go test -bench` output to include; empty: none.
	Micro string
	// RSSKB is the peak RSS of serve in scenario 3 (VmHWM, kB); 0: not
	// measured.
	RSSKB int64
	// Command that produced the results, Durations of the scenarios and
	// Notes to add.
	Command   string
	Durations map[string]string
	Notes     []string
}

// Targets of the bench scenarios.
const (
	benchCeilingRatio   = 0.6   // serve / no-op throughput, at least
	benchLatencyRatio   = 2     // serve / no-op p99, at most
	benchDrainSeconds   = 1     // consumer drained after the load, at most
	benchAssignP99MS    = 200   // webhook → assignment committed p99, at most
	benchStoredPerSec   = 10000 // messages stored per second, at least
	benchMaxRSSMB       = 300   // peak RSS of serve, at most
	benchReplayPerSec   = 8000  // messages stored and assigned per second, replaying a filled topic, at least
	scenarioCeiling     = "1 ingest ceiling"
	scenarioLatency     = "2 ingest latency"
	scenarioEndToEnd    = "3 end to end (round robin)"
	scenarioConsumerMax = "3 consumer ceiling"
	scenarioReplay      = "6 consumer replay"
)

// BenchTable reads the reports that scripts/bench.sh leaves in cfg.Dir and
// lays out the scenarios of the load-testing issue with their targets. A
// missing report is a note, not an error.
func BenchTable(cfg BenchConfig) BenchResults {
	t := &benchTable{res: BenchResults{Date: time.Now().UTC(), Host: ThisHost(), Command: cfg.Command,
		Durations: cfg.Durations, Notes: cfg.Notes}, dir: cfg.Dir}
	t.ingestCeiling(t.load("s1-noop"), t.load("s1-serve"))
	t.ingestLatency(t.load("s2-noop"), t.load("s2-serve"))
	t.endToEnd(t.load("s3-e2e"))
	t.consumerCeiling(t.load("s3-max"))
	t.consumerReplay(t.load("s6-replay"))
	if cfg.RSSKB > 0 {
		mb := float64(cfg.RSSKB) / 1024
		t.add(BenchRow{Scenario: "4 memory", Metric: "peak RSS of serve in scenario 3", Value: mb, Unit: "MB",
			Target: fmt.Sprintf("≤ %d", benchMaxRSSMB), Met: met(mb <= benchMaxRSSMB)})
	}
	if cfg.Micro != "" {
		if m, err := ParseBenchOutput(cfg.Micro); err == nil {
			t.res.Micro = m
		} else {
			t.res.Notes = append(t.res.Notes, "micro-benchmarks: "+shortErr(err))
		}
	}
	return t.res
}

// benchTable builds BenchResults row by row.
type benchTable struct {
	res BenchResults
	dir string
}

// load reads one scenario's report; nil (and a note) when it is missing.
func (t *benchTable) load(name string) *Report {
	r, err := ReadReport(filepath.Join(t.dir, name, ReportJSON))
	if err != nil {
		t.res.Notes = append(t.res.Notes, name+": no report ("+shortErr(err)+")")
		return nil
	}
	return r
}

func (t *benchTable) add(r BenchRow) { t.res.Rows = append(t.res.Rows, r) }

func met(ok bool) *bool { return &ok }

// ran reports whether r is a report with a run in it.
func ran(r *Report) bool { return r != nil && r.Run != nil }

// verified adds the row of a scenario's verification.
func (t *benchTable) verified(scenario string, r *Report) {
	if r == nil || r.Verify == nil {
		t.add(BenchRow{Scenario: scenario, Metric: "lost / duplicated / reordered", Target: "0 / 0 / 0", Met: met(false), Detail: "not verified"})
		return
	}
	v := r.Verify
	t.add(BenchRow{Scenario: scenario, Metric: "lost / duplicated / reordered", Value: float64(v.Lost + v.Duplicated + v.Reordered),
		Target: "0 / 0 / 0", Met: met(v.Lost+v.Duplicated+v.Reordered == 0 && v.Passed),
		Detail: fmt.Sprintf("%d / %d / %d of %d; verification %s", v.Lost, v.Duplicated, v.Reordered, v.Expected, passWord(v.Passed))})
}

// ingestCeiling is scenario 1: closed-loop throughput of serve against a
// no-op Fiber handler.
func (t *benchTable) ingestCeiling(noop, serve *Report) {
	if ran(noop) {
		t.add(BenchRow{Scenario: scenarioCeiling, Metric: "no-op Fiber handler", Value: noop.Run.Throughput, Unit: "req/s",
			Detail: fmt.Sprintf("closed loop, %d connections, p99 %s", noop.Run.Connections, benchMS(noop.Run.Latency.P99MS))})
	}
	if !ran(serve) {
		return
	}
	t.add(BenchRow{Scenario: scenarioCeiling, Metric: "wagw serve (acked after the Kafka write)", Value: serve.Run.Throughput, Unit: "req/s",
		Detail: fmt.Sprintf("%d errors, p99 %s", serve.Run.Errors, benchMS(serve.Run.Latency.P99MS))})
	if ran(noop) && noop.Run.Throughput > 0 {
		ratio := serve.Run.Throughput / noop.Run.Throughput
		t.add(BenchRow{Scenario: scenarioCeiling, Metric: "serve / no-op throughput", Value: ratio, Unit: "×",
			Target: fmt.Sprintf("≥ %g", benchCeilingRatio), Met: met(ratio >= benchCeilingRatio)})
	}
}

// ingestLatency is scenario 2: open-loop latency of serve against the
// no-op handler, and the consumer keeping up.
func (t *benchTable) ingestLatency(noop, serve *Report) {
	if ran(noop) {
		l := noop.Run.Latency
		t.add(BenchRow{Scenario: scenarioLatency, Metric: "no-op p99", Value: l.P99MS, Unit: "ms",
			Detail: fmt.Sprintf("%.0f req/s offered, %.0f answered, p50 %s, max %s", noop.Run.Offered, noop.Run.Throughput, benchMS(l.P50MS), benchMS(l.MaxMS))})
	}
	if !ran(serve) {
		return
	}
	l := serve.Run.Latency
	t.add(BenchRow{Scenario: scenarioLatency, Metric: "serve p99", Value: l.P99MS, Unit: "ms",
		Detail: fmt.Sprintf("%.0f req/s offered, %.0f answered, p50 %s, p99.9 %s, max %s", serve.Run.Offered, serve.Run.Throughput,
			benchMS(l.P50MS), benchMS(l.P999MS), benchMS(l.MaxMS))})
	if ran(noop) && noop.Run.Latency.P99MS > 0 {
		ratio := l.P99MS / noop.Run.Latency.P99MS
		t.add(BenchRow{Scenario: scenarioLatency, Metric: "serve / no-op p99", Value: ratio, Unit: "×",
			Target: fmt.Sprintf("≤ %d", benchLatencyRatio), Met: met(ratio <= benchLatencyRatio)})
	}
	t.add(BenchRow{Scenario: scenarioLatency, Metric: "errors", Value: float64(serve.Run.Errors), Target: "0", Met: met(serve.Run.Errors == 0),
		Detail: fmt.Sprintf("of %d requests", serve.Run.Sent)})
	t.verified(scenarioLatency, serve)
	if v := serve.Verify; v != nil {
		t.add(BenchRow{Scenario: scenarioLatency, Metric: "consumer drained after the load", Value: v.DrainSeconds, Unit: "s",
			Target: fmt.Sprintf("≤ %d", benchDrainSeconds), Met: met(v.DrainSeconds <= benchDrainSeconds)})
	}
}

// endToEnd is scenario 3: webhooks through to assignments, round robin.
func (t *benchTable) endToEnd(r *Report) {
	if !ran(r) {
		return
	}
	t.add(BenchRow{Scenario: scenarioEndToEnd, Metric: "inbound messages", Value: r.Run.MsgRate, Unit: "msg/s",
		Detail: fmt.Sprintf("%d messages, %.0f req/s offered, sending took %.0f s, %d errors", r.Run.Messages, r.Run.Offered, r.Run.Seconds, r.Run.Errors)})
	if v := r.Verify; v != nil {
		t.add(BenchRow{Scenario: scenarioEndToEnd, Metric: "consumer lag max (ack → stored)", Value: v.ConsumerLag.MaxMS / 1000, Unit: "s",
			Target: fmt.Sprintf("< %d", benchDrainSeconds), Met: met(v.ConsumerLag.MaxMS < benchDrainSeconds*1000), Detail: "p99 " + benchMS(v.ConsumerLag.P99MS)})
		t.add(BenchRow{Scenario: scenarioEndToEnd, Metric: "webhook → assignment committed p99", Value: v.Assignment.P99MS, Unit: "ms",
			Target: fmt.Sprintf("≤ %d", benchAssignP99MS), Met: met(v.Assignment.Count > 0 && v.Assignment.P99MS <= benchAssignP99MS),
			Detail: fmt.Sprintf("p50 %s over %d conversations; spread max−min %d", benchMS(v.Assignment.P50MS), v.Assignment.Count, v.SpreadMaxMinus)})
	}
	t.verified(scenarioEndToEnd, r)
}

// consumerCeiling is scenario 3 at the most the consumer sustains.
func (t *benchTable) consumerCeiling(r *Report) {
	if !ran(r) {
		return
	}
	offered := r.Run.MsgRate
	if r.Run.Offered > 0 && r.Run.Throughput > 0 {
		offered = r.Run.MsgRate * r.Run.Offered / r.Run.Throughput // messages per POST × POSTs offered
	}
	row := BenchRow{Scenario: scenarioConsumerMax, Metric: "messages stored per second", Unit: "msg/s", Target: fmt.Sprintf("≥ %d", benchStoredPerSec),
		Detail: fmt.Sprintf("offered %.0f msg/s, %d messages", offered, r.Run.Messages)}
	if v := r.Verify; v != nil {
		// Sustained: the consumer kept up with the offered rate (drained
		// within a second), so the stored rate is what it sustained.
		row.Value = v.StoredRate
		kept := v.DrainSeconds <= benchDrainSeconds
		row.Met = met(kept && v.StoredRate >= benchStoredPerSec && v.Passed)
		row.Detail += fmt.Sprintf(", drained %.2f s after the load, lag p99 %s", v.DrainSeconds, benchMS(v.ConsumerLag.P99MS))
	}
	t.add(row)
}

// consumerReplay is scenario 6: the topic filled first with the consumer
// stopped, then the consumer started and measured until it drained, so
// that ingest is not the limit. Met only when the fill had no errors and
// the verification (every message stored once, in order, every opened
// conversation assigned) passed.
func (t *benchTable) consumerReplay(r *Report) {
	if !ran(r) {
		return
	}
	row := BenchRow{Scenario: scenarioReplay, Metric: "messages stored and assigned per second", Unit: "msg/s",
		Target: fmt.Sprintf("≥ %d", benchReplayPerSec), Met: met(false),
		Detail: fmt.Sprintf("fill: %d messages in %d requests, %d errors", r.Run.Messages, r.Run.Sent, r.Run.Errors)}
	if v := r.Verify; v != nil {
		row.Value = v.StoredRate
		row.Met = met(r.Run.Errors == 0 && v.Passed && v.StoredRate >= benchReplayPerSec)
		row.Detail += fmt.Sprintf("; %d stored, %d conversations, %d assigned; verification %s", v.Stored, v.Conversations, v.Assigned, passWord(v.Passed))
	} else {
		row.Detail += "; not verified"
	}
	t.add(row)
}

func passWord(ok bool) string {
	if ok {
		return "passed"
	}
	return "FAILED"
}

func shortErr(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "missing"
	}
	return err.Error()
}

// benchMS formats milliseconds for the bench table.
func benchMS(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

// WriteTable prints the micro-benchmarks, the rows and the notes.
func (res BenchResults) WriteTable(w io.Writer) {
	if len(res.Micro) > 0 {
		fmt.Fprintf(w, "\nmicro-benchmarks\n")
		for _, m := range res.Micro {
			fmt.Fprintf(w, "  %-44s %12.0f ns/op %10.0f B/op %8.0f allocs/op\n", m.Name, m.NsPerOp, m.BytesPerOp, m.AllocsPerOp)
		}
	}
	fmt.Fprintf(w, "\n%-28s %-42s %14s  %-9s %s\n", "scenario", "metric", "measured", "target", "")
	for _, r := range res.Rows {
		val := strconv.FormatFloat(r.Value, 'f', decimals(r.Value), 64)
		switch {
		case r.Unit == "×":
			val = fmt.Sprintf("%.2f×", r.Value)
		case r.Unit != "":
			val += " " + r.Unit
		}
		verdict := ""
		if r.Met != nil {
			verdict = "met"
			if !*r.Met {
				verdict = "MISSED"
			}
		}
		fmt.Fprintf(w, "%-28s %-42s %14s  %-9s %-6s %s\n", r.Scenario, r.Metric, val, r.Target, verdict, r.Detail)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func decimals(v float64) int {
	switch {
	case v == float64(int64(v)) || v >= 100:
		return 0
	case v >= 10:
		return 1
	}
	return 2
}

// benchLine is a benchmark's result line: its name first.
var benchLine = regexp.MustCompile(`^Benchmark\S+$`)

// ParseBenchOutput reads `go test -bench` lines: name, iterations, then
// value-unit pairs (ns/op, MB/s, B/op, allocs/op, custom metrics).
func ParseBenchOutput(path string) ([]BenchMicro, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var out []BenchMicro
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if b, ok := parseBenchLine(strings.Fields(sc.Text())); ok {
			out = append(out, b)
		}
	}
	return out, sc.Err()
}

func parseBenchLine(fields []string) (BenchMicro, bool) {
	if len(fields) < 4 || !benchLine.MatchString(fields[0]) {
		return BenchMicro{}, false
	}
	b := BenchMicro{Name: fields[0]}
	var err error
	if b.Iterations, err = strconv.ParseInt(fields[1], 10, 64); err != nil {
		return b, false
	}
	for i := 2; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			break
		}
		switch fields[i+1] {
		case "ns/op":
			b.NsPerOp = v
		case "B/op":
			b.BytesPerOp = v
		case "allocs/op":
			b.AllocsPerOp = v
		}
	}
	return b, true
}
