package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
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
	Name       string  `json:"name"`
	Iterations int64   `json:"iterations"`
	NsPerOp    float64 `json:"ns_per_op"`
	// CPUNsPerOp is the custom metric cpu-ns/op: the process's CPU time
	// per operation (BenchmarkWebhookHandler).
	CPUNsPerOp  float64 `json:"cpu_ns_per_op,omitempty"`
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
	// Dir holds a report directory per scenario: t1-serve, t2-serve,
	// t3-noop-R and t3-serve-R for each round R (1, 2, …), t4-serve, t4-noop, t4p-serve,
	// t5-serve, s6-max, s6-replay.
	Dir string
	// Micro is a file of `go test -bench` output to include; empty: none.
	Micro string
	// RSSKB holds serve's memory measured by scripts/bench.sh, in kB:
	// "t4-peak" and "t4p-peak" (VmHWM over scenarios 4 and 4p), "t5-end" (VmRSS after scenario
	// 5) and "t5-peak".
	RSSKB map[string]int64
	// CeilingRounds is how many rounds scenario 3 ran; a round missing
	// from Dir is a run missing. 0: as many as Dir holds.
	CeilingRounds int
	// Command that produced the results, Durations of the scenarios and
	// Notes to add.
	Command   string
	Durations map[string]string
	Notes     []string
}

// BenchTable reads the reports that scripts/bench.sh leaves in cfg.Dir and
// lays out the scenarios of issue 10 with their targets (bench_ingest.go).
// A missing report is a note, and its targets are MISSED.
func BenchTable(cfg BenchConfig) BenchResults {
	t := &benchTable{res: BenchResults{Date: time.Now().UTC(), Host: ThisHost(), Command: cfg.Command,
		Durations: cfg.Durations, Notes: cfg.Notes}, dir: cfg.Dir}
	if cfg.Micro != "" {
		if m, err := ParseBenchOutput(cfg.Micro); err == nil {
			t.res.Micro = m
		} else {
			t.res.Notes = append(t.res.Notes, "micro-benchmarks: "+shortErr(err))
		}
	}
	t.metaTier(t.load("t1-serve"))
	t.fiveTimes(t.load("t2-serve"))
	t.ceiling(t.rounds("t3-noop-", "t3-serve-", cfg.CeilingRounds))
	t4 := t.load("t4-serve")
	t.overload(scenarioOverload, t4, cfg.RSSKB["t4-peak"])
	if ran(t4) {
		t.overloadReference(scenarioOverload, t.load("t4-noop"))
	}
	t.overload(scenarioPooled, t.load("t4p-serve"), cfg.RSSKB["t4p-peak"])
	t.memoryOverTime(t.load("t5-serve"), cfg.RSSKB)
	t.consumerCeiling(t.load("s6-max"))
	t.consumerReplay(t.load("s6-replay"))
	t.handlerCPU()
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

// rounds reads the reports of a scenario run in rounds that alternate two
// runs: a+"1" and b+"1", a+"2" and b+"2", … up to round want, or to the
// last round of which a report is there when that is later. A run
// missing in a round, even in one of the middle, is nil and noted, so
// that the scenario is judged incomplete rather than on fewer rounds.
func (t *benchTable) rounds(a, b string, want int) (as, bs []*Report) {
	n := max(want, 1, t.lastRound(a, b))
	for r := 1; r <= n; r++ {
		as, bs = append(as, t.load(fmt.Sprint(a, r))), append(bs, t.load(fmt.Sprint(b, r)))
	}
	return as, bs
}

// lastRound is the highest R of the report directories prefix+R, of any
// of the prefixes; 0: none.
func (t *benchTable) lastRound(prefixes ...string) int {
	entries, _ := os.ReadDir(t.dir)
	last := 0
	for _, e := range entries {
		for _, p := range prefixes {
			if rest, ok := strings.CutPrefix(e.Name(), p); ok {
				if r, err := strconv.Atoi(rest); err == nil {
					last = max(last, r)
				}
			}
		}
	}
	return last
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

// consumerCeiling is scenario 6: the most the consumer sustains.
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
		drain := drainedAfter(r)
		row.Met = met(drain <= benchDrainSeconds && v.StoredRate >= benchStoredPerSec && v.Passed)
		row.Detail += fmt.Sprintf(", drained %.2f s after the load, lag p99 %s", drain, benchMS(v.ConsumerLag.P99MS))
	}
	t.add(row)
}

// consumerReplay is scenario 6 where ingest is not the limit: a topic
// filled first (serve without its consumer), then drained by the consumer
// and verified.
func (t *benchTable) consumerReplay(r *Report) {
	if !ran(r) {
		return
	}
	row := BenchRow{Scenario: scenarioReplay, Metric: "messages stored and assigned per second", Unit: "msg/s",
		Target: fmt.Sprintf("≥ %d", benchStoredPerSec), Met: met(false),
		Detail: fmt.Sprintf("fill: %d messages in %d requests, %d errors", r.Run.Messages, r.Run.Sent, r.Run.Errors)}
	if v := r.Verify; v != nil {
		row.Value = v.StoredRate
		row.Met = met(r.Run.Errors == 0 && v.Passed && v.StoredRate >= benchStoredPerSec)
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
			fmt.Fprintf(w, "  %-44s %12.0f ns/op %10.0f B/op %8.0f allocs/op", m.Name, m.NsPerOp, m.BytesPerOp, m.AllocsPerOp)
			if m.CPUNsPerOp > 0 {
				fmt.Fprintf(w, " %10.0f cpu-ns/op", m.CPUNsPerOp)
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "\n%-28s %-42s %14s  %-9s %s\n", "scenario", "metric", "measured", "target", "")
	for _, r := range res.Rows {
		val := strconv.FormatFloat(r.Value, 'f', decimals(r.Value), 64)
		switch {
		case r.Unit == "×":
			val = ratioText(r.Value) + "×"
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
		case "cpu-ns/op":
			b.CPUNsPerOp = v
		}
	}
	return b, true
}

// ratioText is a ratio to three decimals, cut rather than rounded: a
// median of 0.2497 reads 0.249, not the 0.250 a target of at least 0.25
// would be met by.
func ratioText(r float64) string {
	return strconv.FormatFloat(math.Floor(r*1000)/1000, 'f', 3, 64)
}
