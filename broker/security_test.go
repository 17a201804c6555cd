package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// secureUsers are the logins of the secure test cluster, one per
// mechanism wagw offers.
var secureUsers = []wagwtest.SASLUser{
	{Mechanism: broker.SASLScramSHA512, User: "wagw512", Password: "s3cret-512"},
	{Mechanism: broker.SASLScramSHA256, User: "wagw256", Password: "s3cret-256"},
	{Mechanism: broker.SASLPlain, User: "wagwplain", Password: "s3cret-plain"},
}

func mustSecurity(t *testing.T, cfg broker.SecurityConfig) broker.Security {
	t.Helper()
	s, err := broker.NewSecurity(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSecureClusterRoundTrip: against brokers that take only TLS and a
// SASL login, topics are created, a record is produced and read back by a
// consumer group's dialer, with each mechanism.
func TestSecureClusterRoundTrip(t *testing.T) {
	k := wagwtest.StartSecureKafka(t, wagwtest.SecureKafkaConfig{Users: secureUsers})
	for i, u := range secureUsers {
		t.Run(u.Mechanism, func(t *testing.T) {
			sec := mustSecurity(t, broker.SecurityConfig{TLS: true, CAFile: k.CAFile,
				SASLMechanism: u.Mechanism, Username: u.User, Password: u.Password})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			topic := "secure." + strings.ToLower(strings.ReplaceAll(u.Mechanism, "-", ""))
			specs := broker.TopicSettings{Partitions: 2}.Specs(topic)
			rep, err := broker.SetupTopics(ctx, k.Addrs, sec, specs)
			if err != nil {
				t.Fatalf("setup topics over TLS with %s: %v", u.Mechanism, err)
			}
			if len(rep.Created) != 2 {
				t.Fatalf("created %v, want %s and its dead-letter topic", rep.Created, topic)
			}
			if err := broker.Ping(ctx, k.Addrs, sec, topic); err != nil {
				t.Fatalf("ping: %v", err)
			}
			prod := broker.NewProducer(broker.ProducerConfig{Brokers: k.Addrs, Security: sec, Topic: topic})
			defer prod.Close()
			id := "wamid.secure." + u.Mechanism
			if err := prod.Publish(ctx, []event.Envelope{{Version: 1, ID: id, Kind: event.KindMessage,
				Contact: event.Contact{WaID: "49170000000" + string(rune('0'+i))}, OccurredAt: time.Now()}}); err != nil {
				t.Fatalf("publish: %v", err)
			}
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Addrs, Dialer: sec.Dialer(5 * time.Second), GroupID: "g-" + topic,
				Topic: topic, StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
			defer r.Close()
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("fetch as a group member: %v", err)
			}
			if !strings.Contains(string(m.Value), id) {
				t.Fatalf("read %s, want the event %s", m.Value, id)
			}
			if err := r.CommitMessages(ctx, m); err != nil {
				t.Fatalf("commit: %v", err)
			}
		})
	}
}

// TestSecureClusterRefusesWhatIsWrong: a wrong password, an unknown CA,
// a server name the certificate does not carry and plaintext each fail,
// and say why.
func TestSecureClusterRefusesWhatIsWrong(t *testing.T) {
	k := wagwtest.StartSecureKafka(t, wagwtest.SecureKafkaConfig{Users: secureUsers[:1]})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := broker.SetupTopics(ctx, k.Addrs, mustSecurity(t, broker.SecurityConfig{TLS: true, CAFile: k.CAFile,
		SASLMechanism: broker.SASLScramSHA512, Username: "wagw512", Password: "s3cret-512"}), broker.TopicSettings{Partitions: 1}.Specs("t")); err != nil {
		t.Fatal(err)
	}
	login := broker.SecurityConfig{SASLMechanism: broker.SASLScramSHA512, Username: "wagw512", Password: "s3cret-512"}
	cases := []struct {
		name string
		cfg  func(c broker.SecurityConfig) broker.SecurityConfig
		want string
	}{
		{"right settings", func(c broker.SecurityConfig) broker.SecurityConfig { c.TLS, c.CAFile = true, k.CAFile; return c }, ""},
		{"the server name of the certificate", func(c broker.SecurityConfig) broker.SecurityConfig {
			c.TLS, c.CAFile, c.ServerName = true, k.CAFile, k.ServerName
			return c
		}, ""},
		{"wrong password", func(c broker.SecurityConfig) broker.SecurityConfig {
			c.TLS, c.CAFile, c.Password = true, k.CAFile, "wrong"
			return c
		}, "SASL authentication refused"},
		{"unknown user", func(c broker.SecurityConfig) broker.SecurityConfig {
			c.TLS, c.CAFile, c.Username = true, k.CAFile, "nobody"
			return c
		}, "SASL authentication refused"},
		{"system roots do not know the test CA", func(c broker.SecurityConfig) broker.SecurityConfig { c.TLS = true; return c }, "certificate"},
		{"server name not in the certificate", func(c broker.SecurityConfig) broker.SecurityConfig {
			c.TLS, c.CAFile, c.ServerName = true, k.CAFile, "other.wagw.test"
			return c
		}, "certificate"},
		{"plaintext", func(c broker.SecurityConfig) broker.SecurityConfig { return c }, "EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := broker.Ping(ctx, k.Addrs, mustSecurity(t, tc.cfg(login)), "t")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("ping: %v", err)
			case tc.want != "" && err == nil:
				t.Fatal("ping worked")
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("ping: %v; want it to say %q", err, tc.want)
			}
		})
	}
}

