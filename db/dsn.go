package db

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/lib/pq"
)

// Defaults of Config.
const (
	// DefaultMaxConns bounds the connections of one process's pool.
	DefaultMaxConns = 16
	// DefaultStatementTimeout cancels a statement stuck on a lock or a
	// runaway plan; the consumer retries the batch as a transient failure.
	DefaultStatementTimeout = 30 * time.Second
	// DefaultApplicationName names wagw's connections in pg_stat_activity.
	DefaultApplicationName = "wagw"
)

// DriverURL is the connection URL Open hands to the driver: cfg.URL with
// the settings of cfg that the URL does not set itself (application_name,
// statement_timeout) and binary parameters. Everything else of the URL
// (sslmode=verify-full, sslrootcert, …) is kept as it is. It fails when
// the driver would refuse the URL (an unknown sslmode, a malformed
// parameter), naming what is wrong and not the password.
func DriverURL(cfg Config) (string, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if cfg.StatementTimeout == 0 {
		cfg.StatementTimeout = DefaultStatementTimeout
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = DefaultApplicationName
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("DATABASE_URL %s: want postgres://user:password@host:port/database?sslmode=…", redact(cfg.URL))
	}
	q := u.Query()
	setDefault := func(k, v string) {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	setDefault("binary_parameters", "yes")
	if q.Get("application_name") == "" {
		q.Set("fallback_application_name", cfg.ApplicationName)
	}
	if cfg.StatementTimeout > 0 {
		setDefault("statement_timeout", strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10))
	}
	u.RawQuery = q.Encode()
	dsn := u.String()
	if _, err := pq.NewConfig(dsn); err != nil {
		return "", fmt.Errorf("DATABASE_URL %s: %w", redact(cfg.URL), err)
	}
	return dsn, nil
}
