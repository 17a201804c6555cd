package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/loadtest"
	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
)

// The fault suite's rig: real Postgres and a Kafka-protocol broker (kfake,
// the engine of the embedded broker) each behind a faultProxy, the Cloud
// API simulator, and the wagw roles as processes of their own (the binary
// TestMain built), driven by the load generator and checked by its
// verifier.

const (
	faultAppSecret  = "fault-app-secret"
	faultVerify     = "fault-verify-token"
	faultAdminToken = "fault-admin-token"
	faultCloudToken = "fault-cloud-api-token"
	faultTopic      = "wa.events"
	faultPartitions = 4
	faultWelcome    = "Hi! Thanks for your message, an agent will be with you shortly."
)

// chaosMode selects the full-length fault variants (make chaos:
// WAGW_CHAOS=1); the default suite shortens outages where the behaviour is
// the same.
func chaosMode() bool { return os.Getenv("WAGW_CHAOS") == "1" }

// faultLen is short in the default suite and full under make chaos.
func faultLen(short, full time.Duration) time.Duration {
	if chaosMode() {
		return full
	}
	return short
}

// rigOptions say what a rig runs besides Postgres.
type rigOptions struct {
	// kafka starts a broker behind a proxy; without it the roles need
	// serve's embedded broker.
	kafka bool
	// sim starts the Cloud API simulator (relays send to it).
	sim bool
	// simLatency is added to every send the simulator answers.
	simLatency time.Duration
	// relayLease is WAGW_RELAY_LEASE; 0 keeps the default.
	relayLease time.Duration
	// pgBase is the Postgres server the test database is created on;
	// empty: the one dbtest uses.
	pgBase string
}

// faultRig is one system under test.
type faultRig struct {
	t    *testing.T
	dsn  string   // direct: the test's own reads
	conn *sqlx.DB // direct
	pg   *faultProxy
	kp   *faultProxy // nil without kafka
	sim  *simulator.Simulator
	http string // the gateway's (or serve's) address
	base string // http://http
	env  []string
}

func newFaultRig(t *testing.T, opt rigOptions) *faultRig {
	t.Helper()
	r := &faultRig{t: t, http: freeTCPAddr(t)}
	r.base = "http://" + r.http
	r.conn, r.dsn = rigDatabase(t, opt.pgBase)
	u, err := url.Parse(r.dsn)
	if err != nil {
		t.Fatal(err)
	}
	r.pg = newFaultProxy(t, u.Host)
	u.Host = r.pg.Addr()
	r.env = []string{"DATABASE_URL=" + u.String(), "WAGW_HTTP_ADDR=" + r.http,
		"WA_APP_SECRET=" + faultAppSecret, "WA_VERIFY_TOKEN=" + faultVerify, "WAGW_ADMIN_TOKEN=" + faultAdminToken,
		"KAFKA_TOPIC=" + faultTopic, fmt.Sprintf("KAFKA_PARTITIONS=%d", faultPartitions),
		"WAGW_LOG_LEVEL=info", "WAGW_CONSUMER_WORKERS=2",
		// A killed member holds its partitions for the session timeout;
		// keep it short so the suite stays short.
		"WAGW_CONSUMER_SESSION_TIMEOUT=3s", "WAGW_CONSUMER_STALL_TIMEOUT=5s"}
	if opt.relayLease > 0 {
		r.env = append(r.env, "WAGW_RELAY_LEASE="+opt.relayLease.String())
	}
	if opt.kafka {
		r.kp = startProxiedKafka(t)
		r.env = append(r.env, "KAFKA_BROKERS="+r.kp.Addr())
	}
	if opt.sim {
		r.sim = simulator.New(simulator.Config{Token: faultCloudToken, WebhookURL: r.base + "/webhook",
			AppSecret: faultAppSecret, Seed: 1, Faults: simulator.Faults{Latency: opt.simLatency}, Logger: slog.New(slog.DiscardHandler)})
		addr, err := r.sim.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.sim.Close)
		r.env = append(r.env, "WA_ACCESS_TOKEN="+faultCloudToken, "WA_API_URL=http://"+addr)
	}
	return r
}

