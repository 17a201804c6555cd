package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/relay"
	"github.com/wagw/wagw/whatsapp"
)

// Defaults of the settings that belong to this command; the other
// defaults are constants of the package that owns the setting.
const (
	defaultHTTPAddr      = ":8080"
	defaultDataDir       = "./data"
	defaultSimulatorAddr = "127.0.0.1:8081"
	defaultLogLevel      = "info"
	// minRetention: Meta retries a webhook for 7 days, so a redelivery
	// must still find its dedupe row.
	minRetention = 7 * 24 * time.Hour
	// captureMaxBytes bounds the capture file (WAGW_CAPTURE_FILE).
	captureMaxBytes = 256 << 20
)

// config is everything read from the environment; flags override some
// fields. Each field names its variable (and flag) and its default.
type config struct {
	// HTTPAddr is where the gateway listens (WAGW_HTTP_ADDR, -http).
	// Default defaultHTTPAddr, ":8080".
	HTTPAddr string
	// DatabaseURL (DATABASE_URL, -db). Default db.DefaultURL, the local
	// Postgres; the database is created when missing.
	DatabaseURL string
	// DBMaxConns bounds the Postgres connections of one process
	// (WAGW_DB_MAX_CONNS). Default db.DefaultMaxConns.
	DBMaxConns int
	// DBStatementTimeout cancels a statement that runs longer, unless
	// DATABASE_URL sets statement_timeout (WAGW_DB_STATEMENT_TIMEOUT); 0
	// for none. Default db.DefaultStatementTimeout.
	DBStatementTimeout time.Duration
	// DBPrepared keeps each connection's statements prepared
	// (WAGW_DB_PREPARED_STATEMENTS); false runs them unnamed, for a
	// connection pooler in transaction mode that keeps no prepared
	// statements. Default true.
	DBPrepared bool
	// KafkaBrokers, comma-separated (KAFKA_BROKERS, -brokers). Default
	// empty: serve starts the embedded broker.
	KafkaBrokers []string
	// KafkaEmbeddedAddr is where the embedded broker listens
	// (KAFKA_EMBEDDED_ADDR, -kafka-embedded-addr). Default
	// broker.DefaultEmbeddedAddr.
	KafkaEmbeddedAddr string
	// KafkaEmbeddedSync makes the embedded broker answer a Produce only
	// once a group flush (fsync) made it durable (KAFKA_EMBEDDED_SYNC).
	// Default true; false acknowledges from the page cache.
	KafkaEmbeddedSync bool
	// KafkaTopic is the events topic (KAFKA_TOPIC, -topic); its dead
	// letters go to broker.DeadLetterTopic of it. Default
	// broker.DefaultTopic.
	KafkaTopic string
	// KafkaPartitions of the events topic (KAFKA_PARTITIONS, -partitions).
	// Default broker.DefaultPartitions.
	KafkaPartitions int
	// KafkaSecurity is how every role connects to KAFKA_BROKERS: TLS
	// (KAFKA_TLS, default false; KAFKA_TLS_CA_FILE, default the system's
	// roots; KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE, a client
	// certificate, default none; KAFKA_TLS_SERVER_NAME, default each
	// broker's host) and SASL (KAFKA_SASL_MECHANISM: PLAIN,
	// SCRAM-SHA-256 or SCRAM-SHA-512, default none; KAFKA_SASL_USERNAME,
	// KAFKA_SASL_PASSWORD). The embedded broker is plaintext on loopback.
	KafkaSecurity broker.SecurityConfig
	// KafkaReplication is the replication factor of the topics wagw
	// creates (KAFKA_REPLICATION_FACTOR). Default
	// broker.DefaultReplicationFactor (3) with KAFKA_BROKERS, 1 embedded.
	KafkaReplication int
	// KafkaMinInsync is min.insync.replicas of the topics wagw creates
	// (KAFKA_MIN_INSYNC_REPLICAS), at most KafkaReplication. Default
	// broker.DefaultMinInsyncReplicas (2) but less than KafkaReplication
	// when it is 2 or less, and 1 embedded.
	KafkaMinInsync int
	// KafkaRetention and KafkaRetentionBytes (per partition, -1 for no
	// cap) keep the records of the events topic wagw creates
	// (KAFKA_RETENTION, KAFKA_RETENTION_BYTES). Defaults
	// broker.DefaultRetention (168h) and broker.DefaultRetentionBytes
	// (1 GiB).
	KafkaRetention      time.Duration
	KafkaRetentionBytes int64
	// KafkaDLQRetention and KafkaDLQRetentionBytes are those of the
	// dead-letter topic (KAFKA_DLQ_RETENTION, KAFKA_DLQ_RETENTION_BYTES).
	// Defaults broker.DefaultDeadLetterRetention (720h) and
	// broker.DefaultDeadLetterRetentionBytes (256 MiB).
	KafkaDLQRetention      time.Duration
	KafkaDLQRetentionBytes int64
	// DataDir keeps the embedded broker's log and serve's development
	// secrets (WAGW_DATA_DIR, -data). Default defaultDataDir, "./data".
	DataDir string
	// AppSecrets sign webhooks, comma-separated for rotation
	// (WA_APP_SECRET). Required by the gateway; serve generates one.
	AppSecrets []string
	// VerifyToken answers Meta's handshake (WA_VERIFY_TOKEN). Required by
	// the gateway; serve generates one.
	VerifyToken string
	// AccessToken for the Cloud API (WA_ACCESS_TOKEN). Without it serve
	// sends to the built-in simulator.
	AccessToken string
	// APIURL of the Cloud API (WA_API_URL). Default whatsapp.DefaultBaseURL.
	APIURL string
	// APIVersion of the Cloud API (WA_API_VERSION). Default
	// whatsapp.DefaultAPIVersion.
	APIVersion string
	// AdminToken is the bootstrap admin bearer token for /v1
	// (WAGW_ADMIN_TOKEN); serve generates one.
	AdminToken string
	// ConsumerWorkers are the consumer group members in this process
	// (WAGW_CONSUMER_WORKERS, -workers). Default consumer.DefaultWorkers.
	// 0: serve runs no consumer (events wait on the topic, e.g. to fill it
	// for a replay benchmark); the consumer command needs at least 1.
	ConsumerWorkers int
	// ConsumerBatch is the most records applied in one transaction
	// (WAGW_CONSUMER_BATCH). Default consumer.DefaultMaxBatch.
	ConsumerBatch int
	// ConsumerLinger bounds how long a worker waits to fill a batch once
	// it has a record: as long as its last batch took, at most this
	// (WAGW_CONSUMER_LINGER). Default consumer.DefaultLinger.
	ConsumerLinger time.Duration
	// ConsumerFetchWait is how long a fetch may wait on the broker to
	// gather records (WAGW_CONSUMER_FETCH_WAIT); 0 in the environment:
	// none (-1 here). Default consumer.DefaultFetchWait.
	ConsumerFetchWait time.Duration
	// BodyLimit is the largest webhook body (WAGW_BODY_LIMIT). Default
	// gateway.DefaultBodyLimit.
	BodyLimit int
	// WebhookMaxInFlight bounds the webhooks the gateway handles at once;
	// more are answered 503 with Retry-After (WAGW_WEBHOOK_MAX_INFLIGHT).
	// Default gateway.DefaultMaxInFlight.
	WebhookMaxInFlight int
	// WebhookMaxWait is how long a webhook taken in should wait for its
	// answer: the bound on webhooks in flight follows the rate they are
	// answered at times this (WAGW_WEBHOOK_MAX_WAIT). Default
	// gateway.DefaultMaxWait.
	WebhookMaxWait time.Duration
	// HTTPMaxConns is how many connections the HTTP listener keeps open
	// at once; another is answered 503 with Retry-After and closed
	// (WAGW_HTTP_MAX_CONNS). Default gateway.DefaultMaxConns.
	HTTPMaxConns int
	// MemoryLimit is Go's soft memory limit in bytes for the long-running
	// commands (WAGW_MEMORY_LIMIT), -1 for none; GOMEMLIMIT, when set,
	// wins. Default 0: memoryBase plus memoryPerConn for each of
	// HTTPMaxConns (256 MiB at the default 4,096).
	MemoryLimit int64
	// CommandWait is how long an API write waits for its result before
	// answering 202 (WAGW_COMMAND_WAIT). Default gateway.DefaultCommandWait.
	CommandWait time.Duration
	// SessionTimeout of the consumer group membership
	// (WAGW_CONSUMER_SESSION_TIMEOUT), at least 1 s. Default
	// consumer.DefaultSessionTimeout.
	SessionTimeout time.Duration
	// StallTimeout after which idle consumers rejoin the group while
	// records wait (WAGW_CONSUMER_STALL_TIMEOUT), at least 1 s. Default
	// consumer.DefaultStallTimeout.
	StallTimeout time.Duration
	// RelayLease is how long a relay owns the outbox rows it claimed; rows
	// of a relay that died are sent by another after it
	// (WAGW_RELAY_LEASE), at least 1 s. Default relay.DefaultLease.
	RelayLease time.Duration
	// SimulatorAddr is where the built-in Cloud API simulator listens
	// (WAGW_SIMULATOR_ADDR, -simulator-addr). Default defaultSimulatorAddr.
	SimulatorAddr string
	// CaptureFile receives every accepted webhook as JSONL
	// (WAGW_CAPTURE_FILE, -capture). Default empty: none.
	CaptureFile string
	// LogLevel: debug, info, warn or error (WAGW_LOG_LEVEL). Default
	// defaultLogLevel, info.
	LogLevel string
	// LogFormat: json or text (WAGW_LOG_FORMAT). Default json, and text
	// for serve, which a person reads in a terminal.
	LogFormat string
	// PprofAddr serves Go's profiles (WAGW_PPROF_ADDR). Default empty:
	// none.
	PprofAddr string
	// RatePerNumber is the sends per second to one phone number
	// (WA_RATE_PER_NUMBER). Default whatsapp.DefaultRatePerSecond.
	RatePerNumber float64
	// Retention is how long dedupe and idempotency rows are kept
	// (WAGW_RETENTION), at least minRetention. Default db.DefaultRetention
	// (14 days).
	Retention time.Duration
	// HealthAddr serves /healthz, /readyz and /metrics for any role
	// (WAGW_HEALTH_ADDR). Default empty: none (the gateway serves its own).
	HealthAddr string
	// MetricsAddr serves /metrics alone, for any role
	// (WAGW_METRICS_ADDR); the gateway and the health server then do not
	// serve it. Default empty: /metrics is served next to /webhook (and
	// on WAGW_HEALTH_ADDR).
	MetricsAddr string
	// SendMaxRetries is how often a message is sent again after transient
	// failures before it fails (WA_SEND_MAX_RETRIES), at least 1. Default
	// relay.DefaultMaxRetries, about 24 h.
	SendMaxRetries int
	// PresenceTimeout is how long an agent whose status is online stays
	// online without a heartbeat (WAGW_PRESENCE_TIMEOUT), at least 1 s.
	// Default assigner.DefaultPresenceTimeout (5 min).
	PresenceTimeout time.Duration
}

