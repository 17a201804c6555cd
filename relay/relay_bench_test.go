package relay_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/relay"
	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp/cloudapi"
)

// countingPublisher takes the relay's outcomes and only counts them.
type countingPublisher struct{ n atomic.Int64 }

func (p *countingPublisher) Publish(_ context.Context, events []event.Envelope) error {
	p.n.Add(int64(len(events)))
	return nil
}

// queueReplies writes n queued replies spread over numbers business numbers,
// one per recipient (so per-recipient pacing never waits).
func queueReplies(b *testing.B, conn *sqlx.DB, n, numbers int) {
	b.Helper()
	for _, q := range []string{
		`INSERT INTO inboxes (phone_number_id) SELECT 'pn' || g FROM generate_series(0, $2::int - 1) g WHERE $1::int > 0`,
		`INSERT INTO contacts (key, wa_id, name) SELECT '4915' || lpad(g::text, 7, '0'), '4915' || lpad(g::text, 7, '0'), 'c'
			FROM generate_series(1, $1::int) g WHERE $2::int > 0`,
		`INSERT INTO messages (direction, contact_id, inbox, type, body, sent_at, received_at, status)
			SELECT 'out', id, 'pn' || (id % $2::int), 'text', 'hi', now(), now(), 'pending' FROM contacts WHERE $1::int > 0`,
		`INSERT INTO outbox (contact_id, contact_key, message_id, phone_number_id, recipient, kind, payload)
			SELECT m.contact_id, c.key, m.id, m.inbox, c.wa_id, 'reply',
				json_build_object('messaging_product', 'whatsapp', 'to', c.wa_id, 'type', 'text', 'text', json_build_object('body', 'hi'))
			FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE $1::int > 0 AND $2::int > 0`,
	} {
		if _, err := conn.Exec(q, n, numbers); err != nil {
			b.Fatal(err)
		}
	}
}

func pendingRows(b *testing.B, conn *sqlx.DB) int {
	var n int
	if err := conn.Get(&n, `SELECT count(*) FROM outbox WHERE state = 'pending'`); err != nil {
		b.Fatal(err)
	}
	return n
}

// relayBench is a relay with Meta's default limits (80 messages/s per
// number, enforced by the client and by the simulator) against the
// simulator.
func relayBench(b *testing.B, breakerOpenFor time.Duration) (*sqlx.DB, *simulator.Simulator, func()) {
	conn, _ := dbtest.New(b)
	sim := simulator.New(simulator.Config{Addr: "127.0.0.1:0", Logger: wagwtest.QuietLogger()})
	addr, err := sim.Start(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	client := cloudapi.NewClient(cloudapi.ClientConfig{BaseURL: "http://" + addr, Token: "bench", BreakerOpenFor: breakerOpenFor, Logger: wagwtest.QuietLogger()})
	r := relay.New(relay.Config{Logger: wagwtest.QuietLogger()}, db.NewStore(conn), client, &countingPublisher{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := func() { go func() { defer close(done); r.Run(ctx) }() }
	return conn, sim, func() {
		start()
		b.Cleanup(func() { cancel(); <-done; sim.Close() })
	}
}

// BenchmarkRelayTenNumbers: how fast the relay drains 10,000 replies over
// ten business numbers at Meta's default 80 messages/s per number (the
// ceiling is 800/s).
func BenchmarkRelayTenNumbers(b *testing.B) {
	const n, numbers = 10000, 10
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		conn, _, start := relayBench(b, 0)
		queueReplies(b, conn, n, numbers)
		b.StartTimer()
		t0 := time.Now()
		start()
		for pendingRows(b, conn) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(float64(n)/time.Since(t0).Seconds(), "sends/s")
	}
}

// BenchmarkRelayDrainAfterBreakerOpen: every number answers 5xx for a
// while (WAGW_BENCH_OUTAGE, default 60 s), so every breaker opens and
// 10,000 replies wait; then the Cloud API recovers. Reported: seconds from
// recovery until the queue is empty (the breakers' 30 s open interval
// included).
func BenchmarkRelayDrainAfterBreakerOpen(b *testing.B) {
	outage := 60 * time.Second
	if v := os.Getenv("WAGW_BENCH_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		outage = d
	}
	const n, numbers = 10000, 10
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		conn, sim, start := relayBench(b, 0)
		queueReplies(b, conn, n, numbers)
		sim.SetFaults(simulator.Faults{Error5xxRate: 1})
		start()
		time.Sleep(outage)
		if p := pendingRows(b, conn); p != n {
			b.Fatalf("%d of %d rows left the queue during the outage", n-p, n)
		}
		b.StartTimer()
		t0 := time.Now()
		sim.SetFaults(simulator.Faults{})
		for pendingRows(b, conn) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "drain-s")
	}
}
