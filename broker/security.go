package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// The SASL mechanisms SecurityConfig.SASLMechanism takes.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SecurityConfig says how wagw's clients connect to a Kafka cluster: over
// TLS or not, and with which SASL credentials. The zero value is plaintext
// without authentication (the embedded broker).
type SecurityConfig struct {
	// TLS encrypts every connection. Default false.
	TLS bool
	// CAFile is a PEM file of the certificate authorities that sign the
	// brokers' certificates. Default empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key (PEM),
	// for brokers that authenticate clients by certificate (mutual TLS).
	// Both or neither. Default empty: none.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry.
	// Default empty: the host of each broker's address.
	ServerName string
	// SASLMechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512.
	// Default empty: no SASL.
	SASLMechanism string
	// Username and Password for SASL; required with a mechanism.
	Username, Password string
}

// Security is a SecurityConfig made ready for use: the TLS settings with
// their certificates loaded, and the SASL mechanism. The zero value is
// plaintext without authentication. It is safe for concurrent use.
type Security struct {
	tls  *tls.Config
	sasl sasl.Mechanism
	dial func(ctx context.Context, network, address string) (net.Conn, error) // nil: TCP
}

// NewSecurity checks cfg and loads its files. Every error names what is
// wrong in cfg's terms.
func NewSecurity(cfg SecurityConfig) (Security, error) {
	var s Security
	if !cfg.TLS && (cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.ServerName != "") {
		return s, errors.New("a CA file, client certificate or server name is set but TLS is off")
	}
	if cfg.TLS {
		t, err := tlsConfig(cfg)
		if err != nil {
			return s, err
		}
		s.tls = t
	}
	if cfg.SASLMechanism == "" {
		if cfg.Username != "" || cfg.Password != "" {
			return s, errors.New("a SASL username or password is set but no SASL mechanism")
		}
		return s, nil
	}
	if cfg.Username == "" || cfg.Password == "" {
		return s, fmt.Errorf("SASL %s needs a username and a password", cfg.SASLMechanism)
	}
	var err error
	switch cfg.SASLMechanism {
	case SASLPlain:
		s.sasl = plain.Mechanism{Username: cfg.Username, Password: cfg.Password}
	case SASLScramSHA256:
		s.sasl, err = scram.Mechanism(scram.SHA256, cfg.Username, cfg.Password)
	case SASLScramSHA512:
		s.sasl, err = scram.Mechanism(scram.SHA512, cfg.Username, cfg.Password)
	default:
		return s, fmt.Errorf("SASL mechanism %q: want %s, %s or %s", cfg.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if err != nil {
		return s, fmt.Errorf("SASL %s: %w", cfg.SASLMechanism, err)
	}
	return s, nil
}

func tlsConfig(cfg SecurityConfig) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s: no PEM certificate in it", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("TLS client certificate: set both the certificate file and the key file, or neither")
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// TLS reports whether connections are encrypted.
func (s Security) TLS() bool { return s.tls != nil }

// SASL names the SASL mechanism, or is empty.
func (s Security) SASL() string {
	if s.sasl == nil {
		return ""
	}
	return s.sasl.Name()
}

// Dialer is a kafka-go dialer with these settings, for the calls that
// use one connection (the consumer group's reader, partition lookups).
func (s Security) Dialer(timeout time.Duration) *kafka.Dialer {
	return &kafka.Dialer{Timeout: timeout, DualStack: true, TLS: s.tlsClone(), SASLMechanism: s.sasl, DialFunc: s.dial}
}

// Transport is a kafka-go transport with these settings, for writers and
// clients. Each call returns a new one with its own connection pool: keep
// it for as long as its user lives.
func (s Security) Transport(dialTimeout time.Duration) *kafka.Transport {
	return &kafka.Transport{DialTimeout: dialTimeout, TLS: s.tlsClone(), SASL: s.sasl, Dial: s.dial}
}

func (s Security) tlsClone() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

// Explain prefixes the errors of a refused login with what to check, so
// that a log line or /readyz says it in one line.
func Explain(err error) error {
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Errorf("SASL authentication refused (check the username, password and mechanism): %w", err)
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Errorf("the brokers do not offer this SASL mechanism: %w", err)
	}
	return err
}
