package loadtest

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Report file names inside a report directory.
const (
	ReportJSON = "report.json"
	ReportHTML = "report.html"
	SentLog    = "sent.jsonl"
)

// Report is everything a load test run measured and verified. It is
// written as JSON and as a self-contained HTML page.
type Report struct {
	Name      string            `json:"name,omitempty"`
	Command   string            `json:"command"`
	CreatedAt time.Time         `json:"created_at"`
	Host      HostInfo          `json:"host"`
	Settings  map[string]string `json:"settings,omitempty"`
	Baseline  *Baseline         `json:"baseline,omitempty"`
	Run       *RunResult        `json:"run,omitempty"`
	// Checks judge the run itself (RunChecks): errors within the budget,
	// something acknowledged.
	Checks []Check       `json:"checks,omitempty"`
	Verify *VerifyResult `json:"verify,omitempty"`
	Notes  []string      `json:"notes,omitempty"`
}

// HostInfo says where the load generator ran.
type HostInfo struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

// ThisHost describes the machine running the load test.
func ThisHost() HostInfo {
	h, _ := os.Hostname()
	return HostInfo{Hostname: h, OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
}

// Passed reports whether every check of the run passed and the run was
// verified without failures (a run not verified passes on its own checks).
func (r *Report) Passed() bool {
	return len(r.Failures()) == 0 && (r.Verify == nil || r.Verify.Passed)
}

// Failures lists the failed checks of the run and of its verification,
// one line each.
func (r *Report) Failures() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK && !c.Skipped {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	if r.Verify != nil {
		out = append(out, r.Verify.Failures()...)
	}
	return out
}

// WriteFiles writes report.json and report.html into dir.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ReportJSON), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ReportHTML), buf.Bytes(), 0o644)
}

// ReadReport reads a report.json.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// ---------------------------------------------------------------- sent log

type sentHeader struct {
	Kind      string    `json:"kind"` // "run"
	Target    string    `json:"target"`
	Mode      string    `json:"mode"`
	StartedAt time.Time `json:"started_at"`
	Baseline  *Baseline `json:"baseline,omitempty"`
}

