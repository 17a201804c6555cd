package relay_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/relay"
	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// ---------------------------------------------------------------- two relays

// countingSender counts the sends one relay made.
type countingSender struct {
	relay.Sender
	n atomic.Int64
}

func (s *countingSender) Send(ctx context.Context, pn string, msg whatsapp.OutboundMessage) (whatsapp.SendResult, error) {
	s.n.Add(1)
	return s.Sender.Send(ctx, pn, msg)
}

// Two relays on one outbox send each row exactly once.
func TestRelayTwoRelaysSendEachRowOnce(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t, simulator.Config{Faults: simulator.Faults{Latency: 2 * time.Millisecond, LatencyJitter: 3 * time.Millisecond}})
	const contacts = 40
	for i := 0; i < contacts; i++ {
		pn := fmt.Sprintf("11000000000003%d", i%2)
		f.contact(pn, waID(106, i), fmt.Sprintf("D%d-1", i), fmt.Sprintf("D%d-2", i))
	}
	pub := &applyingPublisher{store: f.store}
	var senders []*countingSender
	for i := 0; i < 2; i++ {
		cfg := testRelayConfig(nil)
		cfg.Batch, cfg.Concurrency = 5, 4
		s := &countingSender{Sender: f.client(nil)} // a client per relay, as two processes would have
		senders = append(senders, s)
		startRelay(t, cfg, f.store, s, pub)
	}
	rows := f.allSettled(20*time.Second, nil)
	if len(rows) != 2*contacts {
		t.Fatalf("%d outbox rows, want %d", len(rows), 2*contacts)
	}
	f.checkSentOnce(rows)
	if n := len(f.sim.Sent()); n != len(rows) {
		t.Errorf("simulator accepted %d messages for %d rows", n, len(rows))
	}
	// An outcome may be published more than once (reportPending races the
	// sending goroutine); the consumer drops the copies by envelope id.
	if pub.n.Load() < int64(len(rows)) {
		t.Errorf("%d outcomes published for %d rows, want at least one each", pub.n.Load(), len(rows))
	}
	a, b := senders[0].n.Load(), senders[1].n.Load()
	if a == 0 || b == 0 {
		t.Errorf("sends per relay: %d and %d; both relays should have shared the outbox", a, b)
	}
	t.Logf("relay 1 sent %d, relay 2 sent %d; %d outcomes published for %d rows", a, b, pub.n.Load(), len(rows))
}

// ---------------------------------------------------------------- kill and restart

var errKilled = errors.New("test: relay process killed")

// killableStore is the outbox as a relay process sees it: once killed,
// nothing it writes reaches Postgres any more.
type killableStore struct {
	*db.Store
	killed atomic.Bool
}

func (s *killableStore) ClaimOutbox(ctx context.Context, limit int, lease time.Duration, paused []string, now time.Time) ([]assigner.OutboxItem, error) {
	if s.killed.Load() {
		return nil, errKilled
	}
	return s.Store.ClaimOutbox(ctx, limit, lease, paused, now)
}

func (s *killableStore) OutboxSent(ctx context.Context, sent []assigner.OutboxSend) error {
	if s.killed.Load() {
		return errKilled
	}
	return s.Store.OutboxSent(ctx, sent)
}

func (s *killableStore) OutboxFailed(ctx context.Context, id int64, code int, msg string) error {
	if s.killed.Load() {
		return errKilled
	}
	return s.Store.OutboxFailed(ctx, id, code, msg)
}

func (s *killableStore) OutboxRetry(ctx context.Context, id int64, at time.Time, code int, msg string, count bool) error {
	if s.killed.Load() {
		return errKilled
	}
	return s.Store.OutboxRetry(ctx, id, at, code, msg, count)
}

func (s *killableStore) OutboxReported(ctx context.Context, ids []int64) error {
	if s.killed.Load() {
		return errKilled
	}
	return s.Store.OutboxReported(ctx, ids)
}

func (s *killableStore) OutboxUnreported(ctx context.Context, limit int) ([]assigner.OutboxResult, error) {
	if s.killed.Load() {
		return nil, errKilled
	}
	return s.Store.OutboxUnreported(ctx, limit)
}

// killableSender hangs on chosen messages, before the request (it never
// reaches Meta) or after Meta accepted it (the wamid is never recorded),
// until the process is killed.
type killableSender struct {
	real          relay.Sender
	killed        chan struct{}
	before, after map[string]bool
	hanging       atomic.Int64
}