// TestSecureClusterWithClientCertificate: brokers that ask for a client
// certificate take the one configured and refuse a client without one.
func TestSecureClusterWithClientCertificate(t *testing.T) {
	k := wagwtest.StartSecureKafka(t, wagwtest.SecureKafkaConfig{Users: secureUsers[:1], RequireClientCert: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := broker.SecurityConfig{TLS: true, CAFile: k.CAFile, SASLMechanism: broker.SASLScramSHA512, Username: "wagw512", Password: "s3cret-512"}
	if _, err := broker.SetupTopics(ctx, k.Addrs, mustSecurity(t, cfg), broker.TopicSettings{Partitions: 1}.Specs("t")); err == nil {
		t.Fatal("a client without a certificate was let in")
	}
	cfg.CertFile, cfg.KeyFile = k.ClientCertFile, k.ClientKeyFile
	if _, err := broker.SetupTopics(ctx, k.Addrs, mustSecurity(t, cfg), broker.TopicSettings{Partitions: 1}.Specs("t")); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
}

// TestSecurityConfigErrors: settings that cannot work are refused before
// any connection, with what is wrong.
func TestSecurityConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  broker.SecurityConfig
		want string
	}{
		{broker.SecurityConfig{CAFile: "ca.pem"}, "TLS is off"},
		{broker.SecurityConfig{ServerName: "kafka"}, "TLS is off"},
		{broker.SecurityConfig{TLS: true, CAFile: "/does/not/exist.pem"}, "CA file"},
		{broker.SecurityConfig{TLS: true, CertFile: "c.pem"}, "both"},
		{broker.SecurityConfig{SASLMechanism: "GSSAPI", Username: "u", Password: "p"}, `"GSSAPI"`},
		{broker.SecurityConfig{SASLMechanism: broker.SASLPlain, Username: "u"}, "username and a password"},
		{broker.SecurityConfig{Username: "u", Password: "p"}, "no SASL mechanism"},
	}
	for _, tc := range cases {
		_, err := broker.NewSecurity(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSecurity(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
	s, err := broker.NewSecurity(broker.SecurityConfig{})
	if err != nil || s.TLS() || s.SASL() != "" {
		t.Errorf("the zero config is plaintext without SASL: %v %v %q", err, s.TLS(), s.SASL())
	}
}
