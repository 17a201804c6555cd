// Package scheduler owns the work that time and state changes start rather
// than an incoming event: it finds what has become due and produces it as a
// command onto the contact's own partition, so that the consumer decides it
// in order with the contact's other events (DESIGN §1, §6 rule 12).
//
// Today that is the queue drainer (Drainer): when an agent may have become
// eligible (a Postgres notification on commit, or the periodic safety net)
// it publishes a drain command for each queued conversation that may be
// assignable now, and an expire command for each that waited past its
// inbox's queue expiry. The drainer rides out a Kafka or Postgres outage of
// any length (see package outage) and says so through Health. On each look
// at the queue it exports the queue's length and the age of its oldest
// conversation (queuestats.go).
package scheduler