func (s *killableSender) Send(ctx context.Context, pn string, msg whatsapp.OutboundMessage) (whatsapp.SendResult, error) {
	select {
	case <-s.killed:
		return whatsapp.SendResult{}, errKilled
	default:
	}
	text := msg.Text.Body
	if s.before[text] {
		s.hanging.Add(1)
		<-s.killed
		return whatsapp.SendResult{}, errKilled
	}
	res, err := s.real.Send(ctx, pn, msg)
	if s.after[text] {
		s.hanging.Add(1)
		<-s.killed
		return whatsapp.SendResult{}, errKilled
	}
	return res, err
}

func (s *killableSender) MarkRead(ctx context.Context, pn, wamid string, typing bool) error {
	return s.real.MarkRead(ctx, pn, wamid, typing)
}

func (s *killableSender) ThreadControl(ctx context.Context, pn string, req whatsapp.ThreadControlRequest) error {
	return s.real.ThreadControl(ctx, pn, req)
}

// A relay killed mid-send leaves its unfinished rows leased; a new relay
// takes them once the lease ends and sends again exactly the rows without
// a recorded wamid. Rows whose wamid was recorded are never sent again.
// (A row Meta accepted whose wamid was not recorded goes out twice: the
// Cloud API has no idempotency key.)
func TestRelayRestartResendsOnlyRowsWithoutWAMID(t *testing.T) {
	t.Parallel()
	const pn = "110000000000041"
	f := newRelayFixture(t, simulator.Config{})
	const n = 12
	before, after := map[string]bool{}, map[string]bool{}
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("K%d", i)
		f.contact(pn, waID(107, i), text)
		switch i % 4 {
		case 1:
			before[text] = true
		case 2:
			after[text] = true
		}
	}
	ks := &killableStore{Store: f.store}
	sender := &killableSender{real: f.client(nil), killed: make(chan struct{}), before: before, after: after}
	cfg := testRelayConfig(nil)
	cfg.Lease = time.Second
	stop1 := startRelay(t, cfg, ks, sender, &applyingPublisher{store: f.store})

	wagwtest.WaitFor(t, 10*time.Second, "first relay: sent rows recorded, others hanging mid-send", func() (bool, string) {
		sent := 0
		for _, r := range f.outbox() {
			if r.State == "sent" && r.Reported {
				sent++
			}
		}
		accepted := f.sentCounts()
		hangAfter := 0
		for text := range after {
			hangAfter += accepted[text]
		}
		h := sender.hanging.Load()
		return sent == n-len(before)-len(after) && h == int64(len(before)+len(after)) && hangAfter == len(after),
			fmt.Sprintf("%d sent, %d hanging, %d accepted but unrecorded", sent, h, hangAfter)
	})
	// Kill: from now on nothing of the first relay reaches Postgres.
	ks.killed.Store(true)
	close(sender.killed)
	stop1()

	var withWAMID, without []string
	for _, r := range f.outbox() {
		if r.WAMID != nil {
			withWAMID = append(withWAMID, r.Text)
		} else {
			without = append(without, r.Text)
			if r.State != "pending" {
				t.Errorf("outbox %d is %s after the kill, want pending", r.ID, r.State)
			}
		}
	}
	if len(without) != len(before)+len(after) {
		t.Fatalf("rows without a wamid after the kill: %v, want the %d hanging ones", without, len(before)+len(after))
	}
	sentBefore := f.sentCounts()

	// Restart: a new relay (new client, plain store) after the lease ran out.
	startRelay(t, testRelayConfig(nil), f.store, f.client(nil), &applyingPublisher{store: f.store})
	rows := f.allSettled(15*time.Second, nil)
	sentAfter := f.sentCounts()
	for _, text := range withWAMID {
		if sentAfter[text] != 1 {
			t.Errorf("%s had a recorded wamid and reached the simulator %d times, want once", text, sentAfter[text])
		}
	}
	for _, text := range without {
		if d := sentAfter[text] - sentBefore[text]; d != 1 {
			t.Errorf("%s had no recorded wamid: the new relay sent it %d times, want once", text, d)
		}
	}
	byText := map[string][]simulator.SentMessage{}
	for _, m := range f.sim.Sent() {
		byText[m.Text] = append(byText[m.Text], m)
	}
	for _, r := range rows {
		ms := byText[r.Text]
		if r.State != "sent" || r.WAMID == nil || len(ms) == 0 || ms[len(ms)-1].WAMID != *r.WAMID {
			t.Errorf("outbox %d (%s): state %s wamid %v, want sent with the wamid of its last send", r.ID, r.Text, r.State, r.WAMID)
		}
	}
	f.checkMessagesAccepted(rows)
	dup := 0
	for text := range after {
		dup += sentAfter[text] - 1
	}
	t.Logf("%d rows: %d kept their wamid, %d resent; %d accepted twice (no idempotency key in the Cloud API)",
		len(rows), len(withWAMID), len(without), dup)
}

// ---------------------------------------------------------------- outages

