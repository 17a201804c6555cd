package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// outageRig is a standalone `wagw consumer` and `wagw relay`, each in its
// own process with its health endpoint, against a broker the test can stop
// and a Postgres the test can cut them off from (a TCP proxy), sending to
// the Cloud API simulator.
type outageRig struct {
	t        *testing.T
	conn     *sqlx.DB // direct, for checks
	emb      *broker.Embedded
	embCfg   broker.EmbeddedConfig
	producer *broker.Producer
	pg       *dbtest.Proxy
	sim      *simulator.Simulator
	procs    map[string]*childProc // role → process
	health   map[string]string     // role → health address
	sent     []string              // wamids produced, in order
}

const (
	outageTopic = "wa.events"
	outageInbox = "109000000000077"
)

func newOutageRig(t *testing.T) *outageRig {
	t.Helper()
	dsn, conn := newTestDB(t)
	if err := run(context.Background(), []string{"migrate"}, func(k string) string {
		if k == "DATABASE_URL" {
			return dsn
		}
		return ""
	}, &wagwtest.SyncBuffer{}, runLog(t)); err != nil {
		t.Fatalf("wagw migrate: %v", err)
	}
	if _, err := db.NewStore(conn).PutInbox(context.Background(), assigner.Inbox{PhoneNumberID: outageInbox, WelcomeMessage: "Welcome!"}); err != nil {
		t.Fatal(err)
	}
	r := &outageRig{t: t, conn: conn, procs: map[string]*childProc{}, health: map[string]string{},
		embCfg: broker.EmbeddedConfig{Addr: freeTCPAddr(t), DataDir: filepath.Join(t.TempDir(), "kafka"), NoSync: true,
			Topics: []string{outageTopic, outageTopic + ".dlq"}, Partitions: 4}}
	r.startBroker()
	t.Cleanup(r.stopBroker)
	r.producer = broker.NewProducer(broker.ProducerConfig{Brokers: []string{r.embCfg.Addr}, Topic: outageTopic})
	t.Cleanup(func() { r.producer.Close() })

	r.sim = simulator.New(simulator.Config{Addr: "127.0.0.1:0", Token: "outage-token", RatePerNumber: -1, PairInterval: -1,
		Logger: slog.New(slog.DiscardHandler)})
	simAddr, err := r.sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.sim.Close)

	var proxied string
	r.pg, proxied = dbtest.ProxyURL(t, dsn)
	for _, role := range []string{"consumer", "relay"} {
		r.health[role] = freeTCPAddr(t)
		r.procs[role] = startChild(t, "wagw "+role, []string{"KAFKA_BROKERS=" + r.embCfg.Addr, "KAFKA_TOPIC=" + outageTopic,
			"DATABASE_URL=" + proxied, "WAGW_HEALTH_ADDR=" + r.health[role], "WAGW_CONSUMER_WORKERS=2", "WAGW_LOG_LEVEL=info",
			"WA_ACCESS_TOKEN=outage-token", "WA_API_URL=http://" + simAddr}, role)
	}
	return r
}

