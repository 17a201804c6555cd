package loadtest

import (
	"fmt"
	"strconv"
	"strings"
)

// ErrorBudget is how many failed requests (anything but a 2xx answer) a
// run may have and still pass: a count, or a percentage of the requests
// sent. The zero value allows none.
type ErrorBudget struct {
	Max     float64 // a count, or a percentage when Percent is set
	Percent bool
}

// ParseErrorBudget reads "N" (a count) or "P%" (a percentage of the
// requests sent, 0 to 100).
func ParseErrorBudget(s string) (ErrorBudget, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 100 {
			return ErrorBudget{}, fmt.Errorf("loadtest: error budget %q: want a count like 10 or a percentage like 0.5%%", s)
		}
		return ErrorBudget{Max: v, Percent: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return ErrorBudget{}, fmt.Errorf("loadtest: error budget %q: want a count like 10 or a percentage like 0.5%%", s)
	}
	return ErrorBudget{Max: float64(n)}, nil
}

func (b ErrorBudget) String() string {
	if b.Percent {
		return strconv.FormatFloat(b.Max, 'f', -1, 64) + "%"
	}
	return strconv.FormatFloat(b.Max, 'f', 0, 64)
}

// allows reports whether errors of sent requests are within the budget.
func (b ErrorBudget) allows(errors, sent int) bool {
	if b.Percent {
		return float64(errors)*100 <= b.Max*float64(sent)
	}
	return float64(errors) <= b.Max
}

// RunChecks judges the run itself, whatever the target stored: its failed
// requests are within the budget, and something was acknowledged (a run
// that got nothing but errors proves nothing, verified or not).
func RunChecks(res *RunResult, budget ErrorBudget) []Check {
	errs := Check{Name: "errors within the budget", OK: budget.allows(res.Errors, res.Sent),
		Detail: fmt.Sprintf("%d of %d requests failed%s; allowed %s", res.Errors, res.Sent, errorSummary(res.Codes), budget)}
	acked := Check{Name: "something acknowledged", OK: res.OK > 0,
		Detail: fmt.Sprintf("%d of %d requests answered 2xx", res.OK, res.Sent)}
	return []Check{errs, acked}
}
