// Package db owns every SQL statement of wagw: the embedded, numbered
// migrations, the Store that the consumer applies events with (one
// transaction per batch: dedupe, state change, assignment decision, outbox
// rows), the reads behind the HTTP API, the outbox claimed by the relay,
// contact identity (contacts.go: keyed by the business-scoped user id,
// linked to the wa_id, merged when two rows turn out to be one person, by
// the contact's own messages only, with the contacts a batch writes
// messages for locked until it commits, since messages carry no foreign
// keys; lookup.go: statuses and notices only look their contact up),
// blocking, holding and releasing by contact id (release.go), refused
// commands (refuse.go: only events from Meta can be poison), retention of
// the bookkeeping tables (retention.go), and the mapping of driver errors to
// sentinel errors (ErrNotFound, ErrConflict, and IsTransient for errors
// worth retrying).
//
// It speaks no HTTP: a command's handler returns a typed outcome
// (assigner.Outcome) or a domain error (*assigner.Error, with a stable
// code), and the command's result is stored as that data (the outcome's
// kind and JSON, or the error's code and message) for the API to read.
//
// The apply engine: apply.go is the entry point (Apply, the batch, the
// dispatch by kind); one file per kind of event — messages.go, statuses.go,
// notices.go, routing.go (Conversation Routing: handovers, standby
// messages and echoes; a messages-field message of a contact whose thread
// another responder owns takes it back, one by one, messages.go),
// commands_apply.go (with send.go for replies and read marks
// and queue.go for the waiting queue's drain and expiry); openings.go
// decides and persists the conversations a batch opened, assign.go loads
// and persists the shared state a decision needs. bulk.go is the batch
// path for runs of messages; twopath_test.go proves that it and the
// one-by-one path leave the same rows. Its statements take a batch's rows
// as array parameters, written sized by arrays.go.
//
// SQL lives as constants next to the method that runs it. Idempotency is
// enforced by unique constraints in the same transaction as the effect, so
// applying the same event twice changes nothing.
//
// Audit (audit.go) is the read-only view the load tester's verifier
// compares with the traffic it sent. Listen (listen.go) turns the queue
// and timer channels' notifications into wake-ups of the scheduler's loops;
// timers.go stores conversation deadlines and applies them when due
// (autoresolve.go: the auto-resolve deadline every message moves, the
// closing message, and the previous conversation the sticky rule reads;
// sla.go: the first-response SLA's breach);
// ListenChanges turns the changes channel's notifications (announced on
// commit by the triggers of migration 013, whatever path wrote the rows;
// since migration 017 a heartbeat alone announces nothing) into
// assigner.Change values for the gateway's live events. TeamState reads a
// team as its strategy sees it, without locking (the board's next pick),
// with the loader the strategy's locked read uses. A command's result
// keeps what it was about and who issued it (migration 017), for the
// API's visibility check.
// Warm (warm.go) opens connections of the pool at start and has each plan
// a read of every table, so that the first burst does not wait for new
// backends to load the catalog. CommitWatch (commitwatch.go) hears, for
// the load tester's verifier, when each conversation was committed.
// Open waits up to BusyWait for a Postgres that refuses connections for
// now (no free slot, starting up). QueueStats (queue.go) reads the queue's
// length and oldest conversation for the metrics; Instrument (metrics.go)
// records assignment latency (wagw_assignment_seconds) after each commit,
// InstrumentSLA the first-response SLA breaches (wagw_sla_breaches_total).
// DriverURL (dsn.go) is the URL Open hands to the driver: DATABASE_URL as
// written (sslmode=verify-full and its root certificate included) with the
// pool's application_name and statement_timeout, checked the way the
// driver will read it. Open's connections keep the statements they run
// prepared (prepared.go), so Postgres parses each once per connection.
package db