// WriteSentLog writes what every request carried and when it was sent and
// answered (JSONL: a header line, then one line per request), so that a
// later `verify` can check the target without the traffic file.
func WriteSentLog(w io.Writer, res *RunResult, baseline *Baseline) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(sentHeader{Kind: "run", Target: res.Target, Mode: res.Mode, StartedAt: res.StartedAt, Baseline: baseline}); err != nil {
		return err
	}
	for i := range res.Requests {
		if err := enc.Encode(&res.Requests[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadSentLog reads a sent log back into a RunResult (its summary
// recomputed from the records) and the baseline taken before the run.
func ReadSentLog(rd io.Reader) (*RunResult, *Baseline, error) {
	br := bufio.NewReaderSize(rd, 1<<20)
	var hdr sentHeader
	first := true
	var recs []RequestRecord
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if first {
				if err := json.Unmarshal(line, &hdr); err != nil || hdr.Kind != "run" {
					return nil, nil, fmt.Errorf("loadtest: sent log: line 1 is not a run header")
				}
				first = false
			} else {
				var rec RequestRecord
				if err := json.Unmarshal(line, &rec); err != nil {
					return nil, nil, fmt.Errorf("loadtest: sent log line %d: %w", n, err)
				}
				recs = append(recs, rec)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if first {
		return nil, nil, errors.New("loadtest: sent log is empty")
	}
	return ResultFromRecords(hdr.Target, hdr.Mode, hdr.StartedAt, recs), hdr.Baseline, nil
}

// ResultFromRecords recomputes a run's summary from its records.
func ResultFromRecords(target, mode string, start time.Time, recs []RequestRecord) *RunResult {
	r := newRunner(RunConfig{URL: target, Closed: mode == "closed"})
	for _, rec := range recs {
		r.inflight++
		r.record(rec)
	}
	if start.IsZero() && len(recs) > 0 {
		start = time.Unix(0, recs[0].Intended)
	}
	return r.result(start)
}

// ---------------------------------------------------------------- terminal

// WriteSummary prints the report for a terminal.
func (r *Report) WriteSummary(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	if run := r.Run; run != nil {
		p("\n%s: %s loop against %s\n", r.Command, run.Mode, run.Target)
		if run.Mode == "closed" {
			p("  connections  %d\n", run.Connections)
		}
		p("  requests     %d sent, %d ok, %d errors%s\n", run.Sent, run.OK, run.Errors, codeList(run.Codes))
		p("  duration     %.2f s   throughput %.0f req/s, %.0f msg/s (%d messages, %d statuses, %d redeliveries)\n",
			run.Seconds, run.Throughput, run.MsgRate, run.Messages, run.Statuses, run.Redelivered)
		p("  latency      %s   (from the intended send time)\n", latLine(run.Latency))
		if run.Mode == "open" {
			p("  offered      %.0f req/s (the intended schedule)\n", run.Offered)
			p("  sent late    %s\n", latLine(run.Late))
			p("  answered     %s   (from the actual send)\n", latLine(run.Answer))
		}
		if d := run.Drain; d != nil {
			if d.Drained {
				p("  drain        %.3f s after the last answer (polled: %d of %d stored)\n", d.Seconds, d.Stored, d.Expected)
			} else {
				p("  drain        NOT DRAINED after %.1f s: %d of %d stored\n", d.Seconds, d.Stored, d.Expected)
			}
		}
	}
	if len(r.Checks) > 0 {
		p("\nrun: %s\n", verdict(checksPassed(r.Checks)))
		writeChecks(w, r.Checks)
	}
	if v := r.Verify; v != nil {
		p("\nverification (%s): %s\n", v.Source, verdict(v.Passed))
		writeChecks(w, v.Checks)
		if v.E2E.Count > 0 {
			p("  webhook → message stored       %s\n", latLine(v.E2E))
		}
		if v.Assignment.Count > 0 {
			p("  webhook → assignment committed %s\n", latLine(v.Assignment))
		}
		if v.AssignmentUnheard > 0 {
			p("  assignment commits not heard   %d conversations (not in the latency above)\n", v.AssignmentUnheard)
		}
		if v.ConsumerLag.Count > 0 {
			p("  consumer lag (ack → stored)    %s\n", latLine(v.ConsumerLag))
			p("  drain after the load stopped   %.3f s (last message stored after the last answer)\n", v.DrainSeconds)
		}
		if len(v.Spread) > 0 {
			var parts []string
			for _, a := range v.Spread {
				parts = append(parts, fmt.Sprintf("%s %d", a.Name, a.Conversations))
			}
			p("  assignment spread              %s (max − min %d)\n", strings.Join(parts, ", "), v.SpreadMaxMinus)
		}
	}
	for _, n := range r.Notes {
		p("  note: %s\n", n)
	}
}

func verdict(ok bool) string {
	if ok {
		return "PASSED"
	}
	return "FAILED"
}

func checksPassed(checks []Check) bool {
	for _, c := range checks {
		if !c.OK && !c.Skipped {
			return false
		}
	}
	return true
}

// writeChecks prints one line per check, with the offenders of failed ones.
func writeChecks(w io.Writer, checks []Check) {
	for _, c := range checks {
		mark := "ok  "
		switch {
		case c.Skipped:
			mark = "skip"
		case !c.OK:
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Detail)
		if !c.OK && !c.Skipped {
			for _, o := range c.Offenders {
				fmt.Fprintf(w, "         %s\n", o)
			}
		}
	}
}

// countList formats counts by key: "sent 12, pending 3".
func countList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedCodeKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func latLine(l Latency) string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s",
		fmtMS(l.P50MS), fmtMS(l.P90MS), fmtMS(l.P99MS), fmtMS(l.P999MS), fmtMS(l.MaxMS))
}

func codeList(codes map[string]int) string {
	var parts []string
	for _, k := range sortedCodeKeys(codes) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, codes[k]))
	}
	if len(parts) == 0 {
		return ""
	}
	return "   (" + strings.Join(parts, " ") + ")"
}

// ---------------------------------------------------------------- HTML

//go:embed report.html.tmpl
var reportTemplate string

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and SVG charts, no external assets.
func (r *Report) WriteHTML(w io.Writer) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"ms":  fmtMS,
		"lat": latLine,
		"pct": func(a, b int) string {
			if b == 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
		},
		"codes":  func(m map[string]int) string { return strings.TrimSpace(strings.Trim(codeList(m), " ()")) },
		"counts": countList,
	}).Parse(reportTemplate)
	if err != nil {
		return err
	}
	data := struct {
		*Report
		Title  string
		Charts []template.HTML
		Passed bool
	}{Report: r, Title: "wagw load test", Passed: r.Passed()}
	if r.Name != "" {
		data.Title += ": " + r.Name
	}
	data.Charts = r.charts()
	return t.Execute(w, data)
}

