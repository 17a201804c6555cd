package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/relay"
	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp/cloudapi"
)

// ---------------------------------------------------------------- fixture

const breakerOpenFor = 300 * time.Millisecond

// relayFixture is a fresh Postgres database and a Cloud API simulator
// without status webhooks.
type relayFixture struct {
	t      *testing.T
	dsn    string
	conn   *sqlx.DB
	store  *db.Store
	sim    *simulator.Simulator
	simURL string
	seq    atomic.Int64
}

func newRelayFixture(t *testing.T, simCfg simulator.Config) *relayFixture {
	t.Helper()
	conn, dsn := dbtest.New(t)
	simCfg.Addr = "127.0.0.1:0"
	simCfg.WebhookURL = "" // no status webhooks
	if simCfg.RatePerNumber == 0 {
		simCfg.RatePerNumber = -1
	}
	if simCfg.PairInterval == 0 {
		simCfg.PairInterval = -1
	}
	if simCfg.Seed == 0 {
		simCfg.Seed = 7
	}
	simCfg.Logger = wagwtest.QuietLogger()
	sim := simulator.New(simCfg)
	addr, err := sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return &relayFixture{t: t, dsn: dsn, conn: conn, store: db.NewStore(conn), sim: sim, simURL: "http://" + addr}
}

// client is the real Cloud API client against the simulator: a short
// breaker open interval, no number rate limit, and pacing loose enough
// never to wait (its interval is what a 131056 asks to wait).
func (f *relayFixture) client(reg prometheus.Registerer) *cloudapi.Client {
	return cloudapi.NewClient(cloudapi.ClientConfig{BaseURL: f.simURL, Token: "relay-test", Timeout: 3 * time.Second,
		RatePerSecond: -1, PairInterval: 100 * time.Millisecond, PairBurst: 10000,
		BreakerOpenFor: breakerOpenFor, Registerer: reg, Logger: wagwtest.QuietLogger()})
}

