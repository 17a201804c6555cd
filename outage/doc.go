// Package outage owns how a role rides out an outage of Kafka or Postgres
// (DESIGN §5): a Dependency records whether the role's calls to one of them
// work, logs once when they start failing and once when they work again
// (never once per retry), exports the state as wagw_dependency_up{role,
// dependency} and says since when calls fail (for /readyz); Backoff is
// the capped exponential backoff with jitter the role waits by between
// attempts. The consumer, the relay and the scheduler use it alike.
package outage
