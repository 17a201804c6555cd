// Package simulator is a fake WhatsApp Cloud API, in the way
// net/http/httptest is a fake server: `wagw serve` without an access token
// sends to it, `wagw simulate` runs it on its own, and tests and load tests
// use it in-process.
//
// A Simulator stands in for graph.facebook.com: it accepts
// POST /{version}/{phone_number_id}/messages like the Cloud API does
// (bearer token, body validation, per-number and per-recipient rate limits
// answered with Meta's 130429 and 131056 errors), injects latency, timeouts,
// HTTP 5xx and any Meta error code at configurable rates, records every
// accepted message, and sends the status webhooks (sent, delivered, read,
// failed) of each accepted message back to the gateway, signed with the app
// secret exactly like Meta, with realistic delays, duplicates and
// reordering (a send to a business-scoped user id is reported in
// recipient_user_id, as Meta does). It also plays Conversation Routing on
// a shared number: POST /{version}/{phone_number_id}/thread_control, and
// on request (SendRouting, POST /_sim/routing) the signed
// messaging_handovers and standby webhooks of another responder (its
// control_passed and control_taken, a user's standby message, its message
// echoes and their statuses). Its /_sim/ endpoints let tests and load tests change faults
// at run time and read back what was sent; CheckSends holds what it
// accepted against the outbox rows that should have been sent.
package simulator
