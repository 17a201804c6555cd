package wagwtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// SecureKafka is a kfake cluster like a managed Kafka: it takes only TLS
// connections, with a certificate from a CA generated for the test, and
// only clients that log in with SASL.
type SecureKafka struct {
	Cluster *kfake.Cluster
	Addrs   []string
	// CAFile is the PEM file of the CA that signed the brokers'
	// certificates (and ClientCertFile).
	CAFile string
	// ServerName is the DNS name in the brokers' certificates, besides
	// the IP address 127.0.0.1.
	ServerName string
	// ClientCertFile and ClientKeyFile are a client certificate signed by
	// the CA, for SecureKafkaConfig.RequireClientCert.
	ClientCertFile, ClientKeyFile string
}

// SecureKafkaConfig configures StartSecureKafka.
type SecureKafkaConfig struct {
	// Brokers in the cluster. Default 1.
	Brokers int
	// Users by SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), each
	// a user name and password. At least one.
	Users []SASLUser
	// RequireClientCert makes the brokers refuse clients without a
	// certificate signed by the CA (mutual TLS).
	RequireClientCert bool
	// Partitions of the topics clients create without a count. Default 3.
	Partitions int
}

// SASLUser is one login a SecureKafka takes.
type SASLUser struct{ Mechanism, User, Password string }

// StartSecureKafka starts the cluster; it stops when the test ends.
func StartSecureKafka(t testing.TB, cfg SecureKafkaConfig) *SecureKafka {
	t.Helper()
	if cfg.Brokers <= 0 {
		cfg.Brokers = 1
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 3
	}
	dir := t.TempDir()
	k := &SecureKafka{ServerName: "kafka.wagw.test", CAFile: filepath.Join(dir, "ca.pem"),
		ClientCertFile: filepath.Join(dir, "client.pem"), ClientKeyFile: filepath.Join(dir, "client-key.pem")}
	ca, caKey := newCert(t, nil, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "wagw test CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true})
	writePEM(t, k.CAFile, "CERTIFICATE", ca.Raw)
	server, serverKey := newCert(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: k.ServerName},
		DNSNames: []string{k.ServerName}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature})
	client, clientKey := newCert(t, ca, caKey, &x509.Certificate{Subject: pkix.Name{CommonName: "wagw"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature})
	writePEM(t, k.ClientCertFile, "CERTIFICATE", client.Raw)
	der, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, k.ClientKeyFile, "EC PRIVATE KEY", der)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tc := &tls.Config{MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{server.Raw}, PrivateKey: serverKey, Leaf: server}}}
	if cfg.RequireClientCert {
		tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	opts := []kfake.Opt{kfake.NumBrokers(cfg.Brokers), kfake.TLS(tc), kfake.EnableSASL(),
		kfake.DefaultNumPartitions(cfg.Partitions), kfake.ClusterID("wagw-secure"), kfake.GroupMinSessionTimeout(time.Second)}
	for _, u := range cfg.Users {
		opts = append(opts, kfake.Superuser(u.Mechanism, u.User, u.Password))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	k.Cluster, k.Addrs = c, c.ListenAddrs()
	return k
}

// newCert makes a certificate from tmpl signed by parent (self-signed
// when parent is nil) with a new P-256 key.
func newCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
