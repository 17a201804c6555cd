// Command wagw is the WhatsApp Cloud API webhook gateway. `wagw serve` runs
// every role in one process (with an embedded Kafka broker and the Cloud API
// simulator when nothing else is configured); `gateway`, `consumer`,
// `relay`, `migrate`, `simulate` and `loadtest` run one role each.
//
// This package owns configuration (config.go: the environment, then flags;
// each setting documents its default, a constant of the package that owns
// it), the roles of a command as a list each with start and stop
// (roles.go; kafka.go: the Kafka security settings, the embedded broker
// and the topics every role creates or compares at start), and the small supervisor that starts them in order, ends the
// process with the first error of any, and stops them in reverse order
// (supervise.go): stop taking HTTP, stop the relay, the queue drainer and
// the timers, drain the consumer's batches and commit, flush the producer,
// close the database, stop the embedded broker. main only builds a context with
// signal handling and calls run; run writes what the user reads to stdout
// and logs to stderr. The loadtest subcommands (load*.go) parse flags and
// wire the loadtest package to the database (db.Audit) or the API.
package main
