// Package wagwtest holds what the tests of several packages share:
// waiting for a condition, reading a metric, a logger that discards, and
// the body of a Cloud API webhook. Like net/http/httptest, it exists for
// tests only.
package wagwtest
