package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

const (
	consTopic      = "wa.events"
	consDLQ        = "wa.events.dlq"
	consPartitions = 3
	consInbox      = "120000000000001"
)

// consumerFixture is an embedded broker, a producer, a fresh Postgres
// database and a consumer group reading the events topic.
type consumerFixture struct {
	t        *testing.T
	addr     string
	broker   broker.EmbeddedConfig
	emb      *broker.Embedded
	producer *broker.Producer
	conn     *sqlx.DB
	store    *db.Store
	reg      *prometheus.Registry
	seq      atomic.Int64
}

func newConsumerFixture(t *testing.T) *consumerFixture {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := &consumerFixture{t: t, addr: addr, reg: prometheus.NewRegistry(),
		broker: broker.EmbeddedConfig{Addr: addr, DataDir: t.TempDir(), NoSync: true, Topics: []string{consTopic, consDLQ}, Partitions: consPartitions}}
	f.startBroker()
	t.Cleanup(func() { f.stopBroker() })
	p := broker.NewProducer(broker.ProducerConfig{Brokers: []string{addr}, Topic: consTopic})
	t.Cleanup(func() { p.Close() })
	conn, _ := dbtest.New(t)
	f.producer, f.conn, f.store = p, conn, db.NewStore(conn)
	return f
}

// startBroker starts the embedded broker on the fixture's address and data
// dir (again, after stopBroker).
func (f *consumerFixture) startBroker() {
	f.t.Helper()
	emb, err := broker.StartEmbedded(f.broker)
	if err != nil {
		f.t.Fatal(err)
	}
	f.emb = emb
}

// stopBroker stops the embedded broker; what it acknowledged stays in its
// data dir.
func (f *consumerFixture) stopBroker() {
	if f.emb != nil {
		f.emb.Close()
		f.emb = nil
	}
}

// run starts the consumer group on store until the test ends.
func (f *consumerFixture) run(store consumer.Store) {
	f.t.Helper()
	f.start(store, nil)
}

// runningConsumer is a consumer group started by start.
type runningConsumer struct {
	*consumer.Consumer
	done chan error // receives Run's result
}

// exited reports whether Run has returned, without waiting.
func (r *runningConsumer) exited() (bool, error) {
	select {
	case err := <-r.done:
		r.done <- err
		return true, err
	default:
		return false, nil
	}
}

// start runs the consumer group on store, with the test configuration
// changed by tune (when not nil), until the test ends.
func (f *consumerFixture) start(store consumer.Store, tune func(*consumer.Config)) *runningConsumer {
	f.t.Helper()
	cfg := consumer.Config{Brokers: []string{f.addr}, Topic: consTopic, DeadLetterTopic: consDLQ,
		Workers: 2, MaxBatch: 50, RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		SessionTimeout: 2 * time.Second, Logger: wagwtest.QuietLogger(), Registerer: f.reg}
	if tune != nil {
		tune(&cfg)
	}
	c := consumer.New(cfg, store, f.producer)
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningConsumer{Consumer: c, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				f.t.Errorf("consumer Run = %v at shutdown, want nil", err)
			}
		case <-time.After(15 * time.Second):
			f.t.Errorf("consumer did not stop within 15 s")
		}
	})
	return r
}

// message is the envelope of one inbound text message, as the gateway
// produces it from a signed webhook.
func (f *consumerFixture) message(wa, wamid, text string) event.Envelope {
	f.t.Helper()
	envs, err := event.ParseAndSplit(wagwtest.TextWebhook(consInbox, wa, wamid, time.Now().Add(-time.Minute), text), time.Now())
	if err != nil || len(envs) != 1 {
		f.t.Fatalf("split: %d envelopes, %v", len(envs), err)
	}
	return envs[0]
}

func command(key, id, typ string, data any) event.Envelope {
	raw, _ := json.Marshal(data)
	now := time.Now()
	return event.Envelope{Version: event.Version, ID: id, Kind: event.KindCommand, ContactKey: key,
		OccurredAt: now, ReceivedAt: now, Command: &event.Command{Type: typ, Data: raw}}
}

func (f *consumerFixture) publish(envs ...event.Envelope) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.producer.Publish(ctx, envs); err != nil {
		f.t.Fatalf("publish: %v", err)
	}
}

