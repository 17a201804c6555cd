// Package wagwtest holds what the tests of several packages share:
// waiting for a condition, reading a metric, capturing or discarding logs,
// the body of a Cloud API webhook, the conformance corpus of Meta's
// payloads, JSON checks (same value, storable by Postgres), reading back
// what a topic or partition holds, and a Kafka cluster that takes only TLS
// with SASL logins, with a CA generated for the test. Like
// net/http/httptest, it exists for tests only.
package wagwtest