func (r *Report) charts() []template.HTML {
	var out []template.HTML
	if run := r.Run; run != nil && len(run.Timeline) > 0 {
		x := make([]float64, len(run.Timeline))
		offered, sent, ok, errs := make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
		p50, p90, p99, mx := make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
		for i, s := range run.Timeline {
			x[i] = float64(s.T)
			offered[i], sent[i], ok[i], errs[i] = float64(s.Sent), float64(s.Started), float64(s.OK), float64(s.Errors)
			p50[i], p90[i], p99[i], mx[i] = s.P50MS, s.P90MS, s.P99MS, s.MaxMS
			if s.Sent == 0 {
				p50[i], p90[i], p99[i], mx[i] = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			}
		}
		series := []chartSeries{{"sent", "#4e79a7", sent}, {"answered 2xx", "#59a14f", ok}, {"errors", "#e15759", errs}}
		if run.Mode == "open" {
			series = append([]chartSeries{{"offered (intended)", "#bab0ac", offered}}, series...)
		}
		out = append(out, lineChart("Throughput", "requests per second", x, series, false))
		out = append(out, lineChart("Webhook latency from the intended send time", "milliseconds (log scale)", x, []chartSeries{
			{"p50", "#59a14f", p50}, {"p90", "#4e79a7", p90}, {"p99", "#f28e2b", p99}, {"max", "#e15759", mx}}, true))
		if run.Mode == "open" {
			out[len(out)-1] = lineChart("Webhook latency from the intended send time, by intended second", "milliseconds (log scale)", x,
				[]chartSeries{{"p50", "#59a14f", p50}, {"p90", "#4e79a7", p90}, {"p99", "#f28e2b", p99}, {"max", "#e15759", mx}}, true)
		}
	}
	if v := r.Verify; v != nil && len(v.Timeline) > 0 {
		x := make([]float64, len(v.Timeline))
		lagN, e50, e99, l99 := make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
		for i, s := range v.Timeline {
			x[i] = float64(s.T)
			lagN[i] = float64(max(0, s.Acked-s.Stored))
			e50[i], e99[i], l99[i] = s.E2EP50, s.E2EP99, s.LagP99
			if s.Count == 0 {
				e50[i], e99[i], l99[i] = math.NaN(), math.NaN(), math.NaN()
			}
		}
		out = append(out, lineChart("Consumer lag: messages acknowledged but not yet stored", "messages", x, []chartSeries{
			{"acknowledged − stored", "#b07aa1", lagN}}, false))
		out = append(out, lineChart("Webhook → stored, by intended send second", "milliseconds (log scale)", x, []chartSeries{
			{"end to end p50", "#59a14f", e50}, {"end to end p99", "#f28e2b", e99}, {"consumer lag p99", "#b07aa1", l99}}, true))
	} else if run := r.Run; run != nil && hasPolledLag(run) {
		var x, lag []float64
		for _, s := range run.Timeline {
			if s.Stored >= 0 {
				x = append(x, float64(s.T))
				lag = append(lag, float64(max(0, s.Acked-s.Stored)))
			}
		}
		out = append(out, lineChart("Consumer lag (polled): acknowledged − stored", "messages", x, []chartSeries{{"lag", "#b07aa1", lag}}, false))
	}
	if v := r.Verify; v != nil && len(v.Spread) > 0 {
		var labels []string
		var vals []float64
		for _, a := range v.Spread {
			labels = append(labels, a.Name)
			vals = append(vals, float64(a.Conversations))
		}
		out = append(out, barChart("Assignment spread: conversations per agent", labels, vals))
	}
	return out
}

func hasPolledLag(run *RunResult) bool {
	for _, s := range run.Timeline {
		if s.Stored >= 0 {
			return true
		}
	}
	return false
}

type chartSeries struct {
	Name, Color string
	Y           []float64
}

const (
	chartW, chartH                       = 760, 260
	chartL, chartR, chartT, chartB       = 64, 16, 48, 40
	chartPlotW, chartPlotH               = chartW - chartL - chartR, chartH - chartT - chartB
	chartFont                            = `font-family="system-ui,sans-serif" font-size="11"`
	chartAxis                            = "#888"
	chartGrid                            = "#e5e5e5"
	chartTitleSize                       = 13
	chartLegendGap                       = 130
	chartMinLog, chartBarGap, chartTicks = 0.01, 8, 5
)

// niceTicks returns about n round tick values covering [0, hi].
func niceTicks(hi float64, n int) []float64 {
	if hi <= 0 {
		hi = 1
	}
	raw := hi / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := 0.0; v <= hi*1.0001+step; v += step {
		out = append(out, v)
		if v >= hi {
			break
		}
	}
	return out
}

