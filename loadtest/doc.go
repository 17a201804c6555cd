// Package loadtest owns the traffic generator and replayer, the Cloud API
// simulator and the end-to-end verifier.
//
// The simulator (Simulator) stands in for graph.facebook.com: it accepts
// POST /{version}/{phone_number_id}/messages like the Cloud API does
// (bearer token, body validation, per-number and per-recipient rate limits
// answered with Meta's 130429 and 131056 errors), injects latency, timeouts,
// HTTP 5xx and any Meta error code at configurable rates, records every
// accepted message, and sends the status webhooks (sent, delivered, read,
// failed) of each accepted message back to the gateway, signed with the app
// secret exactly like Meta, with realistic delays, duplicates and
// reordering. Its /_sim/ endpoints let tests and load tests change faults
// at run time and read back what was sent.
package loadtest
