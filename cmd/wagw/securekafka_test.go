package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

const (
	secureInbox    = "109000000000088"
	secureWelcome  = "Welcome over TLS!"
	secureUser     = "wagw"
	securePassword = "scram-512-password"
)

// secureRig is a Kafka cluster of three brokers that takes only TLS with
// a CA made for the test and SCRAM-SHA-512 logins, a migrated database
// with an inbox that welcomes new contacts, the Cloud API simulator, and
// the environment of wagw roles that reach them.
type secureRig struct {
	kafka *wagwtest.SecureKafka
	conn  *sqlx.DB // direct, for checks
	env   map[string]string
	sim   string // the simulator's base URL
}

func newSecureRig(t *testing.T) *secureRig {
	t.Helper()
	k := wagwtest.StartSecureKafka(t, wagwtest.SecureKafkaConfig{Brokers: 3,
		Users: []wagwtest.SASLUser{{Mechanism: broker.SASLScramSHA512, User: secureUser, Password: securePassword}}})
	dsn, conn := newTestDB(t)
	if err := run(context.Background(), []string{"migrate"}, func(k string) string { return map[string]string{"DATABASE_URL": dsn}[k] },
		&wagwtest.SyncBuffer{}, runLog(t)); err != nil {
		t.Fatalf("wagw migrate: %v", err)
	}
	if _, err := db.NewStore(conn).PutInbox(context.Background(), assigner.Inbox{PhoneNumberID: secureInbox, WelcomeMessage: secureWelcome}); err != nil {
		t.Fatal(err)
	}
	sim := simulator.New(simulator.Config{Addr: "127.0.0.1:0", Token: "secure-token", RatePerNumber: -1, PairInterval: -1,
		Logger: wagwtest.QuietLogger()})
	simAddr, err := sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	env := map[string]string{
		"KAFKA_BROKERS": strings.Join(k.Addrs, ","), "KAFKA_PARTITIONS": "4",
		"KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": k.CAFile, "KAFKA_TLS_SERVER_NAME": k.ServerName,
		"KAFKA_SASL_MECHANISM": broker.SASLScramSHA512, "KAFKA_SASL_USERNAME": secureUser, "KAFKA_SASL_PASSWORD": securePassword,
		"DATABASE_URL": dsn, "WA_APP_SECRET": e2eAppSecret, "WA_VERIFY_TOKEN": e2eVerifyToken, "WAGW_ADMIN_TOKEN": e2eAdminToken,
		"WA_ACCESS_TOKEN": "secure-token", "WA_API_URL": "http://" + simAddr,
		"WAGW_CONSUMER_WORKERS": "2", "WAGW_CONSUMER_SESSION_TIMEOUT": "2s", "WAGW_LOG_LEVEL": "info",
	}
	return &secureRig{kafka: k, conn: conn, env: env, sim: "http://" + simAddr}
}

// start runs `wagw <cmd>` with the rig's environment and extra settings;
// it serves HTTP on a fresh address (the gateway's, or the health server
// of the others).
func (r *secureRig) start(t *testing.T, cmd string, extra map[string]string) *serveProc {
	t.Helper()
	env := maps.Clone(r.env)
	maps.Copy(env, extra)
	addr := freeTCPAddr(t)
	if cmd == "gateway" {
		env["WAGW_HTTP_ADDR"] = addr
	} else {
		env["WAGW_HEALTH_ADDR"] = addr
	}
	return launchRole(t, cmd, env, addr)
}

