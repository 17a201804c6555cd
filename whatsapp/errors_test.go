package whatsapp

import (
	"testing"
	"time"
)

func TestClassifyTable(t *testing.T) {
	want := map[ErrorClass][]int{
		Throttled: {130429, 131056, 80007, 4},
		Permanent: {131047, 131026, 131049, 130472, 131050, 131051, 131052, 131053, 100, 33,
			131008, 131009, 131021, 132000, 132001, 132005, 132007, 132012, 132015, 132016, 132068, 132069, 132999, 137000},
		Transient:   {1, 2, 131000, 131016, 133004, 131057},
		AccountStop: {190, 0, 3, 10, 200, 250, 299, 368, 131031, 131042, 133010},
	}
	for class, codes := range want {
		for _, code := range codes {
			if got := Classify(code); got != class {
				t.Errorf("Classify(%d) = %v, want %v", code, got, class)
			}
		}
	}
	// Unknown codes and the edges of the ranges.
	for _, code := range []int{131054, 131048, 131999, 133000, 199, 300, 5, 999999, 131055, 133005} {
		if got := Classify(code); got != Permanent {
			t.Errorf("Classify(unknown %d) = %v, want permanent", code, got)
		}
	}
}

func TestBackoff(t *testing.T) {
	base, max := 100*time.Millisecond, time.Second
	for attempt := 0; attempt < 70; attempt++ {
		ceil := base << min(attempt, 20)
		if ceil > max {
			ceil = max
		}
		for i := 0; i < 50; i++ {
			d := Backoff(attempt, base, max)
			if d < 0 || d >= ceil {
				t.Fatalf("Backoff(%d) = %v, want in [0, %v)", attempt, d, ceil)
			}
		}
	}
	if d := Backoff(100, time.Second, 0); d < 0 {
		t.Errorf("uncapped Backoff overflowed: %v", d)
	}
}

func TestBackoffCeiling(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		attempt   int
		base, max time.Duration
		want      time.Duration
	}{
		{0, 500 * ms, 30 * time.Second, 500 * ms},
		{1, 500 * ms, 30 * time.Second, time.Second},
		{3, 500 * ms, 30 * time.Second, 4 * time.Second},
		{6, 500 * ms, 30 * time.Second, 30 * time.Second}, // 32 s capped
		{1000, 500 * ms, 30 * time.Second, 30 * time.Second},
		{-1, 500 * ms, 30 * time.Second, 500 * ms},
		{2, 0, 0, 4 * time.Second},              // base 0 is 1 s, max 0 no cap
		{40, time.Second, 0, time.Second << 32}, // uncapped: the doubling stops before it overflows
	} {
		if got := BackoffCeiling(tc.attempt, tc.base, tc.max); got != tc.want {
			t.Errorf("BackoffCeiling(%d, %v, %v) = %v, want %v", tc.attempt, tc.base, tc.max, got, tc.want)
		}
	}
}
