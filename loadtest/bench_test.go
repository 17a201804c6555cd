package loadtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBenchReports leaves the reports of a bench in dir, as
// scripts/bench.sh does: scenario 1 and 2 against the no-op handler and
// serve, scenario 3 end to end and at the consumer's ceiling, scenario 6
// replaying a filled topic.
func writeBenchReports(t *testing.T, dir string) {
	t.Helper()
	reports := map[string]*Report{
		"s1-noop":  {Run: &RunResult{Throughput: 20000, Connections: 64, Latency: Latency{P99MS: 4.2}}},
		"s1-serve": {Run: &RunResult{Throughput: 15000, Errors: 0, Latency: Latency{P99MS: 12}}},
		"s2-noop":  {Run: &RunResult{Offered: 2000, Throughput: 2000, Latency: Latency{P50MS: 0.3, P99MS: 1.1, MaxMS: 5}}},
		"s2-serve": {Run: &RunResult{Offered: 2000, Throughput: 1999, Sent: 20000, Errors: 1, Latency: Latency{P50MS: 0.9, P99MS: 3.5, P999MS: 20, MaxMS: 1500}},
			Verify: &VerifyResult{Passed: true, Expected: 19999, DrainSeconds: 0.2}},
		"s3-e2e": {Run: &RunResult{MsgRate: 950.5, Messages: 9505, Offered: 800, Seconds: 10},
			Verify: &VerifyResult{Passed: false, Lost: 1, Expected: 9505, ConsumerLag: Latency{MaxMS: 800, P99MS: 120},
				Assignment: Latency{Count: 300, P50MS: 40, P99MS: 180}, SpreadMaxMinus: 1}},
		"s3-max": {Run: &RunResult{MsgRate: 12000, Messages: 120000, Offered: 3000, Throughput: 2900},
			Verify: &VerifyResult{Passed: true, StoredRate: 11800, DrainSeconds: 0.8, ConsumerLag: Latency{P99MS: 300}}},
		"s6-replay": {Run: &RunResult{Messages: 240000, Sent: 12000},
			Verify: &VerifyResult{Passed: true, Stored: 240000, StoredRate: 8100, Conversations: 10000, Assigned: 10000}},
	}
	for name, r := range reports {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, ReportJSON), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBenchTable: every scenario's rows are judged against its target,
// and a missing report or micro-benchmark file is a note.
func TestBenchTable(t *testing.T) {
	dir := t.TempDir()
	writeBenchReports(t, dir)
	micro := filepath.Join(dir, "micro.txt")
	os.WriteFile(micro, []byte("goos: linux\nBenchmarkApply-2   \t 1000\t  1234 ns/op\t  56 B/op\t 7 allocs/op\nPASS\n"), 0o644)
	res := BenchTable(BenchConfig{Dir: dir, Micro: micro, RSSKB: 200 * 1024, Command: "make bench"})
	met := map[string]bool{}
	for _, r := range res.Rows {
		if r.Met != nil {
			met[r.Scenario+" / "+r.Metric] = *r.Met
		}
	}
	want := map[string]bool{
		"1 ingest ceiling / serve / no-op throughput":                     true,
		"2 ingest latency / serve / no-op p99":                            false,
		"2 ingest latency / errors":                                       false,
		"2 ingest latency / lost / duplicated / reordered":                true,
		"2 ingest latency / consumer drained after the load":              true,
		"3 end to end (round robin) / consumer lag max (ack → stored)":    true,
		"3 end to end (round robin) / webhook → assignment committed p99": true,
		"3 end to end (round robin) / lost / duplicated / reordered":      false,
		"3 consumer ceiling / messages stored per second":                 true,
		"4 memory / peak RSS of serve in scenario 3":                      true,
		"6 consumer replay / messages stored and assigned per second":     true,
	}
	for k, w := range want {
		if got, ok := met[k]; !ok || got != w {
			t.Errorf("%s: met %v (present %v), want %v", k, got, ok, w)
		}
	}
	if len(met) != len(want) {
		t.Errorf("rows with a target: %v, want %d", met, len(want))
	}
	if len(res.Micro) != 1 || res.Micro[0].NsPerOp != 1234 || res.Micro[0].AllocsPerOp != 7 {
		t.Errorf("micro-benchmarks %+v", res.Micro)
	}
	var out strings.Builder
	res.WriteTable(&out)
	for _, s := range []string{"0.75×", "≥ 0.6", "MISSED", "BenchmarkApply-2"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}

	empty := BenchTable(BenchConfig{Dir: t.TempDir(), Micro: filepath.Join(dir, "none.txt")})
	if len(empty.Rows) != 0 || len(empty.Notes) != 8 || empty.Notes[0] != "s1-noop: no report (missing)" {
		t.Errorf("without reports: rows %v, notes %q", empty.Rows, empty.Notes)
	}
}

// A replay is met only at the target rate, with a fill without errors and
// a verification that passed.
func TestBenchTableReplay(t *testing.T) {
	good := func() *Report {
		return &Report{Run: &RunResult{Messages: 1000, Sent: 50},
			Verify: &VerifyResult{Passed: true, Stored: 1000, StoredRate: 9000, Conversations: 100, Assigned: 100}}
	}
	slow, errs, failed, unverified := good(), good(), good(), good()
	slow.Verify.StoredRate = 7999
	errs.Run.Errors = 1
	failed.Verify.Passed = false
	unverified.Verify = nil
	for name, c := range map[string]struct {
		r    *Report
		want bool
	}{"at the rate": {good(), true}, "slower": {slow, false}, "fill errors": {errs, false},
		"verification failed": {failed, false}, "not verified": {unverified, false}} {
		tb := &benchTable{}
		tb.consumerReplay(c.r)
		if len(tb.res.Rows) != 1 || tb.res.Rows[0].Met == nil || *tb.res.Rows[0].Met != c.want {
			t.Errorf("%s: rows %+v, want met %v", name, tb.res.Rows, c.want)
		}
	}
}
