// Package consumer owns the Kafka side of applying events: a consumer group
// over the events topic in which each worker owns whole partitions, reads
// them in offset order, applies a batch of records in one Postgres
// transaction through Store, and commits the batch's offsets only after that
// transaction committed. Transient failures are retried with backoff; a
// poison record goes to the dead-letter topic with its reason and its
// contact is blocked so later events of that contact cannot overtake it.
// A gap filler of the embedded broker (broker.IsGapFiller: a record lost
// in a crash that was never acknowledged) is passed over.
//
// A worker that has a record waits for more as long as its last batch took
// to apply, at most Config.Linger: alone, a record is applied at once; under
// load, what arrives meanwhile shares the transaction and its commit.
//
// The consumer rides out a Kafka or Postgres outage of any length (see
// package outage): it backs off, says so through Health (for /readyz) and
// wagw_dependency_up, logs once when a dependency starts failing and once
// when it works again, and resumes by itself.
//
// The group's lag (lag.go) is measured from the brokers (log end minus the
// committed offset; the received_at of the first record not committed) for
// the stall watchdog and, per partition, for wagw_consumer_lag_records and
// wagw_consumer_lag_seconds.
package consumer
