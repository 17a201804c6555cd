package loadtest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// DefaultAPI is the base URL of the target when none is given: serve on
// this machine with its default address.
const DefaultAPI = "http://127.0.0.1:8080"

// Defaults of RunConfig.
const (
	DefaultTarget       = DefaultAPI + "/webhook"
	DefaultConnections  = 64
	DefaultMaxInFlight  = 1024
	DefaultTimeout      = 10 * time.Second
	DefaultDrainTimeout = 30 * time.Second
)

// Source yields the requests of a run in intended order.
type Source interface {
	Next() (Request, bool)
}

// RunConfig configures Run. The zero value of every field selects the
// default named in its comment.
type RunConfig struct {
	// URL is the webhook endpoint. Default DefaultTarget.
	// It must be a loopback address unless AllowRemote is set (see
	// CheckTarget).
	URL         string
	AllowRemote bool
	// Secret signs every body (X-Hub-Signature-256). Empty: bodies go out
	// unsigned (the gateway answers 401).
	Secret []byte

	// Closed selects closed-loop sending: Connections workers each send the
	// next request as soon as the previous one is answered, ignoring the
	// requests' At (the ingest ceiling). Otherwise the run is open-loop:
	// each request goes out at its intended time At whatever happens to
	// earlier ones, and its latency counts from that intended time, so a
	// slow server cannot hide its queueing (no coordinated omission).
	Closed bool
	// Connections is the closed-loop concurrency. Default 64.
	Connections int
	// MaxInFlight bounds the open-loop requests in flight. When it is
	// reached, later requests leave late and the lateness counts in their
	// latency. Default 1024.
	MaxInFlight int

	// Duration stops sending after this long (open loop: requests whose At
	// is not before it are not sent). Requests stops after this many. At
	// least one of them, or a finite Source, must bound the run.
	Duration time.Duration
	Requests int
	// Timeout bounds one request. Default 10 s.
	Timeout time.Duration
	// Start is when At = 0 is (open loop). Default: 50 ms after Run starts.
	Start time.Time

	// Progress receives one line per ProgressEvery (default 1 s): sent,
	// ok, errors by status, current rate, p99 and, with Stored, the stored
	// count and the lag behind the acknowledged messages. Nil: silent.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Stored, when set, returns how many inbound messages the target has
	// stored since the run began. It is polled every ProgressEvery during
	// the run (consumer lag over time) and every 50 ms after it, until it
	// reaches the acknowledged messages or DrainTimeout passes (the time
	// the consumer needs to drain).
	Stored       func(ctx context.Context) (int64, error)
	DrainTimeout time.Duration
	// OnSend, when set, is called with each request just before it is
	// sent, from the sending goroutines (it must be safe for concurrent
	// use): to save exactly the traffic that went out.
	OnSend func(Request)
}

// RequestRecord is what happened to one request.
type RequestRecord struct {
	Intended int64        `json:"at"`    // intended send time, Unix ns
	Start    int64        `json:"start"` // actual send time, Unix ns
	End      int64        `json:"end"`   // response (or error) time, Unix ns
	Code     int          `json:"code"`  // HTTP status; 0 on a transport error
	Err      string       `json:"err,omitempty"`
	NoRetry  bool         `json:"nr,omitempty"` // a 503 without Retry-After
	Messages []MessageRef `json:"m,omitempty"`
	Statuses []string     `json:"s,omitempty"`
	Redeliv  bool         `json:"r,omitempty"`
}

// OK reports a 2xx answer.
func (r *RequestRecord) OK() bool { return r.Code >= 200 && r.Code < 300 }

// Second is one second of a run.
type Second struct {
	T       int     `json:"t"`       // seconds since the start
	Sent    int     `json:"sent"`    // requests intended in this second
	Started int     `json:"started"` // requests that actually left in this second
	OK      int     `json:"ok"`      // 2xx answers received in this second
	Errors  int     `json:"errors"`
	P50MS   float64 `json:"p50_ms"` // latency of the requests intended in this second
	P90MS   float64 `json:"p90_ms"`
	P99MS   float64 `json:"p99_ms"`
	MaxMS   float64 `json:"max_ms"`
	// Acked and Stored are the acknowledged and the stored messages at the
	// end of the second (polled; -1 when not measured).
	Acked  int64 `json:"acked"`
	Stored int64 `json:"stored"`
}