func fmtTick(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case math.Abs(v) >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.4g", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

// lineChart draws series over x (seconds) as an inline SVG.
func lineChart(title, yLabel string, x []float64, series []chartSeries, logY bool) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" %s>`,
		chartW, chartH, chartW, chartH, html.EscapeString(title), chartFont)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="%d" font-weight="600">%s</text>`, chartL, chartTitleSize, html.EscapeString(title))
	xmax := 1.0
	for _, v := range x {
		xmax = max(xmax, v)
	}
	ymax, ymin := 0.0, math.Inf(1)
	for _, s := range series {
		for _, v := range s.Y {
			if math.IsNaN(v) {
				continue
			}
			ymax = max(ymax, v)
			if v > 0 {
				ymin = min(ymin, v)
			}
		}
	}
	px := func(v float64) float64 { return chartL + v/xmax*chartPlotW }
	var py func(float64) float64
	var yticks []float64
	if logY {
		lo := math.Pow(10, math.Floor(math.Log10(max(chartMinLog, math.Min(ymin, ymax)))))
		if math.IsInf(ymin, 1) {
			lo = 0.1
		}
		hi := math.Pow(10, math.Ceil(math.Log10(max(ymax, lo*10))))
		for t := lo; t <= hi*1.0001; t *= 10 {
			yticks = append(yticks, t)
		}
		py = func(v float64) float64 {
			v = max(v, lo)
			return chartT + chartPlotH - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*chartPlotH
		}
	} else {
		yticks = niceTicks(ymax, chartTicks)
		top := yticks[len(yticks)-1]
		py = func(v float64) float64 { return chartT + chartPlotH - v/top*chartPlotH }
	}
	for _, t := range yticks {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>`, chartL, chartL+chartPlotW, y, y, chartGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`, chartL-6, y+4, fmtTick(t))
	}
	for _, t := range niceTicks(xmax, 8) {
		if t > xmax {
			break
		}
		xx := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s"/>`, xx, xx, chartT+chartPlotH, chartT+chartPlotH+4, chartAxis)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%ss</text>`, xx, chartT+chartPlotH+16, fmtTick(t))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>`, chartL, chartL+chartPlotW, chartT+chartPlotH, chartT+chartPlotH, chartAxis)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>`, chartL, chartL, chartT, chartT+chartPlotH, chartAxis)
	fmt.Fprintf(&b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle" fill="#555">%s</text>`,
		chartT+chartPlotH/2, chartT+chartPlotH/2, html.EscapeString(yLabel))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">seconds since the start</text>`, chartL+chartPlotW/2, chartH-4)
	for i, s := range series {
		// A NaN (no sample in that second) breaks the line.
		var segs []string
		var pts strings.Builder
		flush := func() {
			if pts.Len() > 0 {
				segs = append(segs, strings.TrimSpace(pts.String()))
				pts.Reset()
			}
		}
		for j, v := range s.Y {
			if j >= len(x) {
				break
			}
			if math.IsNaN(v) {
				flush()
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(x[j]), py(v))
		}
		flush()
		for _, seg := range segs {
			if !strings.Contains(seg, " ") { // a lone point
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="1.8" fill="%s"/>`, strings.Split(seg, ",")[0], strings.Split(seg, ",")[1], s.Color)
				continue
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"><title>%s</title></polyline>`,
				s.Color, seg, html.EscapeString(s.Name))
		}
		lx := chartL + i*chartLegendGap
		fmt.Fprintf(&b, `<rect x="%d" y="27" width="10" height="10" fill="%s"/><text x="%d" y="36">%s</text>`,
			lx, s.Color, lx+14, html.EscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// barChart draws one bar per label as an inline SVG.
func barChart(title string, labels []string, values []float64) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" %s>`,
		chartW, chartH, chartW, chartH, html.EscapeString(title), chartFont)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="%d" font-weight="600">%s</text>`, chartL, chartTitleSize, html.EscapeString(title))
	ymax := 0.0
	for _, v := range values {
		ymax = max(ymax, v)
	}
	ticks := niceTicks(ymax, chartTicks)
	top := ticks[len(ticks)-1]
	py := func(v float64) float64 { return chartT + chartPlotH - v/top*chartPlotH }
	for _, t := range ticks {
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>`, chartL, chartL+chartPlotW, y, y, chartGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`, chartL-6, y+4, fmtTick(t))
	}
	n := max(1, len(values))
	slot := float64(chartPlotW) / float64(n)
	bw := max(2, slot-chartBarGap)
	for i, v := range values {
		x := chartL + float64(i)*slot + (slot-bw)/2
		y := py(v)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4e79a7"><title>%s: %.0f</title></rect>`,
			x, y, bw, chartT+chartPlotH-y, html.EscapeString(labels[i]), v)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`, x+bw/2, y-4, v)
		label := labels[i]
		if len([]rune(label)) > 14 {
			label = string([]rune(label)[:13]) + "…"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`, x+bw/2, chartT+chartPlotH+16, html.EscapeString(label))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>`, chartL, chartL+chartPlotW, chartT+chartPlotH, chartT+chartPlotH, chartAxis)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
