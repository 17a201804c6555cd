// Package db owns every SQL statement of wagw: the embedded, numbered
// migrations, the Store that the consumer applies events with (one
// transaction per batch: dedupe, state change, assignment decision, outbox
// rows), the reads behind the HTTP API, the outbox claimed by the relay, and
// the mapping of driver errors to sentinel errors (ErrNotFound, ErrConflict,
// and IsTransient for errors worth retrying).
//
// SQL lives as constants next to the method that runs it. Idempotency is
// enforced by unique constraints in the same transaction as the effect, so
// applying the same event twice changes nothing.
package db