// Drain is the polled time the consumer needed after the load stopped.
type Drain struct {
	Expected int64   `json:"expected"` // unique messages acknowledged
	Stored   int64   `json:"stored"`   // stored when polling stopped
	Drained  bool    `json:"drained"`
	Seconds  float64 `json:"seconds"` // from the last response to stored >= expected
}

// RunResult is the outcome of Run.
type RunResult struct {
	Target      string         `json:"target"`
	Mode        string         `json:"mode"` // open | closed
	Connections int            `json:"connections,omitempty"`
	StartedAt   time.Time      `json:"started_at"`
	EndedAt     time.Time      `json:"ended_at"`
	Seconds     float64        `json:"seconds"` // first send to last answer
	Sent        int            `json:"sent"`
	OK          int            `json:"ok"`
	Errors      int            `json:"errors"`
	Codes       map[string]int `json:"codes"` // "200", "503", "timeout", "refused"…
	// Unclassified is up to maxUnclassified distinct texts of the
	// failures counted as "error" (none of timeout, refused, reset,
	// cancelled): what they were.
	Unclassified []string `json:"unclassified,omitempty"`
	// NoRetryAfter counts the 503 answers without a Retry-After header.
	NoRetryAfter int `json:"no_retry_after,omitempty"`
	Redelivered  int `json:"redeliveries"`
	// Messages and Statuses are the unique items of acknowledged requests.
	Messages   int     `json:"messages"`
	Statuses   int     `json:"statuses"`
	Throughput float64 `json:"throughput_rps"` // 2xx answers per second
	// Offered is the requests per second of the intended schedule (open
	// loop): what the run asked of the target, whatever it achieved.
	Offered float64 `json:"offered_rps,omitempty"`
	MsgRate float64 `json:"messages_per_second"`
	Latency Latency `json:"latency"` // from the intended send time
	// Late summarises how late requests left against their intended time
	// (open loop): large values mean the generator or MaxInFlight held
	// them back.
	Late Latency `json:"late"`
	// Answer summarises how long each request took from its actual send
	// to its answer: the target's own time, whatever the generator's
	// lateness added to Latency.
	Answer   Latency  `json:"answer"`
	Timeline []Second `json:"timeline"`
	Drain    *Drain   `json:"drain,omitempty"`

	Requests []RequestRecord `json:"-"`
}

type runner struct {
	cfg    RunConfig
	sender *sender
	// origin is the run's start, with the monotonic clock's reading: the
	// records' times are its wall-clock time plus the monotonic time
	// since (stamp).
	origin time.Time

	mu           sync.Mutex
	chunks       [][]RequestRecord // the records as they come, recordChunk to a chunk
	total        *hdrhistogram.Histogram
	late         *hdrhistogram.Histogram
	answer       *hdrhistogram.Histogram
	window       *hdrhistogram.Histogram
	codes        map[string]int
	sent, ok     int
	noRetryAfter int
	winOK        int
	ackedMsgs    int64 // message items of acknowledged first deliveries
	inflight     int
	samples      []lagSample
	unclassified []string
}

// newRunner is a runner of cfg with empty histograms, no sender yet.
func newRunner(cfg RunConfig) *runner {
	h := func() *hdrhistogram.Histogram { return hdrhistogram.New(1, hdrMaxMicros, 3) }
	return &runner{cfg: cfg, codes: map[string]int{}, total: h(), late: h(), answer: h(), window: h()}
}

type lagSample struct {
	at            time.Time
	acked, stored int64
}

