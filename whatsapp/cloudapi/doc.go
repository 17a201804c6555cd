// Package cloudapi owns the WhatsApp Cloud API client: [Client] sends
// messages ([Client.Send]), marks them read with an optional typing
// indicator ([Client.MarkRead]) and passes, releases or takes threads
// ([Client.ThreadControl]) over HTTP. Each phone_number_id has its own
// circuit breaker ([Client.BreakerState]), token bucket and per-recipient
// pacing; the client records its metrics on the Prometheus registerer of
// [ClientConfig]. It makes one attempt per call: the retry policy
// ([Client.RetryPolicy]) is the caller's to apply.
//
// The message types, the error classes and the backoff are Meta's
// vocabulary and live in package whatsapp, which this package imports;
// classify the errors of this client with whatsapp.ClassOf,
// whatsapp.RetryAfter and whatsapp.Attempted.
package cloudapi
