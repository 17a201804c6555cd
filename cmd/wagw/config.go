package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/relay"
)

// config is everything read from the environment (flags override).
type config struct {
	HTTPAddr          string
	DatabaseURL       string
	KafkaBrokers      []string
	KafkaEmbeddedAddr string
	KafkaEmbeddedSync bool
	KafkaTopic        string
	KafkaPartitions   int
	DataDir           string
	AppSecrets        []string
	VerifyToken       string
	AccessToken       string
	APIURL            string
	APIVersion        string
	AdminToken        string
	ConsumerWorkers   int
	ConsumerBatch     int
	BodyLimit         int
	CommandWait       time.Duration
	SessionTimeout    time.Duration
	StallTimeout      time.Duration
	SimulatorAddr     string
	CaptureFile       string
	LogLevel          string
	PprofAddr         string
	RatePerNumber     float64
	// Retention: how long dedupe and idempotency rows are kept (WAGW_RETENTION). Default 336h (14 days).
	Retention time.Duration
	// HealthAddr serves /healthz, /readyz and /metrics for any role
	// (WAGW_HEALTH_ADDR); default empty: none (the gateway serves its own).
	HealthAddr string
	// SendMaxRetries is how often a message is sent again after transient
	// failures before it fails (WA_SEND_MAX_RETRIES); default
	// relay.DefaultMaxRetries, about 24 h.
	SendMaxRetries int

	// RelayLease is how long a relay owns the outbox rows it claimed; rows
	// of a relay that died are sent by another after it
	// (WAGW_RELAY_LEASE, default 60s).
	RelayLease time.Duration
}

func (c config) dlqTopic() string { return c.KafkaTopic + ".dlq" }