// Run sends the requests of src to cfg.URL and measures them.
func Run(ctx context.Context, cfg RunConfig, src Source) (*RunResult, error) {
	target, err := CheckTarget(cfg.URL, cfg.AllowRemote)
	if err != nil {
		return nil, err
	}
	cfg.URL = target
	if cfg.Connections <= 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	conc := cfg.MaxInFlight
	if cfg.Closed {
		conc = cfg.Connections
	}
	r := newRunner(cfg)
	r.sender = newSender(ctx, cfg, conc)
	defer r.sender.close()

	start := cfg.Start
	if start.IsZero() {
		start = time.Now().Add(50 * time.Millisecond)
	}
	r.origin = start
	// Requests are made ahead (a bounded queue) so that producing bodies
	// overlaps with sending them.
	queue := make(chan Request, 4096)
	pctx, stopProducer := context.WithCancel(ctx)
	defer stopProducer()
	go func() {
		defer close(queue)
		for n := 0; cfg.Requests <= 0 || n < cfg.Requests; n++ {
			req, ok := src.Next()
			if !ok || (!cfg.Closed && cfg.Duration > 0 && req.At >= cfg.Duration) {
				return
			}
			select {
			case queue <- req:
			case <-pctx.Done():
				return
			}
		}
	}()

	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(ctx, start, stopProgress)
	}()

	if cfg.Closed {
		r.closedLoop(ctx, start, queue)
	} else {
		r.openLoop(ctx, start, queue)
	}
	stopProducer()
	close(stopProgress)
	<-progressDone

	res := r.result(start)
	if cfg.Stored != nil && ctx.Err() == nil {
		res.Drain = r.drain(ctx, res)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// openLoop sends each request at its time, whatever the answers to the
// earlier ones, with at most MaxInFlight in flight. Senders are kept: a
// request goes to an idle one, and a new one starts only when none is
// idle (a goroutine per request grew a new stack for every HTTP call).
func (r *runner) openLoop(ctx context.Context, start time.Time, queue <-chan Request) {
	type job struct {
		req Request
		due time.Time
	}
	work := make(chan job)
	senders := 0
	var wg sync.WaitGroup
	sender := func(j job) {
		defer wg.Done()
		for ok := true; ok; j, ok = <-work {
			if ctx.Err() == nil { // once cancelled, a request would only fail
				r.send(ctx, j.req, j.due)
			}
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
loop:
	for req := range queue {
		if ctx.Err() != nil { // behind schedule, nothing below may wait for it
			break
		}
		j := job{req: req, due: start.Add(req.At)}
		if d := time.Until(j.due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break loop
			}
		}
		select {
		case work <- j: // an idle sender took it
			continue
		default:
		}
		if senders < r.cfg.MaxInFlight {
			senders++
			wg.Add(1)
			go sender(j)
			continue
		}
		select { // MaxInFlight in flight: wait for one to finish
		case work <- j:
		case <-ctx.Done():
			break loop
		}
	}
	close(work)
	wg.Wait()
}

func (r *runner) closedLoop(ctx context.Context, start time.Time, queue <-chan Request) {
	if d := time.Until(start); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return
		}
	}
	var wg sync.WaitGroup
	for range r.cfg.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if r.cfg.Duration > 0 && time.Since(start) >= r.cfg.Duration {
					return
				}
				req, ok := <-queue
				if !ok {
					return
				}
				r.send(ctx, req, time.Now())
			}
		}()
	}
	wg.Wait()
}

// send posts one request; its latency counts from intended.
func (r *runner) send(ctx context.Context, req Request, intended time.Time) {
	r.mu.Lock()
	r.inflight++
	r.mu.Unlock()
	if r.cfg.OnSend != nil {
		r.cfg.OnSend(req)
	}
	started := time.Now()
	code, noRetry, err := r.sender.post(req)
	errText := ""
	if err != nil {
		if ctx.Err() != nil { // the run's end closed its connection
			err = ctx.Err()
		}
		if errText = classifyError(err); errText == "error" {
			r.noteUnclassified(withoutPorts(err.Error()))
		}
	}
	end := time.Now()
	r.record(RequestRecord{Intended: r.stamp(intended), Start: r.stamp(started), End: r.stamp(end), Code: code, Err: errText, NoRetry: noRetry,
		Messages: req.Messages, Statuses: req.Statuses, Redeliv: req.Redelivery})
}

