// Package event owns the record on the contact log: the versioned
// Envelope that travels on the events topic keyed by contact, its one
// encoding (Encode and Decode, codec.go), its kinds
// (message, status, handover, echo, notice, command), the contact key that picks its
// partition, the commands with their one constructor (NewCommand) and one
// decoder (DecodeCommand), and the id schemes that make a redelivered
// record apply once.
//
// Every change to a contact's state is one record on that contact's
// partition, whoever asks for it: Meta (a message, a status, a notice,
// turned from a webhook's items by Split), the API (assign, claim, reply…),
// the relay (a send's outcome) or the scheduler (a queued conversation to
// drain, a deadline that fell due). The consumer applies a partition's
// records in order, so one writer decides each contact's state.
//
// # Ids
//
// An envelope's id is its idempotency key in the store: a record applied
// twice under one id has effect once.
//   - A message, and a standby echo: its wamid; a status: "wamid:status"
//     (sent, delivered and read of one message are three records). A
//     handover: a hash of the WABA id, the field, the user, the number and
//     the handover's fields. Without a wamid, and for a
//     notice, a hash of the WABA id, the field and the item's compacted
//     JSON, so that Meta redelivering a webhook gives the same ids.
//   - An API command: NewCommandID, a random "cmd_…": every request is a new
//     command (an Idempotency-Key maps a retried request to its first id).
//   - A scheduled command: ScheduledID, "type:subject:time"; the same
//     subject due again later is a new command.
//   - A conversation deadline: TimerID, "timer:kind:conversation:due time";
//     published again while it waits, it applies once; a deadline that
//     moved is a new command.
//   - A send's outcome: ResultID, "send_result:outbox id"; the relay
//     reporting one row twice applies once.
package event