// loadConfig reads the environment, then lets flags override it.
func loadConfig(name string, args []string, getenv func(string) string, out io.Writer) (config, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	envInt := func(k string, def int) (int, error) {
		v := env(k, "")
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%s=%q: not a whole number", k, v)
		}
		return n, nil
	}
	var c config
	var err error
	c.HTTPAddr = env("WAGW_HTTP_ADDR", ":8080")
	c.DatabaseURL = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wagw?sslmode=disable")
	c.KafkaBrokers = splitList(env("KAFKA_BROKERS", ""))
	c.KafkaEmbeddedAddr = env("KAFKA_EMBEDDED_ADDR", "127.0.0.1:9092")
	switch v := env("KAFKA_EMBEDDED_SYNC", "true"); v {
	case "true", "1", "yes":
		c.KafkaEmbeddedSync = true
	case "false", "0", "no":
	default:
		return c, fmt.Errorf("KAFKA_EMBEDDED_SYNC=%q: want true or false", v)
	}
	c.KafkaTopic = env("KAFKA_TOPIC", "wa.events")
	if c.KafkaPartitions, err = envInt("KAFKA_PARTITIONS", 12); err != nil {
		return c, err
	}
	c.DataDir = env("WAGW_DATA_DIR", "./data")
	c.AppSecrets = splitList(env("WA_APP_SECRET", ""))
	c.VerifyToken = env("WA_VERIFY_TOKEN", "")
	c.AccessToken = env("WA_ACCESS_TOKEN", "")
	c.APIURL = env("WA_API_URL", "https://graph.facebook.com")
	c.APIVersion = env("WA_API_VERSION", "v23.0")
	c.AdminToken = env("WAGW_ADMIN_TOKEN", "")
	if c.ConsumerWorkers, err = envInt("WAGW_CONSUMER_WORKERS", 4); err != nil {
		return c, err
	}
	if c.ConsumerBatch, err = envInt("WAGW_CONSUMER_BATCH", 500); err != nil {
		return c, err
	}
	if c.BodyLimit, err = envInt("WAGW_BODY_LIMIT", 4<<20); err != nil {
		return c, err
	}
	c.CommandWait, err = time.ParseDuration(env("WAGW_COMMAND_WAIT", "2s"))
	if err != nil {
		return c, fmt.Errorf("WAGW_COMMAND_WAIT: %w", err)
	}
	c.SessionTimeout, err = time.ParseDuration(env("WAGW_CONSUMER_SESSION_TIMEOUT", "10s"))
	if err != nil || c.SessionTimeout < time.Second {
		return c, fmt.Errorf("WAGW_CONSUMER_SESSION_TIMEOUT: want a duration of at least 1s")
	}
	c.StallTimeout, err = time.ParseDuration(env("WAGW_CONSUMER_STALL_TIMEOUT", "20s"))
	if err != nil || c.StallTimeout < time.Second {
		return c, fmt.Errorf("WAGW_CONSUMER_STALL_TIMEOUT: want a duration of at least 1s")
	}
	c.RelayLease, err = time.ParseDuration(env("WAGW_RELAY_LEASE", "60s"))
	if err != nil || c.RelayLease < time.Second {
		return c, fmt.Errorf("WAGW_RELAY_LEASE: want a duration of at least 1s")
	}
	c.SimulatorAddr = env("WAGW_SIMULATOR_ADDR", "127.0.0.1:8081")
	c.CaptureFile = env("WAGW_CAPTURE_FILE", "")
	c.LogLevel = env("WAGW_LOG_LEVEL", "info")
	c.PprofAddr = env("WAGW_PPROF_ADDR", "")
	c.Retention, err = time.ParseDuration(env("WAGW_RETENTION", db.DefaultRetention.String()))
	if err != nil || c.Retention < 7*24*time.Hour {
		return c, fmt.Errorf("WAGW_RETENTION: want a duration of at least 168h (Meta retries a webhook for 7 days)")
	}
	c.HealthAddr = env("WAGW_HEALTH_ADDR", "")
	if c.SendMaxRetries, err = envInt("WA_SEND_MAX_RETRIES", relay.DefaultMaxRetries); err != nil || c.SendMaxRetries < 1 {
		return c, fmt.Errorf("WA_SEND_MAX_RETRIES: want a whole number of at least 1")
	}
	rate := env("WA_RATE_PER_NUMBER", "80")
	if c.RatePerNumber, err = strconv.ParseFloat(rate, 64); err != nil || c.RatePerNumber <= 0 {
		return c, fmt.Errorf("WA_RATE_PER_NUMBER=%q: not a positive number", rate)
	}

	fs := flag.NewFlagSet("wagw "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address (WAGW_HTTP_ADDR)")
	fs.StringVar(&c.DatabaseURL, "db", c.DatabaseURL, "Postgres URL (DATABASE_URL)")
	brokers := fs.String("brokers", strings.Join(c.KafkaBrokers, ","), "Kafka brokers, comma-separated; empty starts the embedded broker (KAFKA_BROKERS)")
	fs.StringVar(&c.KafkaEmbeddedAddr, "kafka-embedded-addr", c.KafkaEmbeddedAddr, "where the embedded broker listens (KAFKA_EMBEDDED_ADDR)")
	fs.StringVar(&c.KafkaTopic, "topic", c.KafkaTopic, "events topic (KAFKA_TOPIC)")
	fs.IntVar(&c.KafkaPartitions, "partitions", c.KafkaPartitions, "partitions of the events topic (KAFKA_PARTITIONS)")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (WAGW_DATA_DIR)")
	fs.IntVar(&c.ConsumerWorkers, "workers", c.ConsumerWorkers, "consumer group members in this process (WAGW_CONSUMER_WORKERS)")
	fs.StringVar(&c.SimulatorAddr, "simulator-addr", c.SimulatorAddr, "where the built-in Cloud API simulator listens (WAGW_SIMULATOR_ADDR)")
	fs.StringVar(&c.CaptureFile, "capture", c.CaptureFile, "write every accepted webhook to this JSONL file (WAGW_CAPTURE_FILE)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.KafkaBrokers = splitList(*brokers)
	if c.KafkaPartitions < 1 {
		return c, errors.New("KAFKA_PARTITIONS must be at least 1")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// devSecrets are generated by `serve` when none are configured, and kept in
// the data dir so that restarts keep them.
type devSecrets struct {
	AppSecret   string `json:"app_secret"`
	VerifyToken string `json:"verify_token"`
	AdminToken  string `json:"admin_token"`
}

// generatedSecrets says which secrets are serve's development values
// (generated now or on an earlier start, kept in dev-secrets.json): only
// these may be printed.
type generatedSecrets struct{ AppSecret, VerifyToken, AdminToken bool }

func (g generatedSecrets) any() bool { return g.AppSecret || g.VerifyToken || g.AdminToken }

// fillDevSecrets fills missing secrets from (or into) DataDir/dev-secrets.json
// and reports which it filled.
func fillDevSecrets(c *config) (generatedSecrets, error) {
	var gen generatedSecrets
	if len(c.AppSecrets) > 0 && c.VerifyToken != "" && c.AdminToken != "" {
		return gen, nil
	}
	path := filepath.Join(c.DataDir, "dev-secrets.json")
	var s devSecrets
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &s); err != nil {
			return gen, fmt.Errorf("read %s: %w", path, err)
		}
	}
	changed := false
	for _, f := range []*string{&s.AppSecret, &s.VerifyToken, &s.AdminToken} {
		if *f == "" {
			*f = randomToken()
			changed = true
		}
	}
	if changed {
		b, _ := json.MarshalIndent(s, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return gen, fmt.Errorf("write %s: %w", path, err)
		}
	}
	if len(c.AppSecrets) == 0 {
		c.AppSecrets, gen.AppSecret = []string{s.AppSecret}, true
	}
	if c.VerifyToken == "" {
		c.VerifyToken, gen.VerifyToken = s.VerifyToken, true
	}
	if c.AdminToken == "" {
		c.AdminToken, gen.AdminToken = s.AdminToken, true
	}
	return gen, nil
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