// stamp is t in Unix ns on the run's clock: the wall-clock time of its
// start plus the monotonic time from the start to t. A request's latency
// and lateness are differences of such times, and so follow the monotonic
// clock, as the schedule does: a wall clock set or slewed during a run
// (a machine's time sync) shifted them by as much. One make bench run
// here measured every request of a 60 s run later than the one before
// by 0.5 %, 300 ms by its end, while the generator waited for each on
// time.
func (r *runner) stamp(t time.Time) int64 {
	return r.origin.UnixNano() + int64(t.Sub(r.origin))
}

// recordChunk is how many records a chunk holds. Records go to chunks of
// a fixed size rather than to one slice: a slice that grows copies every
// record so far (30 MB at 250,000 records) under the lock every sender
// waits for to record its answer, and the senders stood still while it
// copied (the run's lateness rose at each growth, 21, 26, 33, 41 and 51 s
// into a run at 5,000/s).
const recordChunk = 1 << 14

func (r *runner) record(rec RequestRecord) {
	lat := micros(time.Duration(rec.End - rec.Intended))
	late := micros(time.Duration(rec.Start - rec.Intended))
	answer := micros(time.Duration(rec.End - rec.Start))
	key := rec.Err
	if rec.Code != 0 {
		key = strconv.Itoa(rec.Code)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if n := len(r.chunks); n == 0 || len(r.chunks[n-1]) == recordChunk {
		r.chunks = append(r.chunks, make([]RequestRecord, 0, recordChunk))
	}
	r.chunks[len(r.chunks)-1] = append(r.chunks[len(r.chunks)-1], rec)
	_ = r.total.RecordValue(lat)
	_ = r.late.RecordValue(late)
	_ = r.answer.RecordValue(answer)
	_ = r.window.RecordValue(lat)
	r.codes[key]++
	if rec.NoRetry {
		r.noRetryAfter++
	}
	r.sent++
	if rec.OK() {
		r.ok++
		r.winOK++
		if !rec.Redeliv {
			r.ackedMsgs += int64(len(rec.Messages))
		}
	}
}

// progress prints a line per tick and samples the consumer's progress.
func (r *runner) progress(ctx context.Context, start time.Time, stop <-chan struct{}) {
	tick := time.NewTicker(r.cfg.ProgressEvery)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			stored := int64(-1)
			if r.cfg.Stored != nil {
				pctx, cancel := context.WithTimeout(ctx, r.cfg.ProgressEvery/2)
				if n, err := r.cfg.Stored(pctx); err == nil {
					stored = n
				}
				cancel()
			}
			r.mu.Lock()
			sent, ok, inflight, acked := r.sent, r.ok, r.inflight, r.ackedMsgs
			rate := float64(r.winOK) / now.Sub(last).Seconds()
			p99 := float64(r.window.ValueAtQuantile(99)) / 1000
			errs := errorSummary(r.codes)
			r.window.Reset()
			r.winOK = 0
			if stored >= 0 {
				r.samples = append(r.samples, lagSample{at: now, acked: acked, stored: stored})
			}
			r.mu.Unlock()
			last = now
			if r.cfg.Progress == nil {
				continue
			}
			line := fmt.Sprintf("[%4.0fs] sent %d  ok %d  errors %d%s  rate %.0f/s  p99 %s  in flight %d",
				max(0, now.Sub(start).Seconds()), sent, ok, sent-ok, errs, rate, fmtMS(p99), inflight)
			if stored >= 0 {
				line += fmt.Sprintf("  stored %d (lag %d)", stored, max(0, acked-stored))
			}
			fmt.Fprintln(r.cfg.Progress, line)
		}
	}
}

