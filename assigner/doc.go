// Package assigner is wagw's assignment domain: agents, teams, inboxes
// with their routing rules, conversations and their assignees, and the
// pure functions that decide who handles a conversation and why.
//
// It does no I/O, reads no clock (now is always passed in), logs nothing
// and has no globals. The one outside read is the time zone database,
// through time.LoadLocation, for business-hours rules; a binary that
// cannot rely on the system's zoneinfo should import time/tzdata in main.
//
// # How the store uses it
//
// The store (package db) loads the state into these plain structs, calls a
// decision function inside its transaction, and persists the returned
// Decision in the same transaction; the Decision's doc comment lists what
// to write. Decisions carry both the full resulting state (TeamID,
// Assignees, Queued) and the deltas (Added, Removed, Updated, Chosen,
// OpenCountDelta), and every step is explained by a Reason: a stable Code
// for machines and a sentence for an admin ("Ana was skipped: offline
// since 10:02 (no heartbeat for 7 min).").
//
// Errors are domain errors (*Error, errors.go): a stable ErrorCode and a
// message. The sentinels ErrNotFound, ErrInvalid, ErrNotMember,
// ErrAlreadyClaimed and ErrResolved carry their codes and are wrapped with
// the detail; AsError finds the code in a chain. Only the API maps codes
// to statuses. A command the store applied has an Outcome
// (outcome.go): a typed value of its kind, stored as the command's result.
//
// # Reply rules
//
// DecideReply (reply.go) says whether an agent's message may be sent: a
// template with a name any time, a free-form message (text, interactive)
// only within the customer-service window after the contact's last
// message (InServiceWindow, default 24 h).
//
// # Rules (DESIGN §6) and where they live
//
//	1  conversation opened             DecideOpen (the store decides that a
//	                                   message opens one and dedupes bursts)
//	2  default assignees (owners)      DecideOpen: owners first, not gated
//	                                   on presence; deactivated ones skipped
//	3  manual assignment, unassign     DecideManual (add|replace; replace
//	                                   keeps owners), DecideUnassign
//	4  flow assignment adds            DecideFlowStep; DecideOpen treats a
//	                                   routing step naming users as a flow step
//	5  first responder becomes owner   DecideFirstResponder
//	6  pick-and-assign, claims         DecideClaim; DecideOpen leaves the
//	                                   conversation unassigned (CodeAwaitingClaim)
//	7  route to team first             Route (used by DecideOpen), Inbox.Validate
//	8  round robin                     PickRoundRobin, Strategy
//	9  least open                      PickLeastOpen, Strategy
//	10 nobody eligible: queue          Decision.Queued, DrainQueue, ExpireQueued
//	11 welcome message                 DecideOpen (Decision.Welcome)
//	13 roles and visibility            Viewer.Scope, Scope.Allows (the store's
//	                                   list filter uses the same Scope),
//	                                   Viewer.MayEditTeam, MayReadTeam
//	14 Conversation Routing            ThreadOwner; DecideReply refuses
//	                                   free-form replies while another
//	                                   responder owns the thread; DecideTaken;
//	                                   ThreadOwnerAfter (handovers, standby,
//	                                   a messages-field message → wagw);
//	                                   DecideHandedOver (re-arms no-reply),
//	                                   DecideOpenHandedOver, DecideControlTaken
//	–  resolve                         DecideResolve
//	12 time-based rules (issue 12)     timer.go: Timer, Decision.SetTimers and
//	                                   CancelTimers; no reply: DecideNoReply
//	                                   (armed by strategy picks, cancelled by
//	                                   the first reply, resolve, unassign);
//	                                   away and offline: DecideAway;
//	                                   snooze: DecideSnooze, DecideWake;
//	                                   auto-resolve and closing message:
//	                                   DecideAutoResolve (the store arms
//	                                   it on every message); sticky
//	                                   assignee: DecideOpen with
//	                                   OpenInput.Previous, after owners
//	                                   and before routing;
//	                                   first-response SLA (sla.go): armed by
//	                                   DecideOpen in the inbox's business
//	                                   hours (AddBusinessTime), cancelled by
//	                                   the first reply, DecideSLA records
//	                                   the breach
//
// # Queued versus waiting for a claim
//
// Decision.Queued means a team strategy would pick someone but nobody is
// eligible yet; DrainQueue assigns the conversation when someone becomes
// eligible. A conversation of a manual-strategy team, or of an inbox with
// no routing, is not queued: it waits unassigned for an agent to claim it.
//
// # Fairness under concurrency
//
// Round robin and least open are deterministic functions of the team
// state: the same state gives the same pick. They are fair under
// concurrency because the store calls them while holding a lock on the
// team (a transaction-scoped advisory lock keyed by the team) and persists the
// consequences, the chosen member's last assignment time and the agents'
// open counts, in the same transaction. Two conversations decided at the
// same moment are therefore decided one after the other, the second
// seeing the first's pick, and never choose the same "next" agent.
//
// The recorded time is Decision.ChosenAt (TeamState.NextAssignedAt), not
// the bare now: it is strictly later than every earlier pick of the team,
// so the rotation holds when several picks share one timestamp (now() is
// constant within a Postgres transaction) or when consumers on different
// hosts have skewed clocks. Within one call, DrainQueue applies the same
// updates to its own copy of the state between picks.
package assigner
