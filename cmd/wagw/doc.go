// Command wagw is the WhatsApp Cloud API webhook gateway. `wagw serve` runs
// every role in one process (with an embedded Kafka broker and the Cloud API
// simulator when nothing else is configured); `gateway`, `consumer`,
// `relay`, `migrate`, `simulate` and `loadtest` run one role each.
//
// This package owns configuration (environment, then flags), the wiring of
// the roles, and their ordered shutdown: stop taking HTTP, stop the relay
// and the queue drainer, drain the consumer's batches and commit, flush the
// producer, close the database, stop the embedded broker. main only builds
// a context with signal handling and calls run.
package main