// rigDatabase creates and migrates a database for the test on base (empty:
// the server dbtest uses) and drops it at the end.
func rigDatabase(t *testing.T, base string) (*sqlx.DB, string) {
	t.Helper()
	if base == "" {
		conn, dsn := dbtest.New(t)
		return conn, dsn
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/wagw_fault"
	dsn := u.String()
	ctx := context.Background()
	conn, err := db.Open(ctx, db.Config{URL: dsn, CreateDatabase: true, MaxOpenConns: 4})
	if err != nil {
		t.Fatalf("open %s: %v", redactURL(dsn), err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := db.Migrate(ctx, conn); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return conn, dsn
}

// advertisedListener makes the broker name another address (the proxy's)
// in its metadata, so that every connection a client opens after the
// bootstrap goes through the proxy too.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

// startProxiedKafka starts a single-broker Kafka (kfake, as the embedded
// broker) with the topics seeded, behind a faultProxy that it advertises.
func startProxiedKafka(t *testing.T) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := newFaultProxy(t, ln.Addr().String())
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return advertisedListener{ln, p.ln.Addr()}, nil }),
		kfake.DefaultNumPartitions(faultPartitions),
		kfake.SeedTopics(faultPartitions, faultTopic, faultTopic+".dlq"),
		kfake.GroupMinSessionTimeout(time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return p
}

// start runs `wagw <role>` with the rig's environment plus extra and waits
// until it is up: /readyz for a role with HTTP, its start line otherwise.
func (r *faultRig) start(name, role string, extra ...string) *childProc {
	r.t.Helper()
	c := startChild(r.t, name, append(append([]string{}, r.env...), extra...), role)
	if role == "serve" || role == "gateway" {
		r.waitReady(c, name)
		return c
	}
	wagwtest.WaitEvery(r.t, 20*time.Second, 20*time.Millisecond, name+" running", func() (bool, string) {
		if c.exited() {
			r.t.Fatalf("%s exited before it ran: %v\n%s", name, c.wait(), c.out)
		}
		return strings.Contains(c.out.String(), "running against"), "no start line yet"
	})
	return c
}

func (r *faultRig) waitReady(c *childProc, name string) {
	r.t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	wagwtest.WaitEvery(r.t, 30*time.Second, 20*time.Millisecond, name+": GET /readyz = 200", func() (bool, string) {
		if c.exited() {
			r.t.Fatalf("%s exited before it was ready: %v\n%s", name, c.wait(), c.out)
		}
		resp, err := hc.Get(r.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, b)
	})
}

// alive fails the test for every process that has exited on its own.
func (r *faultRig) alive(procs map[string]*childProc) {
	r.t.Helper()
	for _, name := range sortedNames(procs) {
		if c := procs[name]; c.exited() {
			r.t.Errorf("%s exited on its own during the fault: %v; last output:\n%s", name, c.wait(), tail(c.out.String(), 15))
		}
	}
}

func sortedNames(m map[string]*childProc) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// setup creates three online agents in a round-robin team and gives the
// generator's inbox a welcome text, through `wagw loadtest setup`.
func (r *faultRig) setup(ctx context.Context) {
	r.t.Helper()
	var out wagwtest.SyncBuffer
	if err := runLoadtest(ctx, []string{"setup", "-api", r.base, "-token", faultAdminToken, "-agents", "3",
		"-welcome", faultWelcome}, func(string) string { return "" }, &out); err != nil {
		r.t.Fatalf("loadtest setup: %v\n%s", err, out.String())
	}
}

// faultLoad is generated webhook traffic running against the rig.
type faultLoad struct {
	base loadtest.Baseline
	done chan struct{}
	res  *loadtest.RunResult
	err  error
}

// loadSpec shapes the traffic: modest rates, the realistic mix.
type loadSpec struct {
	rate     float64       // webhook POSTs per second
	duration time.Duration // how long
	contacts int
	seed     uint64
}

// startLoad sends generated, signed traffic to the gateway in the
// background.
func (r *faultRig) startLoad(ctx context.Context, spec loadSpec) *faultLoad {
	r.t.Helper()
	st, err := openLoadStore(ctx, r.dsn)
	if err != nil {
		r.t.Fatal(err)
	}
	defer st.Close()
	l := &faultLoad{done: make(chan struct{})}
	if l.base, err = st.Baseline(ctx); err != nil {
		r.t.Fatal(err)
	}
	start := time.Now().Add(100 * time.Millisecond)
	gen := loadtest.NewGenerator(loadtest.GenConfig{Seed: spec.seed, Contacts: spec.contacts, Rate: spec.rate, Poisson: true, Start: start})
	go func() {
		defer close(l.done)
		l.res, l.err = loadtest.Run(ctx, loadtest.RunConfig{URL: r.base + "/webhook", Secret: []byte(faultAppSecret),
			Duration: spec.duration, Timeout: 5 * time.Second, MaxInFlight: 256, Start: start}, gen)
	}()
	return l
}

// wait waits for the load to finish.
func (l *faultLoad) wait(t *testing.T) *loadtest.RunResult {
	t.Helper()
	<-l.done
	if l.err != nil || l.res == nil {
		t.Fatalf("load: %v", l.err)
	}
	return l.res
}

// verifyExpect selects the verifier's optional checks.
type verifyExpect struct {
	welcome, statuses, assigned bool
	settle                      time.Duration
}

// verify runs the load test verifier over the finished load and fails the
// test on every failed check.
func (r *faultRig) verify(ctx context.Context, l *faultLoad, exp verifyExpect) *loadtest.VerifyResult {
	r.t.Helper()
	res := l.wait(r.t)
	st, err := openLoadStore(ctx, r.dsn)
	if err != nil {
		r.t.Fatal(err)
	}
	defer st.Close()
	if exp.settle == 0 {
		exp.settle = 60 * time.Second
	}
	v, err := loadtest.Verify(ctx, loadtest.VerifyConfig{Store: st, Source: "sql", Baseline: l.base, Settle: exp.settle,
		ExpectWelcome: exp.welcome, ExpectStatuses: exp.statuses, ExpectAssigned: exp.assigned, MaxSpread: -1}, res)
	if err != nil {
		r.t.Fatalf("verify: %v", err)
	}
	for _, c := range v.Checks {
		if !c.OK && !c.Skipped {
			r.t.Errorf("verification failed: %s: %s\n  %s", c.Name, c.Detail, strings.Join(c.Offenders, "\n  "))
		}
	}
	r.t.Logf("load: %d requests, %d acknowledged (%s); %d messages acknowledged, %d stored, %d conversations, %d assigned",
		res.Sent, res.OK, strings.TrimSpace(codeSummary(res.Codes)), v.Expected, v.Stored, v.Conversations, v.Assigned)
	return v
}

// recovery measures how the stored messages came through a fault.
func (r *faultRig) recovery(ctx context.Context, l *faultLoad, start, end time.Time) loadtest.Recovery {
	r.t.Helper()
	st, err := openLoadStore(ctx, r.dsn)
	if err != nil {
		r.t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.InboundMessages(ctx, l.base)
	if err != nil {
		r.t.Fatal(err)
	}
	return loadtest.MeasureRecovery(l.res, msgs, start, end)
}

func codeSummary(codes map[string]int) string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, codes[k]))
	}
	return strings.Join(parts, " ")
}

