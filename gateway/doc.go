// Package gateway owns wagw's HTTP surface, built on Fiber: Meta's webhook
// endpoints (the GET handshake and the signed POST, which is answered 200
// only once Kafka acknowledged every event of it), the agent and admin API
// under /v1 with bearer tokens, and /healthz, /readyz and /metrics; and the
// small health server of the roles that serve no other HTTP (NewHealth).
//
// It never writes contact state itself: changes to a contact are produced
// as commands onto the contact's partition and applied by the consumer, and
// the API waits a bounded time for their result.
package gateway