func errorSummary(codes map[string]int) string {
	var parts []string
	for _, k := range sortedCodeKeys(codes) {
		if len(k) == 3 && k[0] == '2' {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s×%d", k, codes[k]))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}

func sortedCodeKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (r *runner) result(start time.Time) *RunResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	mode := "open"
	if r.cfg.Closed {
		mode = "closed"
	}
	res := &RunResult{Target: r.cfg.URL, Mode: mode, StartedAt: start, Sent: r.sent, OK: r.ok, Errors: r.sent - r.ok, NoRetryAfter: r.noRetryAfter,
		Codes: r.codes, Unclassified: r.unclassified, Latency: summarize(r.total), Late: summarize(r.late),
		Answer: summarize(r.answer)}
	if r.cfg.Closed {
		res.Connections = r.cfg.Connections
	}
	recs := slices.Concat(r.chunks...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Intended < recs[j].Intended })
	res.Requests = recs
	if len(recs) == 0 {
		res.EndedAt = start
		return res
	}
	first, last := recs[0].Start, int64(0)
	for i := range recs {
		first = min(first, recs[i].Start)
		last = max(last, recs[i].End)
	}
	res.StartedAt, res.EndedAt = time.Unix(0, first), time.Unix(0, last)
	res.Seconds = float64(last-first) / 1e9
	msgs, sts := map[string]bool{}, map[string]bool{}
	for i := range recs {
		rec := &recs[i]
		if rec.Redeliv {
			res.Redelivered++
		}
		if !rec.OK() {
			continue
		}
		for _, m := range rec.Messages {
			msgs[m.WAMID] = true
		}
		for _, s := range rec.Statuses {
			sts[s] = true
		}
	}
	res.Messages, res.Statuses = len(msgs), len(sts)
	if !r.cfg.Closed && len(recs) > 1 {
		span := float64(recs[len(recs)-1].Intended-recs[0].Intended) / 1e9
		if span > 0 {
			res.Offered = float64(len(recs)-1) / span
		}
	}
	if res.Seconds > 0 {
		res.Throughput = float64(res.OK) / res.Seconds
		res.MsgRate = float64(res.Messages) / res.Seconds
	}
	res.Timeline = r.timeline(start, recs)
	return res
}

// timeline buckets the records by second: sends and latencies by intended
// time, answers by arrival time; lag samples by when they were taken.
func (r *runner) timeline(start time.Time, recs []RequestRecord) []Second {
	origin := start.UnixNano()
	for i := range recs {
		origin = min(origin, recs[i].Intended)
	}
	bucket := func(ns int64) int { return int(max(0, ns-origin) / int64(time.Second)) }
	n := 0
	for i := range recs {
		n = max(n, bucket(recs[i].End)+1)
	}
	for _, s := range r.samples {
		n = max(n, bucket(s.at.UnixNano())+1)
	}
	secs := make([]Second, n)
	lats := make([][]float64, n)
	for i := range secs {
		secs[i] = Second{T: i, Acked: -1, Stored: -1}
	}
	for i := range recs {
		rec := &recs[i]
		b := bucket(rec.Intended)
		secs[b].Sent++
		secs[bucket(rec.Start)].Started++
		lats[b] = append(lats[b], float64(rec.End-rec.Intended)/1e6)
		e := bucket(rec.End)
		if rec.OK() {
			secs[e].OK++
		} else {
			secs[e].Errors++
		}
	}
	for i := range secs {
		l := lats[i]
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		secs[i].P50MS, secs[i].P90MS = percentileOf(l, 0.50), percentileOf(l, 0.90)
		secs[i].P99MS, secs[i].MaxMS = percentileOf(l, 0.99), l[len(l)-1]
	}
	for _, s := range r.samples {
		b := bucket(s.at.UnixNano())
		// The sample taken at the end of second b-1 describes it.
		if b > 0 {
			b--
		}
		secs[b].Acked, secs[b].Stored = s.acked, s.stored
	}
	return secs
}

// drain polls Stored until it reaches the acknowledged messages.
func (r *runner) drain(ctx context.Context, res *RunResult) *Drain {
	d := &Drain{Expected: int64(res.Messages)}
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := r.cfg.Stored(pctx)
		cancel()
		now := time.Now()
		if err == nil {
			d.Stored = n
			if n >= d.Expected {
				d.Drained = true
				d.Seconds = max(0, now.Sub(res.EndedAt).Seconds())
				return d
			}
		}
		if now.After(deadline) || ctx.Err() != nil {
			d.Seconds = now.Sub(res.EndedAt).Seconds()
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
}
