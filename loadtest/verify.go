package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
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

	E2E          Latency `json:"e2e"`          // stored_at − intended send time
	Assignment   Latency `json:"assignment"`   // decision committed − intended send time of the opening message
	ConsumerLag  Latency `json:"consumer_lag"` // stored_at − acknowledgement
	DrainSeconds float64 `json:"drain_seconds"`
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

// verifyOnce runs every check once; missing reports failures that more
// time could fix (something not stored yet).
func verifyOnce(ctx context.Context, cfg VerifyConfig, run *RunResult, exp map[string]*expMsg, order []*expMsg, statuses []string) (*VerifyResult, bool, error) {
	res := &VerifyResult{Source: cfg.Source, Welcomes: map[string]int{}, WelcomeStatus: map[string]int{}}
	maxOff := cfg.MaxOffenders
	stored, err := cfg.Store.InboundMessages(ctx, cfg.Baseline)
	if err != nil {
		return nil, false, fmt.Errorf("loadtest: read stored messages: %w", err)
	}
	api := len(stored) > 0 && stored[0].StoredAt.IsZero()

	// ---- stored exactly once, by the right contact
	seen := map[string]int{}
	var dupOff, misOff []string
	for i := range stored {
		s := &stored[i]
		e := exp[s.WAMID]
		if e == nil {
			continue // not this run's
		}
		seen[s.WAMID]++
		if seen[s.WAMID] == 2 {
			res.Duplicated++
			dupOff = appendMax(dupOff, maxOff, fmt.Sprintf("%s stored more than once", s.WAMID))
		}
		if e.stored == nil {
			e.stored = s
		}
		if (s.ContactKey != "" && s.ContactKey != e.ref.Contact) || (s.Inbox != "" && s.Inbox != e.ref.Inbox) {
			res.Misattributed++
			misOff = appendMax(misOff, maxOff, fmt.Sprintf("%s of %s #%d stored for contact %s on inbox %s",
				s.WAMID, maskKey(e.ref.Contact), e.ref.Seq, maskKey(s.ContactKey), s.Inbox))
		}
	}
	var lostOff []string
	for _, e := range order {
		if e.ack != 0 {
			res.Expected++
		}
		if e.stored != nil {
			res.Stored++
			if e.ack == 0 {
				res.StoredUnacked++
			}
			continue
		}
		if e.ack == 0 {
			continue // never acknowledged: the gateway owed nothing
		}
		if api && !e.ref.Opens {
			res.Unverifiable++ // may be outside any conversation, where the API cannot show it
			continue
		}
		res.Lost++
		lostOff = appendMax(lostOff, maxOff, fmt.Sprintf("%s: %s #%d (%s) acknowledged at %s, not stored",
			e.ref.WAMID, maskKey(e.ref.Contact), e.ref.Seq, e.ref.Type, fmtNS(e.ack)))
	}
	// A run that acknowledged nothing stored nothing to check: no pass.
	res.add(Check{Name: "something acknowledged to verify", OK: res.Expected > 0 || len(statuses) > 0,
		Detail: fmt.Sprintf("%d messages and %d statuses acknowledged", res.Expected, len(statuses))})
	res.add(Check{Name: "every acknowledged message stored", OK: res.Lost == 0,
		Detail: fmt.Sprintf("%d acknowledged, %d stored, %d lost", res.Expected, res.Stored, res.Lost), Offenders: lostOff})
	res.add(Check{Name: "stored exactly once", OK: res.Duplicated == 0,
		Detail: fmt.Sprintf("%d stored more than once", res.Duplicated), Offenders: dupOff})
	res.add(Check{Name: "stored for the right contact and inbox", OK: res.Misattributed == 0,
		Detail: fmt.Sprintf("%d misattributed", res.Misattributed), Offenders: misOff})

	// ---- per-contact order
	byContact := map[string][]*expMsg{}
	for _, e := range order {
		if e.stored != nil {
			byContact[e.ref.Contact] = append(byContact[e.ref.Contact], e)
		}
	}
	res.Contacts = len(byContact)
	var ordOff []string
	for _, key := range sortedMapKeys(byContact) {
		list := byContact[key]
		sort.Slice(list, func(i, j int) bool { return list[i].stored.ID < list[j].stored.ID })
		var maxStart int64
		var maxStartMsg *expMsg
		maxSeq := 0
		lastPos := map[int]*expMsg{}
		for _, x := range list {
			bad := ""
			if x.ack != 0 && maxStartMsg != nil && x.ack < maxStart {
				y := maxStartMsg
				bad = fmt.Sprintf("contact %s: #%d (%s, id %d) stored after #%d (id %d), though #%d was acknowledged %s before #%d was sent",
					maskKey(key), x.ref.Seq, x.ref.WAMID, x.stored.ID, y.ref.Seq, y.stored.ID, x.ref.Seq,
					time.Duration(maxStart-x.ack).Round(time.Microsecond), y.ref.Seq)
			} else if p := lastPos[x.req]; p != nil && p.pos > x.pos {
				bad = fmt.Sprintf("contact %s: #%d (%s, id %d) stored after #%d (id %d) of the same POST, which came after it",
					maskKey(key), x.ref.Seq, x.ref.WAMID, x.stored.ID, p.ref.Seq, p.stored.ID)
			}
			if bad != "" {
				res.Reordered++
				ordOff = appendMax(ordOff, maxOff, bad)
			} else if x.ref.Seq < maxSeq {
				res.Concurrent++
			}
			if p := lastPos[x.req]; p == nil || x.pos > p.pos {
				lastPos[x.req] = x
			}
			if x.firstStart > maxStart {
				maxStart, maxStartMsg = x.firstStart, x
			}
			maxSeq = max(maxSeq, x.ref.Seq)
		}
	}
	res.add(Check{Name: "per-contact order equals send order", OK: res.Reordered == 0,
		Detail: fmt.Sprintf("%d reordered across %d contacts (%d stored out of sequence while sent concurrently, which is allowed)",
			res.Reordered, res.Contacts, res.Concurrent), Offenders: ordOff})

	// ---- conversations
	type ci struct{ contact, inbox string }
	groups := map[ci][]*expMsg{} // stored order per contact and inbox
	convIDs := map[int64]bool{}
	var unOff []string
	for _, key := range sortedMapKeys(byContact) {
		for _, e := range byContact[key] {
			k := ci{e.ref.Contact, e.ref.Inbox}
			groups[k] = append(groups[k], e)
			if e.stored.ConversationID != 0 {
				convIDs[e.stored.ConversationID] = true
			} else if e.ref.Opens {
				res.Unattached++
				unOff = appendMax(unOff, maxOff, fmt.Sprintf("%s: %s #%d (%s) is in no conversation", e.ref.WAMID, maskKey(key), e.ref.Seq, e.ref.Type))
			}
		}
	}
	res.add(Check{Name: "every conversational message in a conversation", OK: res.Unattached == 0,
		Detail: fmt.Sprintf("%d not attached", res.Unattached), Offenders: unOff})
	ids := make([]int64, 0, len(convIDs))
	for id := range convIDs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	convs, err := cfg.Store.Conversations(ctx, ids)
	if err != nil {
		return nil, false, fmt.Errorf("loadtest: read conversations: %w", err)
	}
	convByID := map[int64]*StoredConversation{}
	for i := range convs {
		convByID[convs[i].ID] = &convs[i]
	}
	res.Conversations = len(convs)
	var convOff, openOff, decOff []string
	decUnknown := false
	for _, k := range sortedGroupKeys(groups, func(k ci) string { return k.contact + "\x00" + k.inbox }) {
		list := groups[k]
		var firstOpen *expMsg
		distinct := []int64{}
		for _, e := range list {
			if firstOpen == nil && e.ref.Opens {
				firstOpen = e
			}
			if id := e.stored.ConversationID; id != 0 && !slices.Contains(distinct, id) {
				distinct = append(distinct, id)
			}
		}
		if len(distinct) > 1 {
			resolved := 0
			for _, id := range distinct {
				if c := convByID[id]; c != nil && c.Status == "resolved" {
					resolved++
				}
			}
			// Several conversations are right only when all but the last
			// were resolved during the run.
			if resolved < len(distinct)-1 {
				res.DuplicateConversations += len(distinct) - 1
				convOff = appendMax(convOff, maxOff, fmt.Sprintf("contact %s on inbox %s: %d conversations %v for one burst",
					maskKey(k.contact), k.inbox, len(distinct), distinct))
			}
		}
		if firstOpen == nil || len(distinct) == 0 {
			continue
		}
		c := convByID[distinct[0]]
		if c == nil || c.ID <= cfg.Baseline.ConversationID {
			continue // opened before the run
		}
		if c.OpenedBy != "" && exp[c.OpenedBy] != nil && c.OpenedBy != firstOpen.ref.WAMID {
			o := exp[c.OpenedBy]
			openOff = appendMax(openOff, maxOff, fmt.Sprintf("conversation %d of %s opened by #%d, but #%d was stored first",
				c.ID, maskKey(k.contact), o.ref.Seq, firstOpen.ref.Seq))
		}
		if c.OpenDecisions < 0 {
			decUnknown = true
		} else if c.OpenDecisions != 1 {
			decOff = appendMax(decOff, maxOff, fmt.Sprintf("conversation %d: %d decisions for its opening message", c.ID, c.OpenDecisions))
		}
	}
	res.add(Check{Name: "one conversation per contact burst", OK: res.DuplicateConversations == 0,
		Detail:    fmt.Sprintf("%d conversations for %d contact/inbox pairs, %d extra", res.Conversations, len(groups), res.DuplicateConversations),
		Offenders: convOff})
	res.add(Check{Name: "conversation opened by the first message", OK: len(openOff) == 0,
		Detail: fmt.Sprintf("%d opened by a later message", len(openOff)), Offenders: openOff})
	if decUnknown {
		res.add(Check{Name: "one decision per opened conversation", OK: true, Skipped: true, Detail: "decisions not available from " + cfg.Source})
	} else {
		res.add(Check{Name: "one decision per opened conversation", OK: len(decOff) == 0,
			Detail: fmt.Sprintf("%d conversations with a wrong number of decisions", len(decOff)), Offenders: decOff})
	}

	// ---- welcome, assignment, spread (conversations opened by the run)
	var welOff, asgOff, stOff []string
	welMissing, welDup, noInboxWelcome := 0, 0, 0
	perAgent := map[int64]int{}
	for _, id := range ids {
		c := convByID[id]
		if c == nil || c.ID <= cfg.Baseline.ConversationID {
			continue
		}
		switch {
		case c.Welcomes > 1:
			welDup++
			welOff = appendMax(welOff, maxOff, fmt.Sprintf("conversation %d: %d welcome messages", c.ID, c.Welcomes))
		case c.Welcomes == 0 && c.InboxWelcome:
			welMissing++
			res.Welcomes["none"]++
			welOff = appendMax(welOff, maxOff, fmt.Sprintf("conversation %d of %s: no welcome message", c.ID, maskKey(c.ContactKey)))
		case c.Welcomes == 0:
			noInboxWelcome++
		}
		if c.Welcomes > 0 {
			state := c.WelcomeState
			if state == "" {
				state = "queued"
			}
			res.Welcomes[state]++
			if c.WelcomeState == "sent" {
				st := c.WelcomeStatus
				if st == "" || st == "pending" {
					st = "none"
				}
				res.WelcomeStatus[st]++
				if st == "none" || st == "sent" {
					stOff = appendMax(stOff, maxOff, fmt.Sprintf("conversation %d: welcome accepted but its status is %q", c.ID, c.WelcomeStatus))
				}
			}
		}
		switch {
		case len(c.Assignees) > 0:
			res.Assigned++
		case c.Queued:
			res.Queued++
		default:
			res.Unassigned++
		}
		if len(c.Assignees) == 0 && cfg.ExpectAssigned {
			how := "unassigned"
			if c.Queued {
				how = "waiting in the queue"
			}
			asgOff = appendMax(asgOff, maxOff, fmt.Sprintf("conversation %d of %s: %s", c.ID, maskKey(c.ContactKey), how))
		}
		for _, a := range c.Assignees {
			perAgent[a.AgentID]++
		}
	}
	opened := res.Assigned + res.Queued + res.Unassigned
	switch {
	case cfg.ExpectWelcome:
		ok := welMissing == 0 && welDup == 0 && noInboxWelcome == 0
		detail := fmt.Sprintf("%d conversations opened, welcomes by state: %s; %d missing, %d duplicated", opened, countList(res.Welcomes), welMissing, welDup)
		if noInboxWelcome > 0 {
			detail += fmt.Sprintf(", %d on inboxes without a welcome text", noInboxWelcome)
		}
		res.add(Check{Name: "one welcome per opened conversation", OK: ok, Detail: detail, Offenders: welOff})
	default:
		res.add(Check{Name: "at most one welcome per conversation", OK: welDup == 0,
			Detail: fmt.Sprintf("welcomes by state: %s; %d duplicated", countList(res.Welcomes), welDup), Offenders: filterPrefix(welOff, welDup)})
	}
	if cfg.ExpectStatuses {
		res.add(Check{Name: "statuses applied to sent welcomes", OK: len(stOff) == 0,
			Detail: "last statuses: " + countList(res.WelcomeStatus), Offenders: stOff})
	}
	res.add(Check{Name: "every opened conversation assigned", OK: !cfg.ExpectAssigned || res.Assigned == opened, Skipped: !cfg.ExpectAssigned,
		Detail: fmt.Sprintf("%d assigned, %d queued, %d unassigned", res.Assigned, res.Queued, res.Unassigned), Offenders: asgOff})

	agents, err := cfg.Store.Agents(ctx)
	if err != nil && !errors.Is(err, ErrUnsupported) {
		return nil, false, fmt.Errorf("loadtest: read agents: %w", err)
	}
	names := map[int64]StoredAgent{}
	online := 0
	for _, a := range agents {
		names[a.ID] = a
		if a.Presence == "online" {
			online++
		}
	}
	for _, a := range agents {
		if perAgent[a.ID] > 0 || (online > 0 && a.Presence == "online") {
			res.Spread = append(res.Spread, AgentCount{ID: a.ID, Name: a.Name, Presence: a.Presence, Conversations: perAgent[a.ID]})
		}
	}
	for id, n := range perAgent {
		if _, ok := names[id]; !ok {
			res.Spread = append(res.Spread, AgentCount{ID: id, Name: "agent " + strconv.FormatInt(id, 10), Conversations: n})
		}
	}
	sort.Slice(res.Spread, func(i, j int) bool { return res.Spread[i].ID < res.Spread[j].ID })
	if len(res.Spread) > 0 {
		lo, hi := res.Spread[0].Conversations, res.Spread[0].Conversations
		for _, a := range res.Spread {
			lo, hi = min(lo, a.Conversations), max(hi, a.Conversations)
		}
		res.SpreadMaxMinus = hi - lo
	}
	if cfg.MaxSpread >= 0 {
		var off []string
		for _, a := range res.Spread {
			off = appendMax(off, maxOff, fmt.Sprintf("%s (%d): %d conversations", a.Name, a.ID, a.Conversations))
		}
		ok := res.SpreadMaxMinus <= cfg.MaxSpread && len(res.Spread) > 0
		res.add(Check{Name: "assignment spread", OK: ok, Detail: fmt.Sprintf("max − min = %d over %d agents (allowed %d)",
			res.SpreadMaxMinus, len(res.Spread), cfg.MaxSpread), Offenders: condOffenders(ok, off)})
	}

	// ---- statuses of earlier outbound messages
	res.StatusesExpected = len(statuses)
	if len(statuses) > 0 {
		wamids := make([]string, 0, len(statuses))
		seenW := map[string]bool{}
		for _, s := range statuses {
			w, _, _ := strings.Cut(s, ":")
			if !seenW[w] {
				seenW[w] = true
				wamids = append(wamids, w)
			}
		}
		got, err := cfg.Store.Statuses(ctx, wamids)
		switch {
		case errors.Is(err, ErrUnsupported):
			res.add(Check{Name: "every acknowledged status stored", OK: true, Skipped: true, Detail: "statuses not available from " + cfg.Source})
		case err != nil:
			return nil, false, fmt.Errorf("loadtest: read statuses: %w", err)
		default:
			have := map[string]bool{}
			for _, s := range got {
				have[s.WAMID+":"+s.Status] = true
			}
			var off []string
			for _, s := range statuses {
				if !have[s] {
					res.StatusesMissing++
					off = appendMax(off, maxOff, s+" acknowledged, not stored")
				}
			}
			res.add(Check{Name: "every acknowledged status stored", OK: res.StatusesMissing == 0,
				Detail: fmt.Sprintf("%d acknowledged, %d missing", len(statuses), res.StatusesMissing), Offenders: off})
		}
	}

	// ---- latency, lag, drain
	res.measure(run, order, convByID, exp)
	res.Passed = true
	for _, c := range res.Checks {
		if !c.OK && !c.Skipped {
			res.Passed = false
		}
	}
	missing := res.Lost > 0 || res.Unattached > 0 || res.StatusesMissing > 0 ||
		(cfg.ExpectWelcome && welMissing > 0) || (cfg.ExpectStatuses && len(stOff) > 0) ||
		(cfg.ExpectAssigned && res.Assigned != opened)
	return res, missing, nil
}

func (v *VerifyResult) add(c Check) { v.Checks = append(v.Checks, c) }

// measure computes the latency and lag distributions and the timeline.
func (v *VerifyResult) measure(run *RunResult, order []*expMsg, convs map[int64]*StoredConversation, exp map[string]*expMsg) {
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
		if c.DecidedAt.IsZero() {
			continue
		}
		if o := exp[c.OpenedBy]; o != nil {
			_ = asg.RecordValue(micros(time.Duration(c.DecidedAt.UnixNano() - o.intended)))
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
