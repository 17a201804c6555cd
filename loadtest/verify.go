package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Defaults of VerifyConfig.
const (
	DefaultSettle       = 30 * time.Second
	DefaultMaxOffenders = 10
)

// VerifyConfig configures Verify. The zero value of every field selects
// the default named in its comment.
type VerifyConfig struct {
	Store Store
	// Source names the store in the report ("sql", "api").
	Source string
	// Baseline is where the tables stood before the run.
	Baseline Baseline
	// Settle is how long to wait for the consumer to store every
	// acknowledged message before calling the rest lost. Default 30 s.
	Settle time.Duration
	// ExpectWelcome: every conversation opened by the run must have exactly
	// one welcome message (the inbox has a welcome text and the Cloud API
	// or its simulator is configured).
	ExpectWelcome bool
	// ExpectStatuses: every welcome the Cloud API accepted must have its
	// statuses applied (delivered, read or failed) — with the simulator.
	ExpectStatuses bool
	// ExpectAssigned: every conversation opened by the run must have an
	// assignee (a strategy with online agents is configured).
	ExpectAssigned bool
	// MaxSpread, when zero or more, fails the run when the conversations
	// per agent (online agents, else those that got any) differ by more.
	// Negative: no check.
	MaxSpread int
	// MaxOffenders is how many offenders each failed check lists. Default 10.
	MaxOffenders int
	// Progress receives a line while waiting. Nil: silent.
	Progress io.Writer
	// HeardCommits: the store listened for the commits of the run's
	// conversations (StoredConversation.CommittedAt) from before the run
	// on, so that the assignment latency can be measured. False: not
	// measured.
	HeardCommits bool
}

// Check is one verification with its outcome.
type Check struct {
	Name      string   `json:"name"`
	OK        bool     `json:"ok"`
	Skipped   bool     `json:"skipped,omitempty"`
	Detail    string   `json:"detail"`
	Offenders []string `json:"offenders,omitempty"`
}

// AgentCount is the conversations of the run assigned to one agent.
type AgentCount struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Presence      string `json:"presence,omitempty"`
	Conversations int    `json:"conversations"`
}

// VerifySecond is one second of the run (by intended send time) as the
// target stored it.
type VerifySecond struct {
	T      int     `json:"t"`
	Count  int     `json:"count"` // messages intended in this second and stored
	E2EP50 float64 `json:"e2e_p50_ms"`
	E2EP99 float64 `json:"e2e_p99_ms"`
	LagP99 float64 `json:"lag_p99_ms"`
	Acked  int64   `json:"acked"`  // messages acknowledged by the end of the second
	Stored int64   `json:"stored"` // messages stored by the end of the second
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	Source string  `json:"source"`
	Passed bool    `json:"passed"`
	Checks []Check `json:"checks"`

	Expected      int `json:"expected"` // unique messages acknowledged
	Stored        int `json:"stored"`   // of the run's messages, acknowledged or not
	StoredUnacked int `json:"stored_unacked"`
	Lost          int `json:"lost"`
	Duplicated    int `json:"duplicated"`
	Reordered     int `json:"reordered"`
	// Concurrent counts messages stored after a higher sequence number of
	// their contact when both were in flight at once: allowed (nothing
	// orders two concurrent POSTs), reported for information.
	Concurrent    int `json:"concurrent"`
	Misattributed int `json:"misattributed"`
	Unattached    int `json:"unattached"`
	Unverifiable  int `json:"unverifiable,omitempty"`

	Contacts               int `json:"contacts"`
	Conversations          int `json:"conversations"`
	DuplicateConversations int `json:"duplicate_conversations"`

	StatusesExpected int `json:"statuses_expected"`
	StatusesMissing  int `json:"statuses_missing"`

	Welcomes       map[string]int `json:"welcomes"`         // by outbox state, "none" when missing
	WelcomeStatus  map[string]int `json:"welcome_statuses"` // last status of sent welcomes
	Assigned       int            `json:"assigned"`
	Queued         int            `json:"queued"`
	Unassigned     int            `json:"unassigned"`
	Spread         []AgentCount   `json:"spread"`
	SpreadMaxMinus int            `json:"spread_max_minus_min"`

	E2E        Latency `json:"e2e"`        // stored_at − intended send time
	Assignment Latency `json:"assignment"` // commit of the opening decision (heard) − intended send time of the opening message
	// AssignmentUnheard counts decided conversations of the run whose
	// commit the verifier did not hear: missing from Assignment.
	AssignmentUnheard int     `json:"assignment_unheard,omitempty"`
	ConsumerLag       Latency `json:"consumer_lag"` // stored_at − acknowledgement
	DrainSeconds      float64 `json:"drain_seconds"`
	// StoredRate is messages stored per second between the first and the
	// last stored_at of the run: what the consumer sustained.
	StoredRate float64        `json:"stored_per_second"`
	Timeline   []VerifySecond `json:"timeline,omitempty"`
}

