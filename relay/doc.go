// Package relay owns the outbound half of the flow: it claims the outbox
// rows the consumer's transactions wrote (welcome messages, agent replies,
// mark-as-read), sends them through the Cloud API client, records what
// happened (the wamid, a retry later, a failure for good) and reports each
// outcome back onto its contact's partition as a send_result command, so
// that the consumer applies it in order with the contact's other events.
//
// A contact's rows go out in order; relays share the outbox through leases
// and each row is sent once unless a send's outcome is lost with its relay.
// Transient failures are retried with backoff up to a cap, throttling waits
// as Meta asks, permanent errors fail the row, and an account-level refusal
// pauses the number. The relay rides out a Kafka or Postgres outage of any
// length (see package outage) and says so through Health. The records of
// sends that finish together are written together, one statement and one
// commit for all of them (group.go).
package relay