// stored returns the wamids of a contact's inbound messages in the order
// they were applied.
func (f *consumerFixture) stored(wa string) []string {
	f.t.Helper()
	var out []string
	if err := f.conn.Select(&out, `SELECT m.wamid FROM messages m JOIN contacts c ON c.id = m.contact_id
		WHERE c.wa_id = $1 AND m.direction = 'in' ORDER BY m.id`, wa); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *consumerFixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.conn.Get(&n, query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// A poison record (a message Postgres refuses) goes to the dead-letter
// topic with its reason and blocks its contact: the contact's later events
// are held while other contacts flow; releasing the contact applies them
// in order. An undecodable record is dead-lettered too. A command is never
// poison: an unknown command gets a failed result and its contact flows.
func TestConsumerPoisonRecordsDeadLetterBlockAndRelease(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	f.run(f.store)
	const poisoned, other, unknownCmd = "316100000001", "316100000002", "316100000003"

	f.publish(
		f.message(poisoned, "wamid.P1", "first"),
		f.message(other, "wamid.Q1", "q one"),
		f.message(unknownCmd, "wamid.R1", "r one"),
	)
	// The parser replaces NUL by U+FFFD; a record from another producer may
	// still hold one, and Postgres refuses it.
	nul := f.message(poisoned, "wamid.P2", "NUL")
	nul.Message.Text.Body = "NUL \x00 is refused by Postgres"
	f.publish(
		nul,
		f.message(other, "wamid.Q2", "q two"),
		command(unknownCmd, "cmd_unknown_1", "frobnicate", map[string]int{"x": 1}),
		f.message(poisoned, "wamid.P3", "third"),
		f.message(other, "wamid.Q3", "q three"),
		f.message(poisoned, "wamid.P4", "fourth"),
		f.message(unknownCmd, "wamid.R2", "r two"),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := f.producer.PublishRaw(ctx, consTopic, []byte("undecodable-key"), []byte(`{"v":1,"id":`), nil); err != nil {
		t.Fatal(err)
	}
	cancel()

	wagwtest.WaitFor(t, 20*time.Second, "poison records dead-lettered, contacts blocked, others applied", func() (bool, string) {
		q := f.stored(other)
		held := f.count(`SELECT count(*) FROM held_events`)
		blocked := f.count(`SELECT count(*) FROM contacts WHERE blocked_at IS NOT NULL`)
		dlq := len(wagwtest.ReadTopic(t, f.addr, consDLQ))
		// The unknown command's contact is on its own partition: wait
		// for its last message too, or its result may not be there yet.
		r := f.stored(unknownCmd)
		return len(q) == 3 && held == 2 && blocked == 2 && dlq == 2 && len(r) == 2,
			fmt.Sprintf("other contact %v, unknown command's contact %v, %d held, %d blocked, %d dead letters", q, r, held, blocked, dlq)
	})
	if got := f.stored(other); !slices.Equal(got, []string{"wamid.Q1", "wamid.Q2", "wamid.Q3"}) {
		t.Errorf("other contact's messages %v, want Q1 Q2 Q3", got)
	}
	if got := f.stored(poisoned); !slices.Equal(got, []string{"wamid.P1"}) {
		t.Errorf("poisoned contact's applied messages %v, want only P1 (P2 dead, P3 P4 held)", got)
	}
	var held []string
	if err := f.conn.Select(&held, `SELECT event_id FROM held_events WHERE contact_key = $1 ORDER BY id`, poisoned); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(held, []string{"wamid.P3", "wamid.P4"}) {
		t.Errorf("held events of the poisoned contact %v, want P3 P4", held)
	}
	dead := map[string]kafka.Message{}
	for _, m := range wagwtest.ReadTopic(t, f.addr, consDLQ) {
		dead[string(m.Key)] = m
		t.Logf("dead letter %s: %s", m.Key, header(m, "reason"))
		if header(m, "reason") == "" || header(m, "topic") != consTopic || header(m, "offset") == "" {
			t.Errorf("dead letter %s has headers %v, want reason, topic and offset", m.Key, m.Headers)
		}
	}
	if m, ok := dead[poisoned]; !ok || !strings.Contains(string(m.Value), "wamid.P2") || header(m, "contact_key") != poisoned {
		t.Errorf("dead letter of the NUL message missing or wrong: %+v", m)
	}
	if _, ok := dead[unknownCmd]; ok {
		t.Errorf("the unknown command was dead-lettered")
	}
	if r, err := f.store.CommandResult(context.Background(), "cmd_unknown_1"); err != nil || r.Err == nil || r.Err.Code != assigner.ErrCodeUnknownCommand {
		t.Errorf("unknown command's result %+v (%v), want unknown_command", r, err)
	}
	if m, ok := dead["undecodable-key"]; !ok || !strings.Contains(header(m, "reason"), "undecodable") || string(m.Value) != `{"v":1,"id":` {
		t.Errorf("undecodable record not dead-lettered as it was: %+v", m)
	}
	var reason string
	if err := f.conn.Get(&reason, `SELECT blocked_reason FROM contacts WHERE wa_id = $1`, poisoned); err != nil || reason == "" {
		t.Errorf("poisoned contact blocked with reason %q (%v), want the dead-letter reason", reason, err)
	}

	// Later events: the blocked contact's are held, the other's flow.
	f.publish(f.message(poisoned, "wamid.P5", "fifth"), f.message(other, "wamid.Q4", "q four"))
	wagwtest.WaitFor(t, 10*time.Second, "P5 held, Q4 applied", func() (bool, string) {
		n := f.count(`SELECT count(*) FROM held_events WHERE contact_key = $1`, poisoned)
		q := f.stored(other)
		return n == 3 && len(q) == 4, fmt.Sprintf("%d held, other contact %v", n, q)
	})

	// Release (what POST /v1/contacts/{id}/release produces): the held
	// events are applied in order; the contact is unblocked.
	var contactID int64
	if err := f.conn.Get(&contactID, `SELECT id FROM contacts WHERE wa_id = $1`, poisoned); err != nil {
		t.Fatal(err)
	}
	f.publish(command(poisoned, "cmd_release_1", event.CmdRelease, event.ReleaseCommand{ContactID: contactID}))
	wagwtest.WaitFor(t, 10*time.Second, "release applied", func() (bool, string) {
		_, err := f.store.CommandResult(context.Background(), "cmd_release_1")
		return err == nil, fmt.Sprintf("%v", err)
	})
	r, _ := f.store.CommandResult(context.Background(), "cmd_release_1")
	var body struct {
		Released int `json:"released_events"`
	}
	json.Unmarshal(r.Value, &body)
	if r.Kind != assigner.OutcomeReleased || body.Released != 3 {
		t.Errorf("release result %q %s, want released with 3 released events", r.Kind, r.Value)
	}
	if got := f.stored(poisoned); !slices.Equal(got, []string{"wamid.P1", "wamid.P3", "wamid.P4", "wamid.P5"}) {
		t.Errorf("poisoned contact's messages after release %v, want P1 P3 P4 P5 in that order", got)
	}
	if n := f.count(`SELECT count(*) FROM held_events WHERE contact_key = $1`, poisoned); n != 0 {
		t.Errorf("%d events still held after release", n)
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE wa_id = $1 AND blocked_at IS NULL`, poisoned); n != 1 {
		t.Errorf("contact still blocked after release")
	}
	// After the release the contact flows again; so does the contact of
	// the unknown command, which was never blocked.
	f.publish(f.message(poisoned, "wamid.P6", "sixth"), f.message(unknownCmd, "wamid.R3", "r three"))
	wagwtest.WaitFor(t, 10*time.Second, "P6 and R3 applied directly", func() (bool, string) {
		p, r := f.stored(poisoned), f.stored(unknownCmd)
		return len(p) == 5 && len(r) == 3, fmt.Sprintf("poisoned contact %v, unknown command's contact %v", p, r)
	})
	if got := f.stored(unknownCmd); !slices.Equal(got, []string{"wamid.R1", "wamid.R2", "wamid.R3"}) {
		t.Errorf("unknown command's contact's messages %v, want R1 R2 R3", got)
	}
	if n := wagwtest.Metric(t, f.reg, "wagw_consumer_dead_letters_total", nil); n != 2 {
		t.Errorf("wagw_consumer_dead_letters_total = %v, want 2", n)
	}
}

// flakyStore fails the first calls to Apply as a Postgres that refuses
// connections would.
type flakyStore struct {
	*db.Store
	failures atomic.Int64
	calls    atomic.Int64
}

func (s *flakyStore) Apply(ctx context.Context, events []event.Envelope, now time.Time) error {
	s.calls.Add(1)
	if s.failures.Add(-1) >= 0 {
		return fmt.Errorf("dial tcp 127.0.0.1:5432: connect: %w", syscall.ECONNREFUSED)
	}
	return s.Store.Apply(ctx, events, now)
}

// A transient store failure is retried: nothing is lost, nothing is
// dead-lettered, each contact's order holds.
func TestConsumerRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	const failures = 5
	store := &flakyStore{Store: f.store}
	store.failures.Store(failures)
	f.run(store)

	want := map[string][]string{}
	for round := 0; round < 3; round++ {
		var envs []event.Envelope
		for c := 0; c < 4; c++ {
			wa := fmt.Sprintf("3162000000%02d", c)
			wamid := fmt.Sprintf("wamid.T.%d.%d", c, round)
			envs = append(envs, f.message(wa, wamid, wamid))
			want[wa] = append(want[wa], wamid)
		}
		f.publish(envs...)
	}
	wagwtest.WaitFor(t, 20*time.Second, "every message applied", func() (bool, string) {
		n := f.count(`SELECT count(*) FROM messages`)
		return n == 12, fmt.Sprintf("%d of 12 messages stored, %d Apply calls", n, store.calls.Load())
	})
	for wa, w := range want {
		if got := f.stored(wa); !slices.Equal(got, w) {
			t.Errorf("contact %s: %v, want %v", wa, got, w)
		}
	}
	if calls := store.calls.Load(); calls <= failures {
		t.Errorf("%d Apply calls, want more than the %d that failed", calls, failures)
	}
	if n := wagwtest.Metric(t, f.reg, "wagw_consumer_retries_total", nil); n < failures {
		t.Errorf("wagw_consumer_retries_total = %v, want at least %d", n, failures)
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE blocked_at IS NOT NULL`); n != 0 {
		t.Errorf("%d contacts blocked by a transient failure", n)
	}
	if dl := wagwtest.ReadTopic(t, f.addr, consDLQ); len(dl) != 0 {
		t.Errorf("%d records dead-lettered by a transient failure", len(dl))
	}
	if n := f.count(`SELECT count(*) FROM held_events`); n != 0 {
		t.Errorf("%d events held", n)
	}
}

// On a fresh topic with nothing committed and no traffic, the stall
// watchdog sees no lag and never makes the workers rejoin the group. Lag
// counts the records from the group's committed offset, or from the log
// start when the group has committed nothing.
func TestConsumerWatchdogQuietOnFreshTopic(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	idle := consumer.New(consumer.Config{Brokers: []string{f.addr}, Topic: consTopic, Logger: wagwtest.QuietLogger()}, f.store, f.producer)
	lag := func() int64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := idle.Lag(ctx)
		if err != nil {
			t.Fatalf("lag: %v", err)
		}
		return n
	}
	if n := lag(); n != 0 {
		t.Errorf("lag of a fresh topic = %d, want 0", n)
	}

	const stall = time.Second
	f.start(f.store, func(c *consumer.Config) { c.StallTimeout = stall })
	time.Sleep(4 * stall)
	if n := wagwtest.Metric(t, f.reg, "wagw_consumer_rejoins_total", nil); n != 0 {
		t.Errorf("wagw_consumer_rejoins_total = %v after %v without traffic, want 0 (nothing waits on a fresh topic)", n, 4*stall)
	}

	// Records the group has not committed count; committed ones do not.
	f.publish(f.message("316300000001", "wamid.W1", "one"), f.message("316300000002", "wamid.W2", "two"))
	wagwtest.WaitFor(t, 10*time.Second, "both records applied and committed", func() (bool, string) {
		n := lag()
		return n == 0 && f.count(`SELECT count(*) FROM messages`) == 2, fmt.Sprintf("lag %d", n)
	})
	other := consumer.New(consumer.Config{Brokers: []string{f.addr}, Topic: consTopic, GroupID: "never-ran", Logger: wagwtest.QuietLogger()}, f.store, f.producer)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := other.Lag(ctx); err != nil || n != 2 {
		t.Errorf("lag of a group that never ran = %d (%v), want the 2 records from the log start", n, err)
	}
	if n := wagwtest.Metric(t, f.reg, "wagw_consumer_rejoins_total", nil); n != 0 {
		t.Errorf("wagw_consumer_rejoins_total = %v, want 0", n)
	}
}

// codeRecordingStore is the real store; it notes the SQLSTATE of every
// Postgres error Apply returns.
type codeRecordingStore struct {
	*db.Store
	mu    sync.Mutex
	codes map[string]int
}

func (s *codeRecordingStore) Apply(ctx context.Context, events []event.Envelope, now time.Time) error {
	err := s.Store.Apply(ctx, events, now)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		s.mu.Lock()
		s.codes[string(pqErr.Code)]++
		s.mu.Unlock()
	}
	return err
}

func (s *codeRecordingStore) seen(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.codes[code]
}

// hideTable renames a table away (as a restore or a migration in
// progress would) or back.
func (f *consumerFixture) hideTable(table string, hide bool) {
	f.t.Helper()
	from, to := table, table+"_hidden"
	if !hide {
		from, to = to, from
	}
	if _, err := f.conn.Exec(`ALTER TABLE ` + pq.QuoteIdentifier(from) + ` RENAME TO ` + pq.QuoteIdentifier(to)); err != nil {
		f.t.Fatal(err)
	}
}

// A Postgres that refuses statements for a reason that is not the event's
// data (here 42P01, a table that is missing for a while) is an outage, not
// a poison event: the events are retried until it works again, then
// applied once each, in order; nothing is dead-lettered and no contact is
// blocked.
func TestConsumerRetriesPostgresErrorsThatAreNotDataErrors(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	store := &codeRecordingStore{Store: f.store, codes: map[string]int{}}
	f.run(store)
	const a, b = "316400000001", "316400000002"
	f.publish(f.message(a, "wamid.MT1", "before"))
	wagwtest.WaitFor(t, 10*time.Second, "first message applied", func() (bool, string) {
		n := f.count(`SELECT count(*) FROM messages`)
		return n == 1, fmt.Sprintf("%d stored", n)
	})

	f.hideTable("messages", true)
	f.publish(f.message(a, "wamid.MT2", "during"), f.message(b, "wamid.MT3", "during"))
	wagwtest.WaitFor(t, 20*time.Second, "statements refused with 42P01 and retried", func() (bool, string) {
		return store.seen("42P01") >= 3, fmt.Sprintf("%d refusals with 42P01", store.seen("42P01"))
	})
	if dl := wagwtest.ReadTopic(t, f.addr, consDLQ); len(dl) != 0 {
		t.Errorf("%d records dead-lettered while a table was missing, want 0", len(dl))
	}

	f.hideTable("messages", false)
	wagwtest.WaitFor(t, 20*time.Second, "every message applied once the table is back", func() (bool, string) {
		n := f.count(`SELECT count(*) FROM messages`)
		return n == 3, fmt.Sprintf("%d of 3 stored", n)
	})
	if got := f.stored(a); !slices.Equal(got, []string{"wamid.MT1", "wamid.MT2"}) {
		t.Errorf("contact %s: %v, want MT1 MT2", a, got)
	}
	if got := f.stored(b); !slices.Equal(got, []string{"wamid.MT3"}) {
		t.Errorf("contact %s: %v, want MT3", b, got)
	}
	if dl := wagwtest.ReadTopic(t, f.addr, consDLQ); len(dl) != 0 {
		t.Errorf("%d records dead-lettered by a missing table, want 0", len(dl))
	}
	if n := f.count(`SELECT count(*) FROM contacts WHERE blocked_at IS NOT NULL`); n != 0 {
		t.Errorf("%d contacts blocked by a missing table, want 0", n)
	}
	if n := f.count(`SELECT count(*) FROM held_events`); n != 0 {
		t.Errorf("%d events held, want 0", n)
	}
}

// A Kafka outage longer than the consumer used to give up after stops
// nothing: the consumer reports itself
// unhealthy while it lasts, never returns, and once the broker is back
// applies every event produced before, around and after the outage, once
// each and in each contact's order.
func TestConsumerRidesOutKafkaOutage(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	rc := f.start(f.store, nil)
	const a, b = "316500000001", "316500000002"
	f.publish(f.message(a, "wamid.KO1", "one"), f.message(b, "wamid.KO2", "one"))
	wagwtest.WaitFor(t, 10*time.Second, "first messages applied", func() (bool, string) {
		n := f.count(`SELECT count(*) FROM messages`)
		return n == 2, fmt.Sprintf("%d of 2 stored", n)
	})
	f.publish(f.message(a, "wamid.KO3", "two")) // acknowledged just before the outage
	f.stopBroker()
	start := time.Now()
	var unhealthy error
	for time.Since(start) < kafkaOutage {
		if exited, err := rc.exited(); exited {
			t.Fatalf("consumer Run returned %v %v into the Kafka outage; it must wait for the broker", err, time.Since(start).Round(time.Second))
		}
		if err := rc.Health(); err != nil && unhealthy == nil {
			unhealthy = err
			t.Logf("unhealthy %v into the outage: %v", time.Since(start).Round(time.Second), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if unhealthy == nil {
		t.Errorf("Health() stayed nil through a %v Kafka outage", kafkaOutage)
	}
	if n := wagwtest.Metric(t, f.reg, "wagw_dependency_up", map[string]string{"role": "consumer", "dependency": "kafka"}); n != 0 {
		t.Errorf("wagw_dependency_up{consumer,kafka} = %v during the outage, want 0", n)
	}

	f.startBroker()
	restored := time.Now()
	f.publish(f.message(a, "wamid.KO4", "three"), f.message(b, "wamid.KO5", "two"))
	wagwtest.WaitFor(t, 60*time.Second, "every message applied after the outage", func() (bool, string) {
		n := f.count(`SELECT count(*) FROM messages`)
		return n == 5, fmt.Sprintf("%d of 5 stored", n)
	})
	wagwtest.WaitFor(t, 30*time.Second, "consumer healthy again", func() (bool, string) {
		err := rc.Health()
		return err == nil, fmt.Sprint(err)
	})
	t.Logf("recovered %v after the broker came back", time.Since(restored).Round(time.Millisecond))
	if got := f.stored(a); !slices.Equal(got, []string{"wamid.KO1", "wamid.KO3", "wamid.KO4"}) {
		t.Errorf("contact %s: %v, want KO1 KO3 KO4", a, got)
	}
	if got := f.stored(b); !slices.Equal(got, []string{"wamid.KO2", "wamid.KO5"}) {
		t.Errorf("contact %s: %v, want KO2 KO5", b, got)
	}
	if exited, err := rc.exited(); exited {
		t.Errorf("consumer Run returned %v", err)
	}
	if n := wagwtest.Metric(t, f.reg, "wagw_dependency_up", map[string]string{"role": "consumer", "dependency": "kafka"}); n != 1 {
		t.Errorf("wagw_dependency_up{consumer,kafka} = %v after the outage, want 1", n)
	}
}

// kafkaOutage is longer than the consumer used to survive: it returned
// about 1 s after the broker started refusing connections (25 s in the
// reported case).
const kafkaOutage = 10 * time.Second

// A record larger than the fetch size is consumed whole, and the records
// around it too.
func TestConsumerRecordLargerThanAFetch(t *testing.T) {
	f := newConsumerFixture(t)
	big := strings.Repeat("x", 300<<10)
	f.publish(f.message("4917000000101", "wamid.before", "small"))
	f.publish(f.message("4917000000101", "wamid.big", big))
	f.publish(f.message("4917000000101", "wamid.after", "small again"))
	f.start(f.store, func(c *consumer.Config) { c.FetchMaxBytes = 64 << 10 })
	wagwtest.WaitFor(t, 20*time.Second, "the three messages stored", func() (bool, string) {
		got := f.stored("4917000000101")
		return len(got) == 3, fmt.Sprintf("stored %v", got)
	})
	if got := f.stored("4917000000101"); !slices.Equal(got, []string{"wamid.before", "wamid.big", "wamid.after"}) {
		t.Errorf("stored %v", got)
	}
	if n := f.count(`SELECT length(body) FROM messages WHERE wamid = 'wamid.big'`); n != len(big) {
		t.Errorf("big message body of %d bytes, want %d", n, len(big))
	}
}

// A fetch size below the 64 KiB a fetch waits to gather is taken: the
// fetch then waits for that size. kafka-go refuses a reader whose minimum
// exceeds its maximum, with a panic in the worker that took the process
// down.
func TestConsumerFetchMaxBytesBelowWhatAFetchGathers(t *testing.T) {
	t.Parallel()
	f := newConsumerFixture(t)
	f.start(f.store, func(c *consumer.Config) { c.FetchMaxBytes = 16 << 10 })
	f.publish(f.message("4917000000102", "wamid.small.fetch", "hello"))
	wagwtest.WaitFor(t, 20*time.Second, "the message stored", func() (bool, string) {
		got := f.stored("4917000000102")
		return len(got) == 1, fmt.Sprintf("stored %v", got)
	})
}
