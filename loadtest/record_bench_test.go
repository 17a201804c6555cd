package loadtest

import (
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// BenchmarkRecordStall records the answers of a 60 s run at 5,000
// requests a second (300,000, one message each) and reports the longest
// time one record call held the lock that every sender waits for.
func BenchmarkRecordStall(b *testing.B) {
	const n = 300_000
	var worst time.Duration
	for b.Loop() {
		r := &runner{codes: map[string]int{}, total: hdrhistogram.New(1, hdrMaxMicros, 3),
			late: hdrhistogram.New(1, hdrMaxMicros, 3), window: hdrhistogram.New(1, hdrMaxMicros, 3)}
		now := time.Now().UnixNano()
		for i := range n {
			rec := RequestRecord{Intended: now, Start: now, End: now + int64(i), Code: 200,
				Messages: []MessageRef{{WAMID: "wamid.x", Contact: "15550001111"}}}
			r.inflight++
			t := time.Now()
			r.record(rec)
			worst = max(worst, time.Since(t))
		}
		if res := r.result(time.Unix(0, now)); len(res.Requests) != n {
			b.Fatalf("%d records, want %d", len(res.Requests), n)
		}
	}
	b.ReportMetric(float64(worst.Microseconds()), "worst-µs")
}
