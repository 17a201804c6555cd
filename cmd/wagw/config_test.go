package main

import (
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/wagwtest"
)

// configOf loads the configuration of cmd from env alone.
func configOf(cmd string, env map[string]string) (config, error) {
	return loadConfig(cmd, nil, func(k string) string { return env[k] }, &strings.Builder{})
}

// TestTopicSettingsDefaults: replication 3 and min.insync.replicas 2 on a
// real cluster, 1 and 1 embedded; min ISR below a small replication
// factor; settings that cannot work are refused with what is wrong.
func TestTopicSettingsDefaults(t *testing.T) {
	brokers := map[string]string{"KAFKA_BROKERS": "k1:9092,k2:9092"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	ok := []struct {
		name           string
		env            map[string]string
		replication, m int
	}{
		{"embedded", nil, 1, 1},
		{"real cluster", brokers, 3, 2},
		{"replication 2", with(brokers, "KAFKA_REPLICATION_FACTOR", "2"), 2, 1},
		{"replication 1", with(brokers, "KAFKA_REPLICATION_FACTOR", "1"), 1, 1},
		{"replication 5, min ISR 3", with(brokers, "KAFKA_REPLICATION_FACTOR", "5", "KAFKA_MIN_INSYNC_REPLICAS", "3"), 5, 3},
	}
	for _, tc := range ok {
		c, err := configOf("serve", tc.env)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.KafkaReplication != tc.replication || c.KafkaMinInsync != tc.m {
			t.Errorf("%s: replication %d, min ISR %d; want %d and %d", tc.name, c.KafkaReplication, c.KafkaMinInsync, tc.replication, tc.m)
		}
		s := c.topicSettings(c.BodyLimit).Specs(c.KafkaTopic)
		if len(s) != 2 || s[0].Configs["retention.ms"] != "604800000" || s[1].Configs["retention.ms"] != "2592000000" ||
			s[0].Configs["retention.bytes"] != "1073741824" || s[1].Configs["retention.bytes"] != "268435456" {
			t.Errorf("%s: default retention %v / %v; want 7 days and 1 GiB for events, 30 days and 256 MiB for dead letters", tc.name, s[0].Configs, s[1].Configs)
		}
	}
	bad := []struct {
		env  map[string]string
		want string
	}{
		{with(brokers, "KAFKA_MIN_INSYNC_REPLICAS", "4"), "more than KAFKA_REPLICATION_FACTOR=3"},
		{map[string]string{"KAFKA_REPLICATION_FACTOR": "3"}, "embedded broker keeps one replica"},
		{with(brokers, "KAFKA_RETENTION", "720h"), "WAGW_RETENTION=336h0m0s is shorter than KAFKA_RETENTION=720h0m0s"},
		{with(brokers, "KAFKA_RETENTION_BYTES", "1000"), "KAFKA_RETENTION_BYTES"},
		{with(brokers, "KAFKA_DLQ_RETENTION", "10m"), "KAFKA_DLQ_RETENTION"},
		{with(brokers, "KAFKA_REPLICATION_FACTOR", "0"), "KAFKA_REPLICATION_FACTOR"},
	}
	for _, tc := range bad {
		if _, err := configOf("serve", tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error saying %q", tc.env, err, tc.want)
		}
	}
	c, err := configOf("serve", with(brokers, "KAFKA_RETENTION_BYTES", "-1", "KAFKA_DLQ_RETENTION", "2160h"))
	if err != nil || c.KafkaRetentionBytes != -1 || c.KafkaDLQRetention != 90*24*time.Hour {
		t.Errorf("no size cap and 90 days of dead letters: %v %d %v", err, c.KafkaRetentionBytes, c.KafkaDLQRetention)
	}
}

// TestKafkaSecuritySettings: the KAFKA_TLS* and KAFKA_SASL_* variables
// reach the client settings; they are refused for the embedded broker and
// when they cannot work.
func TestKafkaSecuritySettings(t *testing.T) {
	env := map[string]string{"KAFKA_BROKERS": "b1:9093", "KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": "/etc/kafka/ca.pem",
		"KAFKA_TLS_CERT_FILE": "/etc/kafka/client.pem", "KAFKA_TLS_KEY_FILE": "/etc/kafka/client-key.pem",
		"KAFKA_TLS_SERVER_NAME": "kafka.internal", "KAFKA_SASL_MECHANISM": "scram-sha-512",
		"KAFKA_SASL_USERNAME": "wagw", "KAFKA_SASL_PASSWORD": " pass word "}
	c, err := configOf("consumer", env)
	if err != nil {
		t.Fatal(err)
	}
	want := broker.SecurityConfig{TLS: true, CAFile: "/etc/kafka/ca.pem", CertFile: "/etc/kafka/client.pem",
		KeyFile: "/etc/kafka/client-key.pem", ServerName: "kafka.internal", SASLMechanism: broker.SASLScramSHA512,
		Username: "wagw", Password: " pass word "}
	if c.KafkaSecurity != want {
		t.Errorf("security settings %+v, want %+v (the password kept as it is)", c.KafkaSecurity, want)
	}

	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"KAFKA_TLS": "true"}, "the embedded broker is plaintext"},
		{map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "the embedded broker is plaintext"},
		{map[string]string{"KAFKA_BROKERS": "b:9092", "KAFKA_TLS_CA_FILE": "/ca.pem"}, "TLS is off"},
		{map[string]string{"KAFKA_BROKERS": "b:9092", "KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}, "GSSAPI"},
		{map[string]string{"KAFKA_BROKERS": "b:9092", "KAFKA_TLS": "true", "KAFKA_TLS_CA_FILE": "/does/not/exist.pem"}, "CA file"},
		{map[string]string{"KAFKA_BROKERS": "b:9092", "KAFKA_TLS": "maybe"}, "KAFKA_TLS"},
	}
	c, err = configOf("relay", map[string]string{"KAFKA_BROKERS": "b:9092", "KAFKA_SASL_MECHANISM": "PLAIN",
		"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &wagwtest.SyncBuffer{}
	p := &process{cmd: "relay", cfg: c, log: slog.New(slog.NewTextHandler(logs, nil))}
	if err := p.prepareKafkaSecurity(); err != nil || !strings.Contains(logs.String(), "sends the password in clear text") {
		t.Errorf("PLAIN without TLS: %v, logs %q; want it taken with a warning", err, logs)
	}

	for _, tc := range cases {
		c, err := configOf("serve", tc.env)
		if err == nil {
			p := &process{cmd: "serve", cfg: c, log: wagwtest.QuietLogger()}
			err = p.prepareKafkaSecurity()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error saying %q", tc.env, err, tc.want)
		}
	}
}

// TestPostgresSettings: DATABASE_URL with sslmode=verify-full reaches the
// driver as written, with the pool size, statement timeout and the
// role's application name; a URL the driver would refuse stops the start.
func TestPostgresSettings(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":      "postgres://wagw:pw@pg.internal:5432/wagw?sslmode=verify-full&sslrootcert=/etc/wagw/pg-ca.pem",
		"WAGW_DB_MAX_CONNS": "40", "WAGW_DB_STATEMENT_TIMEOUT": "5s"}
	c, err := configOf("consumer", env)
	if err != nil {
		t.Fatal(err)
	}
	dc := c.dbConfig("consumer")
	if dc.MaxOpenConns != 40 || dc.StatementTimeout != 5*time.Second || dc.Unprepared {
		t.Errorf("pool %d, timeout %v, unprepared %v; want 40, 5s and prepared statements", dc.MaxOpenConns, dc.StatementTimeout, dc.Unprepared)
	}
	dsn, err := db.DriverURL(dc)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := pq.NewConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if pc.SSLMode != pq.SSLModeVerifyFull || pc.SSLRootCert != "/etc/wagw/pg-ca.pem" || pc.ApplicationName != "wagw-consumer" ||
		pc.Runtime["statement_timeout"] != "5000" {
		t.Errorf("driver settings: sslmode %q, root cert %q, application_name %q, statement_timeout %q", pc.SSLMode, pc.SSLRootCert,
			pc.ApplicationName, pc.Runtime["statement_timeout"])
	}

	c, err = configOf("gateway", map[string]string{"WAGW_DB_STATEMENT_TIMEOUT": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if dsn, _ := db.DriverURL(c.dbConfig("gateway")); strings.Contains(dsn, "statement_timeout") {
		t.Errorf("WAGW_DB_STATEMENT_TIMEOUT=0 still sets a timeout: %s", dsn)
	}
	if c, err = configOf("gateway", map[string]string{"WAGW_DB_PREPARED_STATEMENTS": "false"}); err != nil || !c.dbConfig("gateway").Unprepared {
		t.Errorf("WAGW_DB_PREPARED_STATEMENTS=false: %v, statements still prepared", err)
	}
	for _, e := range []map[string]string{
		{"DATABASE_URL": "postgres://wagw:pw@pg/wagw?sslmode=verify-fully"},
		{"WAGW_DB_MAX_CONNS": "0"},
		{"WAGW_DB_STATEMENT_TIMEOUT": "soon"},
		{"WAGW_DB_PREPARED_STATEMENTS": "sometimes"},
	} {
		if _, err := configOf("gateway", e); err == nil {
			t.Errorf("%v was accepted", e)
		}
	}
}

// TestEverySettingIsDocumented: every variable the configuration reads
// has a row in the README's configuration table.
func TestEverySettingIsDocumented(t *testing.T) {
	asked := map[string]bool{}
	if _, err := loadConfig("serve", nil, func(k string) string { asked[k] = true; return "" }, &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line[:strings.Index(line[1:], "|")+1])
		}
	}
	if len(asked) < 30 {
		t.Fatalf("the configuration read %d variables: want the whole set", len(asked))
	}
	for k := range asked {
		if !slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, "`"+k+"`") }) {
			t.Errorf("%s is read by the configuration but has no row in the README's tables", k)
		}
	}
}