// outbox reads the welcome and reply rows (mark-as-read rows are no
// messages).
func (r *faultRig) outbox() []simulator.OutboxRow {
	r.t.Helper()
	var rows []struct {
		ID    int64  `db:"id"`
		Kind  string `db:"kind"`
		PNID  string `db:"phone_number_id"`
		To    string `db:"recipient"`
		Type  string `db:"type"`
		Text  string `db:"text"`
		State string `db:"state"`
		WAMID string `db:"wamid"`
	}
	err := r.conn.Select(&rows, `SELECT id, kind, phone_number_id, recipient, COALESCE(payload->>'type', '') AS type,
		COALESCE(payload->'text'->>'body', payload->'template'->>'name', '') AS text, state, COALESCE(wamid, '') AS wamid
		FROM outbox WHERE kind <> 'read' ORDER BY id`)
	if err != nil {
		r.t.Fatal(err)
	}
	out := make([]simulator.OutboxRow, len(rows))
	for i, x := range rows {
		out[i] = simulator.OutboxRow{ID: x.ID, Kind: x.Kind, PhoneNumberID: x.PNID, Recipient: x.To, Type: x.Type, Text: x.Text,
			State: x.State, WAMID: x.WAMID}
	}
	return out
}

// sendsSettled waits until no outbox row is pending and returns the check
// of what the simulator accepted against the outbox.
func (r *faultRig) sendsSettled(timeout time.Duration) simulator.SendCheck {
	r.t.Helper()
	var c simulator.SendCheck
	deadline := time.Now().Add(timeout)
	for {
		c = simulator.CheckSends(r.outbox(), r.sim.Sent())
		if c.States["pending"] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := c.States["pending"]; n > 0 {
		r.t.Errorf("%d of %d outbox rows still pending %v after the fault (states %v)", n, c.Rows, timeout, c.States)
	}
	if n := c.States["failed"] + c.States["stopped"]; n > 0 {
		r.t.Errorf("%d outbox rows failed or stopped (states %v)", n, c.States)
	}
	for _, u := range c.Unrecorded {
		r.t.Errorf("sent row with a wamid the Cloud API never returned: %s", u)
	}
	for _, o := range c.Reordered {
		r.t.Errorf("sends out of order: %s", o)
	}
	return c
}

// faultReport logs one line of the README's fault table.
func faultReport(t *testing.T, fault, did string, v *loadtest.VerifyResult, recover string) {
	t.Helper()
	t.Logf("FAULT | %s | %s | %d / %d / %d of %d acknowledged | %s", fault, did, v.Lost, v.Duplicated, v.Reordered, v.Expected, recover)
}

// after reports how long after t0 something happened, rounded for a table.
func after(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.Round(100 * time.Millisecond).String()
}