// inbound applies a contact's message as the consumer would and returns
// the conversation it landed in.
func (f *relayFixture) inbound(pnid, waID string, at time.Time, text string) int64 {
	f.t.Helper()
	wamid := fmt.Sprintf("wamid.IN.%s.%d", waID, f.seq.Add(1))
	envs, err := event.ParseAndSplit(wagwtest.TextWebhook(pnid, waID, wamid, at, text), time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.Apply(context.Background(), envs, time.Now()); err != nil {
		f.t.Fatalf("apply inbound message: %v", err)
	}
	var conv int64
	if err := f.conn.Get(&conv, `SELECT conversation_id FROM messages WHERE wamid = $1`, wamid); err != nil {
		f.t.Fatalf("inbound message %s has no conversation: %v", wamid, err)
	}
	return conv
}

// reply applies an agent's reply command and returns the message id.
func (f *relayFixture) reply(key string, conv int64, text string) int64 {
	f.t.Helper()
	data, _ := json.Marshal(event.ReplyCommand{ConversationID: conv, Text: text})
	id := fmt.Sprintf("cmd_reply_%d", f.seq.Add(1))
	now := time.Now()
	env := event.Envelope{Version: event.Version, ID: id, Kind: event.KindCommand, ContactKey: key,
		OccurredAt: now, ReceivedAt: now, Command: &event.Command{Type: event.CmdReply, Data: data}}
	if err := f.store.Apply(context.Background(), []event.Envelope{env}, now); err != nil {
		f.t.Fatalf("apply reply: %v", err)
	}
	r, err := f.store.CommandResult(context.Background(), id)
	if err != nil || r.Kind != assigner.OutcomeReplyQueued {
		f.t.Fatalf("reply %q: result %+v %s, %v; want reply_queued", text, r, r.Value, err)
	}
	var body struct {
		MessageID int64 `json:"message_id"`
	}
	json.Unmarshal(r.Value, &body)
	return body.MessageID
}

// contact opens a conversation for waID on pnid (inside the 24 h window)
// and queues the replies; it returns the conversation.
func (f *relayFixture) contact(pnid, waID string, replies ...string) int64 {
	f.t.Helper()
	conv := f.inbound(pnid, waID, time.Now().Add(-time.Minute), "hello from "+waID)
	for _, r := range replies {
		f.reply(waID, conv, r)
	}
	return conv
}

type outboxRow struct {
	ID        int64   `db:"id"`
	PNID      string  `db:"phone_number_id"`
	Recipient string  `db:"recipient"`
	MessageID int64   `db:"message_id"`
	State     string  `db:"state"`
	Attempts  int     `db:"attempts"`
	WAMID     *string `db:"wamid"`
	ErrorCode *int    `db:"error_code"`
	ErrorMsg  string  `db:"error_message"`
	Reported  bool    `db:"reported"`
	Text      string  `db:"text"`
}

func (f *relayFixture) outbox() []outboxRow {
	f.t.Helper()
	var rows []outboxRow
	if err := f.conn.Select(&rows, `SELECT id, phone_number_id, recipient, message_id, state, attempts, wamid, error_code,
		error_message, reported, COALESCE(payload->'text'->>'body', '') AS text FROM outbox ORDER BY id`); err != nil {
		f.t.Fatal(err)
	}
	return rows
}

// sentCounts counts the simulator's accepted messages by text.
func (f *relayFixture) sentCounts() map[string]int {
	n := map[string]int{}
	for _, m := range f.sim.Sent() {
		n[m.Text]++
	}
	return n
}

// allSettled waits until no outbox row (of those filter keeps; nil keeps
// all) is pending and every outcome is reported, and returns those rows.
func (f *relayFixture) allSettled(timeout time.Duration, filter func(outboxRow) bool) []outboxRow {
	f.t.Helper()
	var rows []outboxRow
	wagwtest.WaitFor(f.t, timeout, "outbox rows settled and reported", func() (bool, string) {
		rows = rows[:0]
		for _, r := range f.outbox() {
			if filter == nil || filter(r) {
				rows = append(rows, r)
			}
		}
		pending, unreported := 0, 0
		for _, r := range rows {
			if r.State == "pending" {
				pending++
			} else if !r.Reported {
				unreported++
			}
		}
		return pending == 0 && unreported == 0, fmt.Sprintf("%d pending, %d unreported of %d rows", pending, unreported, len(rows))
	})
	return rows
}

// checkSentOnce asserts that every row was sent, its wamid recorded, and
// accepted by the simulator exactly once under that wamid; and that the
// send_result reached the message.
func (f *relayFixture) checkSentOnce(rows []outboxRow) {
	f.t.Helper()
	byText := map[string][]simulator.SentMessage{}
	for _, m := range f.sim.Sent() {
		byText[m.Text] = append(byText[m.Text], m)
	}
	for _, r := range rows {
		if r.State != "sent" || r.WAMID == nil || *r.WAMID == "" {
			f.t.Errorf("outbox %d (%q): state %s wamid %v, want sent with a wamid", r.ID, r.Text, r.State, r.WAMID)
			continue
		}
		got := byText[r.Text]
		if len(got) != 1 {
			f.t.Errorf("outbox %d (%q) reached the simulator %d times, want exactly once", r.ID, r.Text, len(got))
			continue
		}
		if got[0].WAMID != *r.WAMID || got[0].PhoneNumberID != r.PNID || got[0].To != r.Recipient {
			f.t.Errorf("outbox %d: recorded %s from %s to %s, simulator accepted %s from %s to %s",
				r.ID, *r.WAMID, r.PNID, r.Recipient, got[0].WAMID, got[0].PhoneNumberID, got[0].To)
		}
	}
	f.checkMessagesAccepted(rows)
}

// checkMessagesAccepted asserts that each row's message carries the wamid
// (the published send_result was applied).
func (f *relayFixture) checkMessagesAccepted(rows []outboxRow) {
	f.t.Helper()
	for _, r := range rows {
		var m struct {
			WAMID  *string `db:"wamid"`
			Status string  `db:"status"`
		}
		if err := f.conn.Get(&m, `SELECT wamid, status FROM messages WHERE id = $1`, r.MessageID); err != nil {
			f.t.Fatal(err)
		}
		if r.WAMID != nil && (m.WAMID == nil || *m.WAMID != *r.WAMID || m.Status != "accepted") {
			f.t.Errorf("message %d (outbox %d): wamid %v status %q, want %s accepted", r.MessageID, r.ID, m.WAMID, m.Status, *r.WAMID)
		}
	}
}

// applyingPublisher applies the relay's outcomes straight to the store, as
// the consumer would after reading them from the contact's partition.
type applyingPublisher struct {
	store *db.Store
	n     atomic.Int64
}

func (p *applyingPublisher) Publish(ctx context.Context, events []event.Envelope) error {
	for _, e := range events {
		if e.Kind != event.KindCommand || e.Command == nil || e.Command.Type != event.CmdSendResult || e.ContactKey == "" {
			return fmt.Errorf("relay published %+v, want a send_result command keyed by contact", e)
		}
	}
	if err := p.store.Apply(ctx, events, time.Now()); err != nil {
		return err
	}
	p.n.Add(int64(len(events)))
	return nil
}

// testRelayConfig is a relay tuned for tests: short waits everywhere.
func testRelayConfig(reg prometheus.Registerer) relay.Config {
	return relay.Config{Batch: 50, Concurrency: 16, Lease: 5 * time.Second, SendTimeout: 3 * time.Second,
		Idle: 5 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		BreakerWait: 50 * time.Millisecond, Logger: wagwtest.QuietLogger(), Registerer: reg}
}

// startRelay runs a relay until the returned stop is called (or the test
// ends); stop waits for Run to return.
func startRelay(t *testing.T, cfg relay.Config, store relay.Store, s relay.Sender, p relay.Publisher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := relay.New(cfg, store, s, p)
	go func() { defer close(done); r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Errorf("relay did not return within 15 s of its context being cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waID(prefix, i int) string { return fmt.Sprintf("31%03d%07d", prefix, i) }

// ---------------------------------------------------------------- breaker

// A burst of 5xx for one number opens that number's breaker only: the
// other number keeps sending; the faulty number's rows wait; once the
// faults stop a probe after the open interval closes the breaker and every
// row is sent, each exactly once.
func TestRelayBreakerOpensForOneNumberOnly(t *testing.T) {
	t.Parallel()
	const pnA, pnB = "110000000000001", "110000000000002"
	f := newRelayFixture(t, simulator.Config{})
	var convsB []int64
	for i := 0; i < 4; i++ {
		f.contact(pnA, waID(101, i), fmt.Sprintf("A%d-1", i), fmt.Sprintf("A%d-2", i), fmt.Sprintf("A%d-3", i))
		convsB = append(convsB, f.contact(pnB, waID(102, i), fmt.Sprintf("B%d-1", i), fmt.Sprintf("B%d-2", i)))
	}
	f.sim.SetNumberFaults(pnA, simulator.Faults{Error5xxRate: 1})

	reg := prometheus.NewRegistry()
	client := f.client(reg)
	relayReg := prometheus.NewRegistry()
	startRelay(t, testRelayConfig(relayReg), f.store, client, &applyingPublisher{store: f.store})

	isA := func(r outboxRow) bool { return r.PNID == pnA }
	isB := func(r outboxRow) bool { return r.PNID == pnB }
	wagwtest.WaitFor(t, 10*time.Second, "breaker of "+pnA+" opens", func() (bool, string) {
		return client.BreakerState(pnA) == "open", client.BreakerState(pnA)
	})
	if g := wagwtest.Metric(t, reg, "wagw_sender_breaker_state", map[string]string{"phone_number_id": pnA}); g != 2 {
		t.Errorf("wagw_sender_breaker_state{%s} = %v while open, want 2", pnA, g)
	}
	f.allSettled(10*time.Second, isB)

	// While A keeps failing, B's new rows still flow.
	for i, conv := range convsB {
		f.reply(waID(102, i), conv, fmt.Sprintf("B%d-3", i))
	}
	rowsB := f.allSettled(10*time.Second, isB)
	if st := client.BreakerState(pnB); st != "closed" {
		t.Errorf("breaker of %s is %s, want closed", pnB, st)
	}
	if g := wagwtest.Metric(t, reg, "wagw_sender_breaker_state", map[string]string{"phone_number_id": pnB}); g != 0 {
		t.Errorf("wagw_sender_breaker_state{%s} = %v, want 0", pnB, g)
	}
	if st := client.BreakerState(pnA); st == "closed" {
		t.Errorf("breaker of %s closed while every send still fails", pnA)
	}
	for _, r := range f.outbox() {
		if r.PNID == pnA && r.State != "pending" {
			t.Errorf("outbox %d of the failing number is %s, want pending (waiting, not failed)", r.ID, r.State)
		}
	}
	if n := wagwtest.Metric(t, relayReg, "wagw_relay_sends_total", map[string]string{"outcome": "breaker_open"}); n == 0 {
		t.Errorf("no send was held back by the open breaker (wagw_relay_sends_total{outcome=breaker_open} = 0)")
	}
	refused := f.sim.Stats()["injected_5xx"]

	// The faults stop: after the open interval a probe closes the breaker.
	f.sim.ClearNumberFaults(pnA)
	healed := time.Now()
	wagwtest.WaitFor(t, 5*time.Second, "breaker of "+pnA+" closes", func() (bool, string) {
		return client.BreakerState(pnA) == "closed", client.BreakerState(pnA)
	})
	t.Logf("breaker closed %v after the faults stopped (open interval %v); %d sends refused with 5xx",
		time.Since(healed).Round(time.Millisecond), breakerOpenFor, refused)
	rowsA := f.allSettled(10*time.Second, isA)
	if g := wagwtest.Metric(t, reg, "wagw_sender_breaker_state", map[string]string{"phone_number_id": pnA}); g != 0 {
		t.Errorf("wagw_sender_breaker_state{%s} = %v after recovery, want 0", pnA, g)
	}
	f.checkSentOnce(append(rowsA, rowsB...))
	if len(rowsA) != 12 || len(rowsB) != 12 {
		t.Errorf("%d rows for %s and %d for %s, want 12 each", len(rowsA), pnA, len(rowsB), pnB)
	}
	retried := 0
	for _, r := range rowsA {
		if r.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no row of %s was retried; the 5xx burst did not reach the relay", pnA)
	}
}

// ---------------------------------------------------------------- throttling

// 130429 and 131056 make the relay wait as long as Meta asks, never count
// toward the breaker, and lose nothing.
func TestRelayThrottlingSlowsWithoutOpeningBreaker(t *testing.T) {
	t.Parallel()
	const pn = "110000000000003"
	f := newRelayFixture(t, simulator.Config{})
	const contacts = 8
	for i := 0; i < contacts; i++ {
		f.contact(pn, waID(103, i), fmt.Sprintf("T%d-1", i))
	}
	f.sim.SetNumberFaults(pn, simulator.Faults{ErrorCodes: map[int]float64{130429: 1}})

	reg := prometheus.NewRegistry()
	client := f.client(reg)
	var notClosed atomic.Value
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() { // the breaker must stay closed the whole time
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if st := client.BreakerState(pn); st != "closed" {
				notClosed.Store(st)
			}
		}
	}()
	defer func() { close(stopWatch); <-watchDone }()

	relayReg := prometheus.NewRegistry()
	start := time.Now()
	startRelay(t, testRelayConfig(relayReg), f.store, client, &applyingPublisher{store: f.store})

	// 130429: Meta asks for a second; two rounds of the 8 rows take at least that.
	wagwtest.WaitFor(t, 10*time.Second, "two rounds of 130429", func() (bool, string) {
		n := f.sim.Stats()["injected_130429"]
		return n >= 2*contacts, fmt.Sprintf("%d throttled", n)
	})
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("16 answers of 130429 for 8 rows within %v: the relay did not wait the second Meta asks for", el)
	}
	for _, r := range f.outbox() {
		if r.State != "pending" {
			t.Errorf("outbox %d is %s while throttled, want pending", r.ID, r.State)
		}
	}
	// 131056: the client's pair interval (100 ms) is the wait.
	f.sim.SetNumberFaults(pn, simulator.Faults{ErrorCodes: map[int]float64{131056: 1}})
	wagwtest.WaitFor(t, 10*time.Second, "two rounds of 131056", func() (bool, string) {
		n := f.sim.Stats()["injected_131056"]
		return n >= 2*contacts, fmt.Sprintf("%d pair-throttled", n)
	})
	if st := notClosed.Load(); st != nil {
		t.Errorf("breaker went %v under throttling; throttling must not count as a failure", st)
	}
	f.sim.ClearNumberFaults(pn)
	rows := f.allSettled(10*time.Second, nil)
	if st := notClosed.Load(); st != nil {
		t.Errorf("breaker went %v under throttling; throttling must not count as a failure", st)
	}
	f.checkSentOnce(rows)
	stats := f.sim.Stats()
	if n := wagwtest.Metric(t, relayReg, "wagw_relay_sends_total", map[string]string{"outcome": "throttled"}); n < float64(stats["injected_130429"]+stats["injected_131056"]) {
		t.Errorf("relay counted %v throttled sends, simulator answered %d", n, stats["injected_130429"]+stats["injected_131056"])
	}
	if n := wagwtest.Metric(t, reg, "wagw_sender_requests_total", map[string]string{"phone_number_id": pn, "outcome": "transient"}); n != 0 {
		t.Errorf("%v throttled answers were counted as transient failures", n)
	}
	t.Logf("%d rows sent in %v after %d×130429 and %d×131056", len(rows), time.Since(start).Round(time.Millisecond),
		stats["injected_130429"], stats["injected_131056"])
}

// ---------------------------------------------------------------- permanent errors

// 131047, 131026 and 100 fail the message at once: one attempt, the code
// stored on the row and, once the send_result is applied, on the message.
func TestRelayPermanentErrorsFailAtOnce(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t, simulator.Config{})
	codes := []int{131047, 131026, 100}
	type target struct {
		pn, wa string
		conv   int64
		msg    int64
	}
	targets := map[int]*target{}
	for i, code := range codes {
		tg := &target{pn: fmt.Sprintf("1100000000001%d", i), wa: waID(104, i)}
		tg.conv = f.contact(tg.pn, tg.wa)
		tg.msg = f.reply(tg.wa, tg.conv, fmt.Sprintf("P%d", code))
		targets[code] = tg
		f.sim.SetNumberFaults(tg.pn, simulator.Faults{ErrorCodes: map[int]float64{code: 1}})
	}
	reg := prometheus.NewRegistry()
	client := f.client(reg)
	startRelay(t, testRelayConfig(nil), f.store, client, &applyingPublisher{store: f.store})
	rows := f.allSettled(10*time.Second, nil)
	time.Sleep(200 * time.Millisecond) // ten backoff periods: a retry would have happened by now
	stats := f.sim.Stats()
	for _, r := range rows {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.Text, "P"))
		tg := targets[code]
		if r.State != "failed" || r.ErrorCode == nil || *r.ErrorCode != code || r.Attempts != 1 || r.WAMID != nil {
			t.Errorf("outbox %d (code %d): state %s error_code %v attempts %d wamid %v, want failed with %d after 1 attempt",
				r.ID, code, r.State, r.ErrorCode, r.Attempts, r.WAMID, code)
		}
		if !strings.Contains(r.ErrorMsg, "#"+strconv.Itoa(code)) {
			t.Errorf("outbox %d: error message %q does not carry Meta's message", r.ID, r.ErrorMsg)
		}
		if n := stats["injected_"+strconv.Itoa(code)]; n != 1 {
			t.Errorf("code %d: the simulator saw %d requests, want 1 (no retry)", code, n)
		}
		if st := client.BreakerState(tg.pn); st != "closed" {
			t.Errorf("breaker of %s is %s after a permanent error, want closed", tg.pn, st)
		}
		msgs, err := f.store.Messages(context.Background(), tg.conv, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out *assigner.MessageView
		for i := range msgs {
			if msgs[i].ID == tg.msg {
				out = &msgs[i]
			}
		}
		if out == nil || out.Status != "failed" || out.ErrorCode == nil || *out.ErrorCode != code || out.ErrorTitle == "" {
			t.Errorf("code %d: message as the API lists it = %+v, want status failed with the code and Meta's message", code, out)
		}
	}
	if len(rows) != len(codes) || len(f.sim.Sent()) != 0 {
		t.Errorf("%d rows, %d accepted by the simulator; want %d rows, none accepted", len(rows), len(f.sim.Sent()), len(codes))
	}

	// The contact's next message is not stuck behind the failed one.
	for code, tg := range targets {
		f.sim.ClearNumberFaults(tg.pn)
		f.reply(tg.wa, tg.conv, fmt.Sprintf("after-%d", code))
	}
	rows = f.allSettled(10*time.Second, nil)
	var after []outboxRow
	for _, r := range rows {
		if strings.HasPrefix(r.Text, "after-") {
			after = append(after, r)
		}
	}
	if len(after) != len(codes) {
		t.Fatalf("%d follow-up rows, want %d", len(after), len(codes))
	}
	f.checkSentOnce(after)
}

