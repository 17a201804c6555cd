// Package dbtest gives each test its own real Postgres database: created
// fresh, migrated, and dropped when the test ends. Like net/http/httptest,
// it exists for tests only. The server is WAGW_TEST_DATABASE_URL, by default
// the local Postgres; a test fails, never skips, when it cannot be reached.
package dbtest