// WAGW_CONSUMER_FETCH_WAIT: 20 ms unless set; 0 is none (a fetch answers
// as soon as a record is there), which the consumer takes as negative; a
// negative duration is refused.
func TestConsumerFetchWaitSetting(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
	}{{"", 20 * time.Millisecond}, {"5ms", 5 * time.Millisecond}, {"0", -1}, {"0s", -1}} {
		c, err := configOf("serve", map[string]string{"WAGW_CONSUMER_FETCH_WAIT": tc.env})
		if err != nil || c.ConsumerFetchWait != tc.want {
			t.Errorf("WAGW_CONSUMER_FETCH_WAIT=%q: %v, %v; want %v", tc.env, c.ConsumerFetchWait, err, tc.want)
		}
	}
	if _, err := configOf("serve", map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "-5ms"}); err == nil || !strings.Contains(err.Error(), "WAGW_CONSUMER_FETCH_WAIT") {
		t.Errorf("WAGW_CONSUMER_FETCH_WAIT=-5ms: %v, want an error naming it", err)
	}
}

// A consumer fetch wait the group cannot live with is refused, with the
// setting it conflicts with; up to the bounds, and 0, it is taken.
func TestConsumerFetchWaitBounds(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "": taken
	}{
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "0"}, ""},
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "500ms"}, ""},
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "5s"}, ""},
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "5001ms"}, "WAGW_CONSUMER_FETCH_WAIT=5.001s is too long for WAGW_CONSUMER_SESSION_TIMEOUT=10s"},
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "1h"}, "keep the wait to at most 5s, half of it"},
		{map[string]string{"WAGW_CONSUMER_SESSION_TIMEOUT": "1s"}, ""}, // the default wait with the shortest session
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "600ms", "WAGW_CONSUMER_SESSION_TIMEOUT": "1s"}, "keep the wait to at most 500ms"},
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "5s", "WAGW_CONSUMER_SESSION_TIMEOUT": "30s", "WAGW_CONSUMER_STALL_TIMEOUT": "5s"},
			"WAGW_CONSUMER_FETCH_WAIT=5s is not shorter than WAGW_CONSUMER_STALL_TIMEOUT=5s"},
		{map[string]string{"WAGW_CONSUMER_FETCH_WAIT": "5s", "WAGW_CONSUMER_SESSION_TIMEOUT": "30s"}, ""},
	} {
		_, err := configOf("consumer", tc.env)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v; want an error saying %q", tc.env, err, tc.want)
		}
	}
}