// ---------------------------------------------------------------- order

// Under transient errors at a rate, each contact's messages reach the
// Cloud API in outbox order, each exactly once.
func TestRelayKeepsPerContactOrderUnderRetries(t *testing.T) {
	t.Parallel()
	const pnA, pnB = "110000000000021", "110000000000022"
	f := newRelayFixture(t, simulator.Config{Seed: 42, Faults: simulator.Faults{
		Error5xxRate: 0.2, ErrorCodes: map[int]float64{131000: 0.1}, Latency: time.Millisecond, LatencyJitter: 3 * time.Millisecond}})
	const contacts, perContact = 6, 5
	for i := 0; i < contacts; i++ {
		pn := pnA
		if i%2 == 1 {
			pn = pnB
		}
		var texts []string
		for j := 0; j < perContact; j++ {
			texts = append(texts, fmt.Sprintf("O%d-%d", i, j))
		}
		f.contact(pn, waID(105, i), texts...)
	}
	start := time.Now()
	startRelay(t, testRelayConfig(nil), f.store, f.client(nil), &applyingPublisher{store: f.store})
	rows := f.allSettled(20*time.Second, nil)
	f.checkSentOnce(rows)

	want := map[string][]string{} // recipient → texts in outbox id order
	for _, r := range rows {
		want[r.Recipient] = append(want[r.Recipient], r.Text)
	}
	got := map[string][]string{} // recipient → texts in arrival order
	for _, m := range f.sim.Sent() {
		got[m.To] = append(got[m.To], m.Text)
	}
	for to, w := range want {
		if !slices.Equal(got[to], w) {
			t.Errorf("recipient %s: arrival order %v, want outbox order %v", to, got[to], w)
		}
	}
	retried := 0
	for _, r := range rows {
		if r.Attempts > 1 {
			retried++
		}
	}
	stats := f.sim.Stats()
	if retried == 0 || stats["injected_5xx"]+stats["injected_131000"] == 0 {
		t.Errorf("no transient error reached the relay (%d rows retried, stats %v): the test proves nothing", retried, stats)
	}
	t.Logf("%d rows in %v, %d retried, %d×5xx, %d×131000", len(rows), time.Since(start).Round(time.Millisecond),
		retried, stats["injected_5xx"], stats["injected_131000"])
}

