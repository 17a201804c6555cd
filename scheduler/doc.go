// Package scheduler owns the work that time and state changes start rather
// than an incoming event: it finds what has become due and produces it as a
// command onto the contact's own partition, so that the consumer decides it
// in order with the contact's other events (DESIGN §1, §6 rule 12).
//
// The queue drainer (Drainer, drain.go): when an agent may have become
// eligible (a Postgres notification on commit, or the periodic safety net)
// it publishes a drain command for each queued conversation that may be
// assignable now, and an expire command for each that waited past its
// inbox's queue expiry.
//
// The deadline timers (Timers, timers.go): conversation deadlines are rows
// in Postgres (a no-reply window, an away hand-back, a snooze's end, an
// auto-resolve after a quiet period, a first-response SLA); Timers sleeps
// until the next one is due, wakes early when a nearer one is set (a
// notification on commit), and publishes a timer command for each that fell due. The consumer
// applies it only if the conversation still has that deadline, so a reply
// and its deadline racing are decided once, in partition order.
//
// Both loops (loop.go) ride out a Kafka or Postgres outage of any length
// (see package outage) and say so through Health. On each look at the
// queue the drainer exports the queue's length and the age of its oldest
// conversation (queuestats.go).
package scheduler