func (r *outageRig) startBroker() {
	r.t.Helper()
	emb, err := broker.StartEmbedded(r.embCfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.emb = emb
}

func (r *outageRig) stopBroker() {
	if r.emb != nil {
		r.emb.Close()
		r.emb = nil
	}
}

// readyz returns the status code of role's /readyz (0 when it does not
// answer).
func (r *outageRig) readyz(role string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + r.health[role] + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// running fails the test when a role's process has exited.
func (r *outageRig) running() {
	r.t.Helper()
	for role, p := range r.procs {
		if p.exited() {
			r.t.Fatalf("wagw %s exited: %v\n%s", role, p.wait(), p.out)
		}
	}
}

// waitReady waits until every role says it is ready.
func (r *outageRig) waitReady(timeout time.Duration) {
	r.t.Helper()
	wagwtest.WaitEvery(r.t, timeout, 100*time.Millisecond, "every role ready", func() (bool, string) {
		r.running()
		c, rl := r.readyz("consumer"), r.readyz("relay")
		return c == 200 && rl == 200, fmt.Sprintf("consumer /readyz %d, relay /readyz %d", c, rl)
	})
}

// outage keeps a fault for d and checks that no role exits and that each
// says it is not ready at some point.
func (r *outageRig) outage(what string, d time.Duration) {
	r.t.Helper()
	notReady := map[string]time.Duration{}
	start := time.Now()
	for time.Since(start) < d {
		r.running()
		for role := range r.procs {
			if _, seen := notReady[role]; !seen && r.readyz(role) == 503 {
				notReady[role] = time.Since(start)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	for role := range r.procs {
		if at, ok := notReady[role]; !ok {
			r.t.Errorf("%s: wagw %s never answered 503 on /readyz during %v", what, role, d)
		} else {
			r.t.Logf("%s: wagw %s not ready %v in", what, role, at.Round(time.Millisecond))
		}
	}
}

// publish produces one opening message for each of n new contacts.
func (r *outageRig) publish(tag string, n int) {
	r.t.Helper()
	now := time.Now().UTC()
	var envs []event.Envelope
	for i := 0; i < n; i++ {
		wa := fmt.Sprintf("4917%d%07d", len(r.sent)%10, len(r.sent))
		wamid := fmt.Sprintf("wamid.OUT.%s.%d", tag, i)
		envs = append(envs, event.Envelope{Version: event.Version, ID: wamid, Kind: event.KindMessage, Field: "messages",
			WABAID: "102290129340577", PhoneNumberID: outageInbox, DisplayPhoneNumber: "15550007777",
			Contact: event.Contact{WaID: wa, Name: "Outage " + wa}, OccurredAt: now, ReceivedAt: now,
			Message: &whatsapp.Message{ID: wamid, From: wa, Timestamp: fmt.Sprint(now.Unix()), Type: whatsapp.TypeText,
				Text: &whatsapp.Text{Body: "hello " + tag}}})
		r.sent = append(r.sent, wamid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.producer.Publish(ctx, envs); err != nil {
		r.t.Fatalf("publish %s: %v", tag, err)
	}
}

// settled waits until every produced message is stored and every welcome
// was sent and its outcome applied.
func (r *outageRig) settled(timeout time.Duration) {
	r.t.Helper()
	wagwtest.WaitEvery(r.t, timeout, 100*time.Millisecond, "every message stored, every welcome sent and accepted", func() (bool, string) {
		r.running()
		stored := sqlCount(r.t, r.conn, `SELECT count(*) FROM messages WHERE direction = 'in'`)
		accepted := sqlCount(r.t, r.conn, `SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'accepted'`)
		return stored == len(r.sent) && accepted == len(r.sent),
			fmt.Sprintf("%d of %d stored, %d welcomes accepted, %d sends seen by the simulator", stored, len(r.sent), accepted, len(r.sim.Sent()))
	})
}

// check asserts exactly once: each produced message stored once, each
// contact welcomed once by the Cloud API, nothing dead-lettered or blocked.
func (r *outageRig) check() {
	r.t.Helper()
	var stored []string
	if err := r.conn.Select(&stored, `SELECT wamid FROM messages WHERE direction = 'in' ORDER BY wamid`); err != nil {
		r.t.Fatal(err)
	}
	seen := map[string]int{}
	for _, w := range stored {
		seen[w]++
	}
	for _, w := range r.sent {
		if seen[w] != 1 {
			r.t.Errorf("message %s stored %d times, want once", w, seen[w])
		}
	}
	if len(stored) != len(r.sent) {
		r.t.Errorf("%d messages stored, %d produced", len(stored), len(r.sent))
	}
	welcomes := map[string]int{}
	for _, m := range r.sim.Sent() {
		welcomes[m.To]++
	}
	for to, n := range welcomes {
		if n != 1 {
			r.t.Errorf("contact %s welcomed %d times by the Cloud API, want once", to, n)
		}
	}
	if len(welcomes) != len(r.sent) {
		r.t.Errorf("%d contacts welcomed, want %d", len(welcomes), len(r.sent))
	}
	if n := sqlCount(r.t, r.conn, `SELECT count(*) FROM contacts WHERE blocked_at IS NOT NULL`); n != 0 {
		r.t.Errorf("%d contacts blocked by an outage", n)
	}
}

// logLines counts the lines of role's output that contain s.
func (r *outageRig) logLines(role, s string) int {
	return strings.Count(r.procs[role].out.String(), s)
}

// A standalone consumer and relay ride out a Kafka outage longer than the
// consumer used to survive (it exited 1 to 25 s after the broker stopped)
// and a Postgres outage: neither process exits, both answer 503 on
// /readyz while it lasts, each logs the outage once (not once per retry),
// and once the dependency is back they resume by themselves: every event
// produced before, during or after is applied once and every contact is
// welcomed once.
func TestStandaloneRolesRideOutOutages(t *testing.T) {
	t.Parallel()
	r := newOutageRig(t)
	r.waitReady(30 * time.Second)
	r.publish("before", 20)
	r.settled(30 * time.Second)

	r.publish("kafka", 20) // acknowledged; partly applied when the broker stops
	r.stopBroker()
	r.outage("kafka outage", 30*time.Second)
	r.startBroker()
	r.publish("after-kafka", 20)
	r.settled(60 * time.Second)
	r.waitReady(30 * time.Second)

	r.pg.Cut()
	r.publish("postgres", 20) // acknowledged while the roles cannot reach Postgres
	r.outage("postgres outage", 15*time.Second)
	r.pg.Restore()
	r.publish("after-postgres", 20)
	r.settled(60 * time.Second)
	r.waitReady(30 * time.Second)
	r.check()

	// One outage of each dependency: one line when it starts, one when it
	// ends, per role (the consumer process also runs the queue drainer and the timers).
	for proc, roles := range map[string][]string{"consumer": {"consumer", "queue drainer", "timers"}, "relay": {"relay"}} {
		for _, role := range roles {
			for _, dep := range []string{"kafka", "postgres"} {
				fails := r.logLines(proc, role+": "+dep+" calls fail")
				if fails > 2 {
					t.Errorf("wagw %s logged %q %d times for one outage; want once per change of state", proc, role+": "+dep+" calls fail", fails)
				}
			}
		}
	}
}
