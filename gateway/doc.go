// Package gateway owns wagw's HTTP surface, built on Fiber: Meta's webhook
// endpoints (the GET handshake and the signed POST, which is answered 200
// only once Kafka acknowledged every event of it), the agent and admin API
// under /v1 with bearer tokens, and /healthz, /readyz and /metrics; and the
// small health server of the roles that serve no other HTTP (NewHealth),
// and the app that serves /metrics alone on an address of its own
// (NewMetrics, WAGW_METRICS_ADDR); the operator console's assets, embedded
// and served at /console/ (console.go, gateway/console/), and its live
// events: GET /v1/events, a Server-Sent Events stream of the store's
// committed changes, batched, read once for every stream and filtered by
// what each caller may see (live.go, mayView); and the board's forecast of
// who a team's strategy picks next, by the strategy itself (board.go).
//
// A signed webhook is taken in only while fewer are in flight than the
// gateway answers in MaxWait at its measured rate (admission.go); another
// is shed with 503 and Retry-After before it is parsed.
//
// The listener keeps a bounded number of connections open
// (LimitConnections, connlimit.go); one more takes the slot of a silent
// connection or of one whose request stalled arriving, or is answered 503
// with Retry-After before a byte of it is read.
//
// Bearer tokens not seen valid lately get a budget of Postgres lookups
// (tokengate.go); past it they are answered 429 without one. Readiness
// checks are shared and their outcome reused for a second (health.go).
//
// Every request first gets its id (requestid.go): X-Request-Id when the
// caller sent a sane one, generated otherwise, returned on the answer and
// carried by the request's log lines. Probe is the client side of
// /readyz, for `wagw probe` (the health check of the distroless image).
//
// Every request body is read by one middleware (body.go) before a token or
// a signature is looked at: bodies are streamed and taken as sent (no
// Content-Encoding), bounded per route, and large ones are capped in
// number, so an unauthenticated client costs a small multiple of what it
// sent. API bodies are then decoded strictly (validate.go) and checked
// before anything is produced; a signed webhook is never refused for its
// content (what cannot be parsed or encoded is dead-lettered).
//
// It never writes contact state itself: changes to a contact are produced
// as commands onto the contact's partition and applied by the consumer, and
// the API waits a bounded time for their result.
//
// It is the one place where the domain meets HTTP (errors.go): a domain
// error's code and a command outcome's kind each have their status in one
// table. Each group of handlers declares the small store interface it uses
// (Reader, TokenStore, CommandStore, AgentStore, TeamStore, InboxStore);
// New takes them as Stores.
package gateway