// TestRolesOverTLSAndSCRAM: `wagw gateway`, `wagw consumer` and `wagw
// relay` against brokers that take only TLS and SCRAM-SHA-512: they
// create the topics with the production settings, a signed webhook is
// acknowledged and stored, the welcome goes out through the Cloud API and
// its outcome comes back through Kafka.
func TestRolesOverTLSAndSCRAM(t *testing.T) {
	r := newSecureRig(t)
	gw := r.start(t, "gateway", nil)
	cons := r.start(t, "consumer", nil)
	rel := r.start(t, "relay", nil)
	gw.waitReady(t, "gateway")
	cons.waitReady(t, "consumer")
	rel.waitReady(t, "relay")

	for _, topic := range []string{"wa.events", "wa.events.dlq"} {
		info := r.kafka.Cluster.TopicInfo(topic)
		if info == nil {
			t.Fatalf("topic %s was not created", topic)
		}
		if info.NumReplicas != 3 || deref(info.Configs["min.insync.replicas"]) != "2" {
			t.Errorf("topic %s: %d replicas, min.insync.replicas %s; want 3 and 2 on a real cluster", topic, info.NumReplicas,
				deref(info.Configs["min.insync.replicas"]))
		}
		for _, k := range []string{"retention.ms", "retention.bytes", "max.message.bytes"} {
			if deref(info.Configs[k]) == "" {
				t.Errorf("topic %s was created without %s", topic, k)
			}
		}
	}

	const wa, wamid = "4917600000088", "wamid.secure.1"
	if err := postWebhook(gw.base, wagwtest.TextWebhook(secureInbox, wa, wamid, time.Now(), "hello over TLS")); err != nil {
		t.Fatal(err)
	}
	conn := r.conn
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "the message stored by the consumer", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE wamid = $1 AND direction = 'in'`, wamid)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "the welcome sent through the Cloud API", func() (bool, string) {
		n := sndCount(sndSimSent(t, r.sim), wa, secureWelcome)
		return n == 1, fmt.Sprintf("%d welcome messages sent", n)
	})
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "the relay's outcome applied by the consumer", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM messages m JOIN contacts c ON c.id = m.contact_id
			WHERE c.wa_id = $1 AND m.direction = 'out' AND m.wamid IS NOT NULL`, wa)
		return n == 1, fmt.Sprintf("%d outbound messages with their wamid", n)
	})
	for _, p := range []*serveProc{gw, cons, rel} {
		p.running(t)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestWrongKafkaPasswordIsNotReady: a gateway with a wrong SASL password
// says so on /readyz in one line and answers a webhook 503, so Meta
// retries; nothing of it reaches Kafka.
func TestWrongKafkaPasswordIsNotReady(t *testing.T) {
	r := newSecureRig(t)
	good := r.start(t, "gateway", nil)
	cons := r.start(t, "consumer", nil)
	good.waitReady(t, "gateway")
	cons.waitReady(t, "consumer")
	bad := r.start(t, "gateway", map[string]string{"KAFKA_SASL_PASSWORD": "not-the-password"})

	var ready apiResp
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "the gateway's /readyz answers", func() (bool, string) {
		bad.running(t)
		var err error
		ready, err = apiCall(bad.base, http.MethodGet, "/readyz", "", nil, nil)
		return err == nil, fmt.Sprint(err)
	})
	var body struct {
		Status, Error string
	}
	if ready.Status != http.StatusServiceUnavailable || json.Unmarshal(ready.Body, &body) != nil ||
		!strings.Contains(body.Error, "SASL authentication refused") || strings.Contains(body.Error, "\n") {
		t.Fatalf("/readyz with a wrong password = %s; want 503 saying in one line that the SASL login was refused", ready)
	}
	t.Logf("/readyz: %s", body.Error)

	const wa = "4917600000089"
	refused := wagwtest.TextWebhook(secureInbox, wa, "wamid.refused", time.Now(), "lost?")
	if resp := apiDo(t, bad, http.MethodPost, "/webhook", "", refused,
		map[string]string{whatsapp.SignatureHeader: whatsapp.Sign([]byte(e2eAppSecret), refused)}); resp.Status != http.StatusServiceUnavailable || resp.errorCode() != "kafka_unavailable" {
		t.Fatalf("POST /webhook with a wrong Kafka password = %s, want 503 kafka_unavailable", resp)
	}
	// A later message of the same contact, through the good gateway, is on
	// the same partition: once it is stored, anything produced before it
	// would be stored too.
	if err := postWebhook(good.base, wagwtest.TextWebhook(secureInbox, wa, "wamid.after", time.Now(), "after")); err != nil {
		t.Fatal(err)
	}
	conn := r.conn
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "the later message stored", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE wamid = 'wamid.after'`)
		return n == 1, fmt.Sprintf("%d rows", n)
	})
	if n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE wamid = 'wamid.refused'`); n != 0 {
		t.Fatalf("the webhook answered 503 was stored (%d rows)", n)
	}
}

// TestExistingTopicsAreComparedNotChanged: a role that finds the topics
// with other settings logs each difference at start, one line each, and
// uses them as they are.
func TestExistingTopicsAreComparedNotChanged(t *testing.T) {
	r := newSecureRig(t)
	for _, topic := range []string{"wa.events", "wa.events.dlq"} {
		if err := r.kafka.Cluster.CreateTopic(topic, 2, map[string]string{"retention.ms": "3600000"}); err != nil {
			t.Fatal(err)
		}
	}
	cons := r.start(t, "consumer", nil)
	cons.waitReady(t, "consumer")
	want := []string{
		"kafka topic wa.events: partitions is 2, wagw would create it with 4; wagw uses the topic as it is",
		"kafka topic wa.events: retention.ms is 3600000, wagw would create it with 604800000",
		"kafka topic wa.events: min.insync.replicas is 1, wagw would create it with 2",
		"kafka topic wa.events.dlq: retention.ms is 3600000, wagw would create it with 2592000000",
	}
	wagwtest.WaitEvery(t, 10*time.Second, 50*time.Millisecond, "the differences logged", func() (bool, string) {
		logs := cons.logs.String()
		for _, w := range want {
			if !strings.Contains(logs, w) {
				return false, "missing: " + w
			}
		}
		return true, ""
	})
	if info := r.kafka.Cluster.TopicInfo("wa.events"); deref(info.Configs["retention.ms"]) != "3600000" {
		t.Errorf("the existing topic was changed: retention.ms %s", deref(info.Configs["retention.ms"]))
	}
	if n := strings.Count(cons.logs.String(), "wagw would create it with"); n != 10 {
		t.Errorf("%d differences logged, want 10 (partitions, min ISR, retention.ms, retention.bytes, max.message.bytes of each topic)", n)
	}
}

// TestServeSetsRetentionOnTopicsOfAnOlderDataDir: the embedded broker is
// wagw's own, so serve gives topics made by an older wagw (no retention)
// the settings of the table, keeping their partitions.
func TestServeSetsRetentionOnTopicsOfAnOlderDataDir(t *testing.T) {
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	env["WAGW_LOG_LEVEL"] = "info"
	old, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: env["KAFKA_EMBEDDED_ADDR"], DataDir: filepath.Join(env["WAGW_DATA_DIR"], "kafka"),
		Topics: []string{"wa.events", "wa.events.dlq"}, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	p := startServe(t, env)
	if !strings.Contains(p.logs.String(), "embedded kafka: set retention.ms of topic wa.events") {
		t.Errorf("serve did not say it set the retention of the old topic")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := broker.SetupTopics(ctx, []string{env["KAFKA_EMBEDDED_ADDR"]}, broker.Security{},
		broker.TopicSettings{Partitions: 4}.Specs("wa.events"))
	if err != nil || len(rep.Created) != 0 || len(rep.Diffs) != 0 {
		t.Fatalf("after serve started: %+v %v, want the topics with every setting of the table", rep, err)
	}
}