// failingPublisher refuses to publish the outcome of one outbox row for
// a while after the first try (Kafka unavailable for a moment), and
// publishes everything else through next.
type failingPublisher struct {
	next    relay.Publisher
	failID  string
	failFor time.Duration
	mu      sync.Mutex
	first   time.Time // first try of failID
	order   []string  // envelope ids in the order they were published
}

func (p *failingPublisher) Publish(ctx context.Context, events []event.Envelope) error {
	p.mu.Lock()
	for _, e := range events {
		if e.ID == p.failID {
			if p.first.IsZero() {
				p.first = time.Now()
			}
			if time.Since(p.first) < p.failFor {
				p.mu.Unlock()
				return errors.New("test: kafka write: broker not available")
			}
		}
	}
	p.mu.Unlock()
	if err := p.next.Publish(ctx, events); err != nil {
		return err
	}
	p.mu.Lock()
	for _, e := range events {
		p.order = append(p.order, e.ID)
	}
	p.mu.Unlock()
	return nil
}

// The outcomes of one contact's messages reach its partition in outbox
// order even when publishing one of them fails for a while, so that the
// first-responder rule sees the first reply first: the agent whose reply
// was accepted first becomes the first responder (and here the owner).
func TestRelayOutcomesKeepContactOrderWhenPublishFails(t *testing.T) {
	t.Parallel()
	const pn = "110000000000051"
	f := newRelayFixture(t, simulator.Config{})
	ctx := context.Background()
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: pn, FirstResponderBecomesOwner: true}); err != nil {
		t.Fatal(err)
	}
	var agents []int64
	for i, name := range []string{"First Agent", "Second Agent"} {
		a, err := f.store.CreateAgent(ctx, assigner.Agent{Name: name, Role: assigner.RoleAgent, Active: true},
			fmt.Sprintf("agent%d@example.com", i), []byte(fmt.Sprintf("token-hash-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, a.ID)
	}
	wa := waID(108, 1)
	conv := f.inbound(pn, wa, time.Now().Add(-time.Minute), "hello")
	for i, agent := range agents {
		data, _ := json.Marshal(event.ReplyCommand{ConversationID: conv, AgentID: agent, Text: fmt.Sprintf("R%d", i)})
		now := time.Now()
		id := fmt.Sprintf("cmd_agent_reply_%d", i)
		env := event.Envelope{Version: event.Version, ID: id, Kind: event.KindCommand, ContactKey: wa,
			OccurredAt: now, ReceivedAt: now, Command: &event.Command{Type: event.CmdReply, Data: data}}
		if err := f.store.Apply(ctx, []event.Envelope{env}, now); err != nil {
			t.Fatal(err)
		}
		if r, err := f.store.CommandResult(ctx, id); err != nil || r.Kind != assigner.OutcomeReplyQueued {
			t.Fatalf("reply of agent %d: %+v %s %v", agent, r, r.Value, err)
		}
	}
	rows := f.outbox()
	if len(rows) != 2 {
		t.Fatalf("%d outbox rows, want 2", len(rows))
	}
	pub := &failingPublisher{next: &applyingPublisher{store: f.store}, failID: "send_result:" + strconv.FormatInt(rows[0].ID, 10),
		failFor: 300 * time.Millisecond}
	startRelay(t, testRelayConfig(nil), f.store, f.client(nil), pub)
	rows = f.allSettled(10*time.Second, nil)
	f.checkSentOnce(rows)

	pub.mu.Lock()
	var order []string
	for _, id := range pub.order {
		if !slices.Contains(order, id) {
			order = append(order, id)
		}
	}
	pub.mu.Unlock()
	want := []string{"send_result:" + strconv.FormatInt(rows[0].ID, 10), "send_result:" + strconv.FormatInt(rows[1].ID, 10)}
	if !slices.Equal(order, want) {
		t.Errorf("outcomes first published in order %v, want outbox order %v", order, want)
	}
	var owners []int64
	if err := f.conn.Select(&owners, `SELECT o.agent_id FROM contact_owners o JOIN contacts c ON c.id = o.contact_id
		WHERE c.wa_id = $1 ORDER BY o.agent_id`, wa); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(owners, agents[:1]) {
		t.Errorf("contact owners %v, want the first responder %d (whose reply Meta accepted first)", owners, agents[0])
	}
}