// cutAfterSend is the real client; after the Cloud API accepted a chosen
// message it cuts the relay's way to Postgres, so that the wamid cannot be
// recorded.
type cutAfterSend struct {
	relay.Sender
	text  string
	proxy *dbtest.Proxy
	cut   atomic.Bool
}

func (s *cutAfterSend) Send(ctx context.Context, pn string, msg whatsapp.OutboundMessage) (whatsapp.SendResult, error) {
	res, err := s.Sender.Send(ctx, pn, msg)
	if err == nil && msg.Text != nil && msg.Text.Body == s.text && s.cut.CompareAndSwap(false, true) {
		s.proxy.Cut()
	}
	return res, err
}

// proxiedStore is the store as a relay reaches it through proxy.
func (f *relayFixture) proxiedStore(dsn string) (*db.Store, *dbtest.Proxy) {
	f.t.Helper()
	proxy, url := dbtest.ProxyURL(f.t, dsn)
	conn, err := db.Open(context.Background(), db.Config{URL: url, MaxOpenConns: 4})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	return db.NewStore(conn), proxy
}

// When Postgres is unreachable right after the Cloud API accepted a
// message, for longer than the row's lease, the relay keeps the row and
// keeps trying to record the wamid: once Postgres is back it records it,
// and the message is never sent again. Meanwhile the relay says it is
// unhealthy; it resumes by itself.
func TestRelayKeepsSuccessfulSendThroughPostgresOutage(t *testing.T) {
	t.Parallel()
	const pn = "110000000000061"
	f := newRelayFixture(t, simulator.Config{})
	wa := waID(109, 1)
	conv := f.contact(pn, wa, "S1")
	store, proxy := f.proxiedStore(f.dsn)
	sender := &cutAfterSend{Sender: f.client(nil), text: "S1", proxy: proxy}
	cfg := testRelayConfig(prometheus.NewRegistry())
	cfg.Lease = 2 * time.Second
	r := relay.New(cfg, store, sender, &applyingPublisher{store: f.store})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wagwtest.WaitFor(t, 10*time.Second, "S1 accepted by the simulator, Postgres cut", func() (bool, string) {
		return sender.cut.Load(), fmt.Sprintf("%d accepted", len(f.sim.Sent()))
	})
	outage := 2 * cfg.Lease
	start := time.Now()
	var unhealthy error
	for time.Since(start) < outage {
		if err := r.Health(); err != nil && unhealthy == nil {
			unhealthy = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	if unhealthy == nil {
		t.Errorf("relay Health() stayed nil while Postgres was unreachable for %v", outage)
	} else {
		t.Logf("unhealthy during the outage: %v", unhealthy)
	}
	if rows := f.outbox(); len(rows) != 1 || rows[0].State != "pending" || rows[0].WAMID != nil {
		t.Fatalf("outbox during the outage: %+v, want one pending row without a wamid (the test cut Postgres too late)", rows)
	}
	proxy.Restore()

	f.reply(wa, conv, "S2") // the contact's next message goes once S1 is settled
	rows := f.allSettled(15*time.Second, nil)
	f.checkSentOnce(rows)
	wagwtest.WaitFor(t, 10*time.Second, "relay healthy again", func() (bool, string) {
		err := r.Health()
		return err == nil, fmt.Sprint(err)
	})
	if n := f.sentCounts()["S1"]; n != 1 {
		t.Errorf("S1 reached the Cloud API %d times, want once: its send had succeeded", n)
	}
}

// Transient failures or throttled answers that outlast the retries fail
// the message for good, visibly (the row and the message failed with the
// last error's code, a metric), and the contact's later messages go.
func TestRelayGivesUpAfterMaxRetries(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		name   string
		faults simulator.Faults
		code   int
	}{
		{"5xx", simulator.Faults{Error5xxRate: 1}, 2},                                   // Meta's, on the 503
		{"throttled", simulator.Faults{ErrorCodes: map[int]float64{130429: 1}}, 130429}, // every attempt rate-limited
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pnA, pnB := fmt.Sprintf("11000000000007%d", 2*i+1), fmt.Sprintf("11000000000007%d", 2*i+2)
			testRelayGivesUp(t, pnA, pnB, waID(110+i, 1), tc.faults, tc.code)
		})
	}
}