// Failures lists the failed checks, one line each.
func (v *VerifyResult) Failures() []string {
	var out []string
	for _, c := range v.Checks {
		if !c.OK && !c.Skipped {
			out = append(out, c.Name+": "+c.Detail)
		}
	}
	return out
}

// expMsg is what the run says about one message.
type expMsg struct {
	ref        MessageRef
	intended   int64 // first intended send, Unix ns
	firstStart int64 // first actual send
	ack        int64 // first 2xx answer; 0 when never acknowledged
	req, pos   int   // first request carrying it, and its place there
	stored     *StoredMessage
}

// Verify checks what the target stored against what the run sent: every
// acknowledged message stored exactly once, in each contact's send order,
// one conversation per contact and inbox, one decision and (optionally)
// one welcome per conversation, every status kept; and measures the
// end-to-end latency and how long the consumer took to drain.
//
// Order is judged by what the sender can know: a message acknowledged
// before another of the same contact was sent must be stored before it,
// and messages of one POST must be stored in the POST's order. Two POSTs
// of a contact in flight at the same time have no order (Meta gives none
// either); they are counted as Concurrent.
func Verify(ctx context.Context, cfg VerifyConfig, run *RunResult) (*VerifyResult, error) {
	if cfg.Store == nil {
		return nil, errors.New("loadtest: verify needs a store (SQL or API)")
	}
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.MaxOffenders <= 0 {
		cfg.MaxOffenders = DefaultMaxOffenders
	}
	exp, order, statuses, acked := expectations(run)
	deadline := time.Now().Add(cfg.Settle)

	// Wait until the consumer caught up (cheap count), then check in full;
	// check again while something is missing and time remains.
	var said time.Time
	for {
		n, err := cfg.Store.CountInbound(ctx, cfg.Baseline)
		if errors.Is(err, ErrUnsupported) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("loadtest: count stored messages: %w", err)
		}
		if n >= int64(acked) || time.Now().After(deadline) {
			break
		}
		if cfg.Progress != nil && time.Since(said) >= 5*time.Second {
			said = time.Now()
			fmt.Fprintf(cfg.Progress, "verify: waiting for the consumer: %d of %d messages stored\n", n, acked)
		}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	for {
		res, missing, err := verifyOnce(ctx, cfg, run, exp, order, statuses)
		if err != nil {
			return nil, err
		}
		if !missing || time.Now().After(deadline) {
			return res, nil
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "verify: %s; checking again\n", strings.Join(res.Failures(), "; "))
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return nil, err
		}
		for _, e := range exp {
			e.stored = nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// expectations indexes the run's messages by wamid (in first-send order)
// and its acknowledged statuses.
func expectations(run *RunResult) (map[string]*expMsg, []*expMsg, []string, int) {
	exp := map[string]*expMsg{}
	var order []*expMsg
	stSet := map[string]bool{}
	var statuses []string
	acked := 0
	for i := range run.Requests {
		rec := &run.Requests[i]
		for j, m := range rec.Messages {
			e := exp[m.WAMID]
			if e == nil {
				e = &expMsg{ref: m, intended: rec.Intended, firstStart: rec.Start, req: i, pos: j}
				exp[m.WAMID] = e
				order = append(order, e)
			}
			e.intended = min(e.intended, rec.Intended)
			e.firstStart = min(e.firstStart, rec.Start)
			if rec.OK() && (e.ack == 0 || rec.End < e.ack) {
				if e.ack == 0 {
					acked++
				}
				e.ack = rec.End
			}
		}
		if rec.OK() {
			for _, s := range rec.Statuses {
				if !stSet[s] {
					stSet[s] = true
					statuses = append(statuses, s)
				}
			}
		}
	}
	return exp, order, statuses, acked
}

func (v *VerifyResult) add(c Check) { v.Checks = append(v.Checks, c) }

// measure computes the latency and lag distributions and the timeline.
//
// The assignment latency is measured only when the store heard the
// commits (heard): the decisions' own time is the consumer's clock when
// it began applying the batch, before the work and the commit.
func (v *VerifyResult) measure(run *RunResult, order []*expMsg, convs map[int64]*StoredConversation, exp map[string]*expMsg, heard bool) {
	e2e := hdrhistogram.New(1, hdrMaxMicros, 3)
	lag := hdrhistogram.New(1, hdrMaxMicros, 3)
	asg := hdrhistogram.New(1, hdrMaxMicros, 3)
	var origin int64
	for i := range run.Requests {
		if origin == 0 || run.Requests[i].Intended < origin {
			origin = run.Requests[i].Intended
		}
	}
	var lastEnd, lastStored int64
	for i := range run.Requests {
		lastEnd = max(lastEnd, run.Requests[i].End)
	}
	type perSec struct{ e2e, lag []float64 }
	var secs []perSec
	var ackTimes, storeTimes []int64
	for _, e := range order {
		if e.ack != 0 {
			ackTimes = append(ackTimes, e.ack)
		}
		if e.stored == nil || e.stored.StoredAt.IsZero() {
			continue
		}
		at := e.stored.StoredAt.UnixNano()
		storeTimes = append(storeTimes, at)
		lastStored = max(lastStored, at)
		d := time.Duration(at - e.intended)
		_ = e2e.RecordValue(micros(d))
		b := int(max(0, e.intended-origin) / int64(time.Second))
		for len(secs) <= b {
			secs = append(secs, perSec{})
		}
		secs[b].e2e = append(secs[b].e2e, float64(d)/1e6)
		if e.ack != 0 {
			l := time.Duration(at - e.ack)
			_ = lag.RecordValue(micros(l))
			secs[b].lag = append(secs[b].lag, float64(max(0, l))/1e6)
		}
	}
	for _, c := range convs {
		o := exp[c.OpenedBy]
		switch {
		case !heard || o == nil || c.OpenDecisions == 0:
		case c.CommittedAt.IsZero():
			v.AssignmentUnheard++
		default:
			_ = asg.RecordValue(micros(time.Duration(c.CommittedAt.UnixNano() - o.intended)))
		}
	}
	v.E2E, v.ConsumerLag, v.Assignment = summarize(e2e), summarize(lag), summarize(asg)
	if lastStored > 0 && lastEnd > 0 {
		v.DrainSeconds = max(0, float64(lastStored-lastEnd)/1e9)
	}
	if len(storeTimes) == 0 {
		return
	}
	slices.Sort(ackTimes)
	slices.Sort(storeTimes)
	if span := storeTimes[len(storeTimes)-1] - storeTimes[0]; span > 0 {
		v.StoredRate = float64(len(storeTimes)) / (float64(span) / 1e9)
	}
	n := len(secs)
	if lastStored > 0 {
		n = max(n, int((lastStored-origin)/int64(time.Second))+1)
	}
	for i := range n {
		s := VerifySecond{T: i}
		if i < len(secs) {
			e, l := secs[i].e2e, secs[i].lag
			slices.Sort(e)
			slices.Sort(l)
			s.E2EP50, s.E2EP99, s.LagP99 = percentileOf(e, 0.5), percentileOf(e, 0.99), percentileOf(l, 0.99)
			s.Count = len(e)
		}
		end := origin + int64(i+1)*int64(time.Second)
		s.Acked = int64(countUpTo(ackTimes, end))
		s.Stored = int64(countUpTo(storeTimes, end))
		v.Timeline = append(v.Timeline, s)
	}
}

func countUpTo(sorted []int64, t int64) int {
	return sort.Search(len(sorted), func(i int) bool { return sorted[i] > t })
}

func appendMax(list []string, n int, s string) []string {
	if len(list) < n {
		return append(list, s)
	}
	return list
}

func condOffenders(ok bool, off []string) []string {
	if ok {
		return nil
	}
	return off
}

// filterPrefix keeps the offenders only when some of them are failures.
func filterPrefix(off []string, failures int) []string {
	if failures == 0 {
		return nil
	}
	var out []string
	for _, o := range off {
		if strings.Contains(o, "welcome messages") {
			out = append(out, o)
		}
	}
	return out
}

// maskKey hides the middle of a phone number or user id in reports.
func maskKey(k string) string {
	if len(k) <= 8 {
		return k
	}
	return k[:4] + strings.Repeat("•", 3) + k[len(k)-4:]
}

func fmtNS(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000") }

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedGroupKeys[K comparable, V any](m map[K]V, str func(K) string) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return str(keys[i]) < str(keys[j]) })
	return keys
}
