package loadtest

import (
	"fmt"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// hdrMaxMicros is the largest latency the histograms hold (10 minutes);
// larger values are clamped to it.
const hdrMaxMicros = int64(10 * time.Minute / time.Microsecond)

// Latency summarises a latency distribution, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// summarize reads a histogram of microseconds as a Latency.
func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(), MinMS: ms(h.Min()), MeanMS: h.Mean() / 1000,
		P50MS: ms(h.ValueAtQuantile(50)), P90MS: ms(h.ValueAtQuantile(90)), P99MS: ms(h.ValueAtQuantile(99)),
		P999MS: ms(h.ValueAtQuantile(99.9)), MaxMS: ms(h.Max()),
	}
}

// percentileOf returns the q-quantile (0..1) of sorted values.
func percentileOf(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// micros is d in microseconds, within what the histograms hold.
func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return min(max(us, 1), hdrMaxMicros)
}

// fmtMS formats milliseconds for progress lines and reports.
func fmtMS(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.2fms", ms)
	}
}