// testRelayGivesUp: every send on pnA fails with faults; the row fails
// for good with code after MaxRetries retries, and the contact's row on
// pnB goes.
func testRelayGivesUp(t *testing.T, pnA, pnB, wa string, faults simulator.Faults, code int) {
	f := newRelayFixture(t, simulator.Config{})
	convA := f.contact(pnA, wa)
	msgA := f.reply(wa, convA, "G1")
	f.contact(pnB, wa, "G2") // the same contact on another number: waits behind G1
	f.sim.SetNumberFaults(pnA, faults)

	const retries = 3
	reg := prometheus.NewRegistry()
	cfg := testRelayConfig(reg)
	cfg.MaxRetries = retries
	startRelay(t, cfg, f.store, f.client(nil), &applyingPublisher{store: f.store})
	rows := f.allSettled(20*time.Second, nil)

	byText := map[string]outboxRow{}
	for _, r := range rows {
		byText[r.Text] = r
	}
	g1 := byText["G1"]
	if g1.State != "failed" || g1.ErrorCode == nil || *g1.ErrorCode != code || g1.Attempts != retries+1 ||
		!strings.Contains(g1.ErrorMsg, "gave up after 4 attempts") {
		t.Errorf("G1: state %s code %v attempts %d error %q; want failed with code %d after %d attempts",
			g1.State, g1.ErrorCode, g1.Attempts, g1.ErrorMsg, code, retries+1)
	}
	if n := f.sim.Stats()["injected_5xx"]; faults.Error5xxRate > 0 && n != retries+1 {
		t.Errorf("the simulator refused %d sends, want %d (one attempt and %d retries)", n, retries+1, retries)
	}
	var status string
	var got *int
	if err := f.conn.QueryRow(`SELECT status, error_code FROM messages WHERE id = $1`, msgA).Scan(&status, &got); err != nil {
		t.Fatal(err)
	}
	if status != "failed" || got == nil || *got != code {
		t.Errorf("G1's message: status %q code %v, want failed with %d", status, got, code)
	}
	if n := wagwtest.Metric(t, reg, "wagw_relay_retries_exhausted_total", nil); n != 1 {
		t.Errorf("wagw_relay_retries_exhausted_total = %v, want 1", n)
	}
	f.checkSentOnce([]outboxRow{byText["G2"]})
}

// A row whose payload does not decode fails at once, without a call to
// the Cloud API: sending it again cannot help, and the contact's later
// messages go.
func TestRelayFailsARowWhosePayloadDoesNotDecode(t *testing.T) {
	t.Parallel()
	const pn = "110000000000081"
	f := newRelayFixture(t, simulator.Config{})
	wa := waID(112, 1)
	conv := f.contact(pn, wa)
	bad := f.reply(wa, conv, "B1")
	f.reply(wa, conv, "B2")
	f.conn.MustExec(`UPDATE outbox SET payload = '"not a message"' WHERE message_id = $1`, bad)
	startRelay(t, testRelayConfig(nil), f.store, f.client(nil), &applyingPublisher{store: f.store})
	rows := f.allSettled(10*time.Second, nil)
	var b1 outboxRow
	for _, r := range rows {
		if r.MessageID == bad {
			b1 = r
		} else {
			f.checkSentOnce([]outboxRow{r}) // B2
		}
	}
	if b1.State != "failed" || b1.Attempts > 1 || !strings.Contains(b1.ErrorMsg, "does not decode") {
		t.Errorf("B1: state %s attempts %d error %q; want failed at once, its payload named", b1.State, b1.Attempts, b1.ErrorMsg)
	}
	if len(rows) != 2 {
		t.Errorf("%d outbox rows, want 2", len(rows))
	}
}

// TestRelayDrainsUnpublishedOutcomesPageAfterPage: outcomes recorded and
// not published (a relay stopped, Kafka refused them) are looked for once
// a second when there are none, but a backlog of several pages goes out
// page after page: a contact's next message waits for its earlier
// outcomes. The relay's clock stands still here, so a sweep that waited
// for the next second would never come.
func TestRelayDrainsUnpublishedOutcomesPageAfterPage(t *testing.T) {
	t.Parallel()
	const pn, rows = "110000000000071", 250
	f := newRelayFixture(t, simulator.Config{})
	replies := make([]string, rows)
	for i := range replies {
		replies[i] = fmt.Sprintf("R%d", i)
	}
	f.contact(pn, waID(171, 1), replies...)
	res, err := f.conn.Exec(`UPDATE outbox SET state = 'sent', wamid = 'wamid.OUT.' || id, sent_at = now(), attempts = 1`)
	if n, _ := res.RowsAffected(); err != nil || n != rows {
		t.Fatalf("%d rows marked sent, want %d: %v", n, rows, err)
	}
	cfg := testRelayConfig(nil)
	frozen := time.Now()
	cfg.Now = func() time.Time { return frozen }
	startRelay(t, cfg, f.store, f.client(nil), &applyingPublisher{store: f.store})
	wagwtest.WaitFor(t, 30*time.Second, "every outcome published", func() (bool, string) {
		var left int
		f.conn.Get(&left, `SELECT count(*) FROM outbox WHERE NOT reported`)
		return left == 0, fmt.Sprintf("%d of %d not reported", left, rows)
	})
}