func (c config) dlqTopic() string { return broker.DeadLetterTopic(c.KafkaTopic) }

// loadConfig reads the environment, then lets flags override it.
func loadConfig(name string, args []string, getenv func(string) string, out io.Writer) (config, error) {
	c, err := configFromEnv(getenv)
	if err != nil {
		return c, err
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
	if c.LogFormat == "" {
		c.LogFormat = "json"
		if name == "serve" {
			c.LogFormat = "text"
		}
	}
	if c.KafkaPartitions < 1 {
		return c, errors.New("KAFKA_PARTITIONS must be at least 1")
	}
	if c.ConsumerWorkers < 0 {
		return c, errors.New("WAGW_CONSUMER_WORKERS must be at least 0")
	}
	if err := c.checkFetchWait(); err != nil {
		return c, err
	}
	if _, err := db.DriverURL(c.dbConfig(name)); err != nil {
		return c, err
	}
	return c, c.resolveTopicSettings()
}

// dbConfig is how the command connects to Postgres: its connections are
// named "wagw-<command>" in pg_stat_activity.
func (c config) dbConfig(cmd string) db.Config {
	timeout := c.DBStatementTimeout
	if timeout == 0 {
		timeout = -1 // none
	}
	return db.Config{URL: c.DatabaseURL, CreateDatabase: true, MaxOpenConns: c.DBMaxConns,
		StatementTimeout: timeout, ApplicationName: "wagw-" + cmd, Unprepared: !c.DBPrepared}
}

// resolveTopicSettings fills in the replication defaults, which depend on
// whether KAFKA_BROKERS is set, and checks the topic settings together.
func (c *config) resolveTopicSettings() error {
	if len(c.KafkaBrokers) == 0 {
		if c.KafkaReplication > 1 || c.KafkaMinInsync > 1 {
			return errors.New("KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS above 1 need KAFKA_BROKERS: the embedded broker keeps one replica")
		}
		c.KafkaReplication, c.KafkaMinInsync = 1, 1
	}
	if c.KafkaReplication == 0 {
		c.KafkaReplication = broker.DefaultReplicationFactor
	}
	if c.KafkaMinInsync == 0 {
		c.KafkaMinInsync = max(1, min(broker.DefaultMinInsyncReplicas, c.KafkaReplication-1))
	}
	if c.KafkaMinInsync > c.KafkaReplication {
		return fmt.Errorf("KAFKA_MIN_INSYNC_REPLICAS=%d is more than KAFKA_REPLICATION_FACTOR=%d: no write could be acknowledged", c.KafkaMinInsync, c.KafkaReplication)
	}
	if c.Retention < c.KafkaRetention {
		return fmt.Errorf("WAGW_RETENTION=%s is shorter than KAFKA_RETENTION=%s: an event replayed from Kafka could find its dedupe row gone", c.Retention, c.KafkaRetention)
	}
	return nil
}

// topicSettings are the settings of the topics wagw creates.
func (c config) topicSettings(maxRecord int) broker.TopicSettings {
	return broker.TopicSettings{Partitions: c.KafkaPartitions, ReplicationFactor: c.KafkaReplication,
		MinInsyncReplicas: c.KafkaMinInsync, Retention: c.KafkaRetention, RetentionBytes: c.KafkaRetentionBytes,
		DeadLetterRetention: c.KafkaDLQRetention, DeadLetterRetentionBytes: c.KafkaDLQRetentionBytes, MaxMessageBytes: maxRecord}
}

// configFromEnv reads every setting from the environment; an unset
// variable takes the setting's default.
func configFromEnv(getenv func(string) string) (config, error) {
	e := envReader{getenv: getenv}
	c := config{
		HTTPAddr:           e.str("WAGW_HTTP_ADDR", defaultHTTPAddr),
		DatabaseURL:        e.str("DATABASE_URL", db.DefaultURL),
		DBMaxConns:         e.int("WAGW_DB_MAX_CONNS", db.DefaultMaxConns, 1),
		DBStatementTimeout: e.duration("WAGW_DB_STATEMENT_TIMEOUT", db.DefaultStatementTimeout, 0),
		DBPrepared:         e.bool("WAGW_DB_PREPARED_STATEMENTS", true),
		KafkaBrokers:       splitList(e.str("KAFKA_BROKERS", "")),
		KafkaEmbeddedAddr:  e.str("KAFKA_EMBEDDED_ADDR", broker.DefaultEmbeddedAddr),
		KafkaEmbeddedSync:  e.bool("KAFKA_EMBEDDED_SYNC", true),
		KafkaTopic:         e.str("KAFKA_TOPIC", broker.DefaultTopic),
		KafkaPartitions:    e.int("KAFKA_PARTITIONS", broker.DefaultPartitions, 1),
		KafkaSecurity: broker.SecurityConfig{
			TLS:    e.bool("KAFKA_TLS", false),
			CAFile: e.str("KAFKA_TLS_CA_FILE", ""), CertFile: e.str("KAFKA_TLS_CERT_FILE", ""), KeyFile: e.str("KAFKA_TLS_KEY_FILE", ""),
			ServerName:    e.str("KAFKA_TLS_SERVER_NAME", ""),
			SASLMechanism: strings.ToUpper(e.str("KAFKA_SASL_MECHANISM", "")),
			Username:      e.str("KAFKA_SASL_USERNAME", ""), Password: e.getenv("KAFKA_SASL_PASSWORD"),
		},
		KafkaReplication:       e.int("KAFKA_REPLICATION_FACTOR", 0, 1),
		KafkaMinInsync:         e.int("KAFKA_MIN_INSYNC_REPLICAS", 0, 1),
		KafkaRetention:         e.duration("KAFKA_RETENTION", broker.DefaultRetention, time.Hour),
		KafkaRetentionBytes:    e.bytes("KAFKA_RETENTION_BYTES", broker.DefaultRetentionBytes),
		KafkaDLQRetention:      e.duration("KAFKA_DLQ_RETENTION", broker.DefaultDeadLetterRetention, time.Hour),
		KafkaDLQRetentionBytes: e.bytes("KAFKA_DLQ_RETENTION_BYTES", broker.DefaultDeadLetterRetentionBytes),
		DataDir:                e.str("WAGW_DATA_DIR", defaultDataDir),
		AppSecrets:             splitList(e.str("WA_APP_SECRET", "")),
		VerifyToken:            e.str("WA_VERIFY_TOKEN", ""),
		AccessToken:            e.str("WA_ACCESS_TOKEN", ""),
		APIURL:                 e.str("WA_API_URL", whatsapp.DefaultBaseURL),
		APIVersion:             e.str("WA_API_VERSION", whatsapp.DefaultAPIVersion),
		AdminToken:             e.str("WAGW_ADMIN_TOKEN", ""),
		ConsumerWorkers:        e.int("WAGW_CONSUMER_WORKERS", consumer.DefaultWorkers, 0),
		ConsumerBatch:          e.int("WAGW_CONSUMER_BATCH", consumer.DefaultMaxBatch, 1),
		ConsumerLinger:         e.duration("WAGW_CONSUMER_LINGER", consumer.DefaultLinger, 100*time.Microsecond),
		ConsumerFetchWait:      fetchWait(e.duration("WAGW_CONSUMER_FETCH_WAIT", consumer.DefaultFetchWait, 0)),
		WebhookMaxInFlight:     e.int("WAGW_WEBHOOK_MAX_INFLIGHT", gateway.DefaultMaxInFlight, 1),
		WebhookMaxWait:         e.duration("WAGW_WEBHOOK_MAX_WAIT", gateway.DefaultMaxWait, time.Millisecond),
		HTTPMaxConns:           e.int("WAGW_HTTP_MAX_CONNS", gateway.DefaultMaxConns, 1),
		MemoryLimit:            e.bytes("WAGW_MEMORY_LIMIT", 0),
		BodyLimit:              e.int("WAGW_BODY_LIMIT", gateway.DefaultBodyLimit, 1),
		CommandWait:            e.duration("WAGW_COMMAND_WAIT", gateway.DefaultCommandWait, 0),
		SessionTimeout:         e.duration("WAGW_CONSUMER_SESSION_TIMEOUT", consumer.DefaultSessionTimeout, time.Second),
		StallTimeout:           e.duration("WAGW_CONSUMER_STALL_TIMEOUT", consumer.DefaultStallTimeout, time.Second),
		RelayLease:             e.duration("WAGW_RELAY_LEASE", relay.DefaultLease, time.Second),
		SimulatorAddr:          e.str("WAGW_SIMULATOR_ADDR", defaultSimulatorAddr),
		CaptureFile:            e.str("WAGW_CAPTURE_FILE", ""),
		LogLevel:               e.str("WAGW_LOG_LEVEL", defaultLogLevel),
		LogFormat:              e.oneOf("WAGW_LOG_FORMAT", "", "json", "text"),
		PprofAddr:              e.str("WAGW_PPROF_ADDR", ""),
		RatePerNumber:          e.positive("WA_RATE_PER_NUMBER", whatsapp.DefaultRatePerSecond),
		Retention:              e.duration("WAGW_RETENTION", db.DefaultRetention, minRetention),
		HealthAddr:             e.str("WAGW_HEALTH_ADDR", ""),
		MetricsAddr:            e.str("WAGW_METRICS_ADDR", ""),
		SendMaxRetries:         e.int("WA_SEND_MAX_RETRIES", relay.DefaultMaxRetries, 1),
		PresenceTimeout:        e.duration("WAGW_PRESENCE_TIMEOUT", assigner.DefaultPresenceTimeout, time.Second),
	}
	return c, e.err
}

// envReader reads typed settings and keeps the first malformed one as err.
type envReader struct {
	getenv func(string) string
	err    error
}

// str is the variable's value, trimmed, or def when it is unset or blank.
func (e *envReader) str(k, def string) string {
	if v := strings.TrimSpace(e.getenv(k)); v != "" {
		return v
	}
	return def
}

func (e *envReader) fail(k, v, want string) {
	if e.err == nil {
		e.err = fmt.Errorf("%s=%q: want %s", k, v, want)
	}
}

func (e *envReader) bool(k string, def bool) bool {
	switch v := e.str(k, ""); v {
	case "":
		return def
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	default:
		e.fail(k, v, "true or false")
		return def
	}
}

// oneOf reads one of the values allowed, or def when unset.
func (e *envReader) oneOf(k, def string, allowed ...string) string {
	v := strings.ToLower(e.str(k, def))
	if v != def && !slices.Contains(allowed, v) {
		e.fail(k, v, strings.Join(allowed, " or "))
		return def
	}
	return v
}

// int reads a whole number of at least least.
func (e *envReader) int(k string, def, least int) int {
	v := e.str(k, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		e.fail(k, v, fmt.Sprintf("a whole number of at least %d", least))
		return def
	}
	return n
}

// duration reads a duration of at least least.
func (e *envReader) duration(k string, def, least time.Duration) time.Duration {
	v := e.str(k, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < least {
		e.fail(k, v, "a duration of at least "+least.String())
		return def
	}
	return d
}

// checkFetchWait refuses a consumer fetch wait the group cannot live
// with. A reader finishes the fetch it waits on before it leaves for a
// rebalance, which must end within the session timeout (the group's
// rebalance timeout here), after noticing the rebalance at a heartbeat:
// the wait may take at most half of that timeout. And a quiet partition's
// record waiting that long would look like a stall to the watchdog.
func (c config) checkFetchWait() error {
	w := c.ConsumerFetchWait
	switch {
	case w <= 0:
		return nil
	case w > c.SessionTimeout/2:
		return fmt.Errorf("WAGW_CONSUMER_FETCH_WAIT=%s is too long for WAGW_CONSUMER_SESSION_TIMEOUT=%s: a reader finishes its fetch before it joins a rebalance, which must end within the session timeout; keep the wait to at most %s, half of it",
			w, c.SessionTimeout, c.SessionTimeout/2)
	case w >= c.StallTimeout:
		return fmt.Errorf("WAGW_CONSUMER_FETCH_WAIT=%s is not shorter than WAGW_CONSUMER_STALL_TIMEOUT=%s: a quiet partition's record waiting that long would look like a stall",
			w, c.StallTimeout)
	}
	return nil
}

// fetchWait is WAGW_CONSUMER_FETCH_WAIT as consumer.Config takes it: 0
// (fetches answer as soon as a record is there) is negative there.
func fetchWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// bytes reads a size in bytes: at least 1 MiB, or -1 for no limit.
func (e *envReader) bytes(k string, def int64) int64 {
	v := e.str(k, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || (n != -1 && n < 1<<20) {
		e.fail(k, v, "a number of bytes of at least 1048576, or -1 for no limit")
		return def
	}
	return n
}

// positive reads a number greater than zero.
func (e *envReader) positive(k string, def float64) float64 {
	v := e.str(k, "")
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		e.fail(k, v, "a positive number")
		return def
	}
	return f
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
