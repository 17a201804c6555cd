package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// The apply engine's entry point: Apply runs a batch of events in one
// transaction, through the bulk path (bulk.go) when the batch allows it and
// one by one otherwise, and dispatches each event by kind: messages.go,
// statuses.go, notices.go, routing.go (handovers, standby messages and
// echoes), commands_apply.go (and queue.go, send.go for the
// commands they own); openings.go decides and persists the conversations a
// batch opened. twopath_test.go proves both paths leave the same rows.

// ErrUnknownCommand is returned for a command type the store does not know.
var ErrUnknownCommand = event.ErrUnknownCommand

// batch carries what one transaction learned, so that one batch does not
// look the same contact or inbox up twice.
type batch struct {
	// set by prepare (the fast path): message id per prepared event (0: a
	// duplicate), open conversation per contact and inbox (0: none), and
	// bookkeeping not yet written
	pre      map[*event.Envelope]int64
	convs    map[convKey]int64
	pend     pending
	openings []opening                 // decided by decideOpenings
	routes   map[*event.Envelope]route // conversations of plain contacts' new messages (bulkconv.go)
	// statuses stored by prepare: whether each was new
	preStatus map[*event.Envelope]bool
	// contacts whose thread another responder owns, read by prepare:
	// their messages take the thread back (messages.go) one by one
	elsewhere map[int64]bool

	// inbox settings and locked teams read by this transaction
	settings map[string]assigner.Inbox
	teams    map[int64]assigner.TeamState

	tx       *sqlx.Tx
	rules    Rules
	now      time.Time
	contacts map[string]contactRow        // contacts of messages and commands, by key
	seen     map[string]event.Contact     // what the messages of a key in contacts said (contact)
	looked   map[event.Contact]contactRow // contacts of statuses and notices (lookup.go)
	inboxes  map[string]bool

	settle     []string                  // wamids whose statuses are settled at the end (send.go)
	wroteLater []int64                   // conversations written to after their undecided opening (flush)
	wrote      *wroteRules               // what a contact's message may start (away.go); nil: not read yet
	refused    map[*event.Envelope]error // commands stored as failed (refuse.go)
	savepoints int                       // savepoints taken, for their names
	assigned   []float64                 // seconds from opening to a first assignee (metrics.go)
	breaches   [][2]string               // inbox and team of each first-response SLA breached (sla.go)
}

type contactRow struct {
	ID      int64
	Blocked bool
	Fresh   bool // created by this transaction: no owners yet
}

// Apply applies events in order in one transaction. Transient failures
// (connection, deadlock) come back as they are, to be retried; a failure of
// one event that retrying cannot fix comes back as *EventError.
func (s *Store) Apply(ctx context.Context, events []event.Envelope, now time.Time) error {
	_, err := s.ApplyOutcomes(ctx, events, now)
	return err
}

// ApplyOutcomes is Apply that also says what each event did.
func (s *Store) ApplyOutcomes(ctx context.Context, events []event.Envelope, now time.Time) ([]Outcome, error) {
	return s.applyOutcomes(ctx, events, now, bulkPath)
}

// path is how a batch is applied.
type path int

const (
	bulkPath path = iota // the fast path where the batch allows it (bulk.go)
	oneByOne             // each event in turn; the batch's deferred work at its end
	// probeEach is oneByOne that also tries each event's deferred work
	// before the next event, to name the event a failure of that work
	// belongs to. Off the bulk path that work is settling statuses
	// (openings are decided as they come, conversationOpened): tried in a
	// savepoint rolled back (probeSettle), so that the wamid locks are
	// still taken last, at the batch's end.
	probeEach
)

// applyOutcomes applies the batch; when a command is refused, the batch is
// applied again with its failure stored, and its other commands each in a
// savepoint (refuse.go).
func (s *Store) applyOutcomes(ctx context.Context, events []event.Envelope, now time.Time, p path) ([]Outcome, error) {
	refused := map[int]error{}
	for {
		out, err := s.applyBatch(ctx, events, now, p, refused)
		var r *refusal
		if !errors.As(err, &r) {
			return out, err
		}
		if _, again := refused[r.index]; again { // not even its failure can be stored
			return nil, &EventError{Index: r.index, Err: r.err}
		}
		refused[r.index] = r.err
	}
}

// applyBatch applies the batch in one transaction along path p. A failure
// that retrying cannot fix takes the batch down the next path, until the
// event it belongs to is known: the bulk path cannot name one, and one by
// one the batch's deferred work (finish), done at its end, fails on the
// last event whichever event left the work that failed.
func (s *Store) applyBatch(ctx context.Context, events []event.Envelope, now time.Time, p path, refused map[int]error) ([]Outcome, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	b := &batch{tx: tx, rules: s.rules, now: now, contacts: map[string]contactRow{}, seen: map[string]event.Contact{}, inboxes: map[string]bool{},
		looked: map[event.Contact]contactRow{}, refused: map[*event.Envelope]error{}}
	for i, err := range refused {
		b.refused[&events[i]] = err
	}
	guarded := len(refused) > 0 // a batch with a refused command: one by one, commands in savepoints
	if p == bulkPath && !guarded && bulkable(events) {
		if err := b.prepare(ctx, events); err != nil {
			if retryable(err) {
				return nil, err
			}
			// Which event is at fault? The one-by-one path says.
			tx.Rollback()
			return s.applyBatch(ctx, events, now, oneByOne, refused)
		}
	}
	out := make([]Outcome, len(events))
	for i := range events {
		apply := b.apply
		if guarded && events[i].Kind == event.KindCommand {
			apply = func(ctx context.Context, e *event.Envelope) (Outcome, error) {
				return b.applyGuarded(ctx, e, i, refused)
			}
		}
		settled := len(b.settle)
		o, err := apply(ctx, &events[i])
		finishing := err == nil && i == len(events)-1
		switch {
		case finishing:
			err = b.finish(ctx)
		case err == nil && p == probeEach:
			err = b.probeSettle(ctx, b.settle[settled:])
		}
		if err != nil {
			if retryable(err) {
				return nil, err
			}
			if b.pre != nil {
				tx.Rollback()
				return s.applyBatch(ctx, events, now, oneByOne, refused)
			}
			if finishing && i > 0 && p != probeEach {
				tx.Rollback()
				return s.applyBatch(ctx, events, now, probeEach, refused)
			}
			if events[i].Kind == event.KindCommand {
				return nil, &refusal{index: i, err: err}
			}
			return nil, &EventError{Index: i, Err: err}
		}
		o.EventID = events[i].ID
		out[i] = o
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.observe(b)
	return out, nil
}

// finish writes what the batch's events left pending, then decides and
// writes the conversations they opened, then settles statuses. Deciding
// locks the teams it reads (round robin, least open) until commit, so the
// bookkeeping is written before: other consumers wait for this batch's
// openings, not for its bookkeeping (the one-by-one path, too, wrote every
// message's effects before the openings were decided). Settling takes its
// wamid locks last, after any team lock, as every batch does (send.go).
func (b *batch) finish(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	if err := b.decideOpenings(ctx); err != nil {
		return err
	}
	return b.settleStatuses(ctx)
}

func (b *batch) apply(ctx context.Context, e *event.Envelope) (Outcome, error) {
	if cause, ok := b.refused[e]; ok {
		return b.refuse(ctx, e, cause)
	}
	if e.Version > event.Version {
		return Outcome{}, fmt.Errorf("%w: envelope version %d is newer than this consumer understands (%d)", errBadEvent, e.Version, event.Version)
	}
	var c contactRow
	var err error
	switch {
	case e.ContactKey != "": // a command
		c, err = b.contactByKey(ctx, e.ContactKey)
	case e.Contact.Key() == "":
	case e.Kind == event.KindMessage, e.Kind == event.KindHandover, e.Kind == event.KindEcho: // about the contact's thread: creates and links
		c, err = b.contact(ctx, e.Contact)
	default: // a status or a notice: looks up only
		c, err = b.lookupContact(ctx, e.Contact)
	}
	if err == nil && e.Kind == event.KindMessage && !c.Blocked {
		if _, _, _, _, change := identityChange(e.Message); change {
			c, err = b.changeIdentity(ctx, e, c)
		}
	}
	if err != nil {
		return Outcome{}, err
	}
	if c.Blocked && !(e.Kind == event.KindCommand && e.Command != nil && e.Command.Type == event.CmdRelease) {
		if _, stored := b.preStatus[e]; stored { // its id was linked to this contact after prepare
			return Outcome{}, errSlowPath
		}
		return b.hold(ctx, e, c)
	}
	if id, ok := b.pre[e]; ok {
		return b.applyPrepared(ctx, e, c, id)
	}
	if fresh, ok := b.preStatus[e]; ok {
		return Outcome{Duplicate: !fresh}, nil // stored by prepare; applied by flush
	}
	if b.pre != nil && e.Kind == event.KindCommand {
		// Any command may run a team's strategy or change agents' open
		// counts (assign, claim, resolve, a deadline), which the openings
		// before it in the batch decide first when applied one by one:
		// they are decided before it, whichever contact they are of.
		if err := b.decideOpenings(ctx); err != nil {
			return Outcome{}, err
		}
	}
	if b.pre != nil && e.Kind == event.KindCommand && c.ID != 0 {
		// A command may read what the fast path has not written yet for its
		// contact (the service window, the conversation's messages) and may
		// resolve or open conversations: the open conversations prepare
		// read for the contact's later messages are read again. Other
		// contacts' commands and statuses and notices touch neither.
		if b.pend.contacts[c.ID] {
			if err := b.flush(ctx); err != nil {
				return Outcome{}, err
			}
		}
		for k := range b.convs {
			if k.contact == c.ID {
				delete(b.convs, k)
			}
		}
	}
	switch e.Kind {
	case event.KindMessage:
		if e.Message == nil {
			return Outcome{}, fmt.Errorf("%w: message event without a message", errBadEvent)
		}
		if c.ID == 0 {
			return Outcome{}, fmt.Errorf("%w: message event without a contact", errBadEvent)
		}
		return b.applyMessage(ctx, e, c)
	case event.KindStatus:
		if e.Status == nil {
			return Outcome{}, fmt.Errorf("%w: status event without a status", errBadEvent)
		}
		return b.applyStatus(ctx, e)
	case event.KindNotice:
		return b.applyNotice(ctx, e)
	case event.KindHandover:
		return b.applyHandover(ctx, e, c)
	case event.KindEcho:
		return b.applyEcho(ctx, e, c)
	case event.KindCommand:
		if e.Command == nil {
			return Outcome{}, fmt.Errorf("%w: command event without a command", errBadEvent)
		}
		return b.applyCommand(ctx, e, c)
	default:
		return Outcome{}, fmt.Errorf("%w: unknown event kind %q", errBadEvent, e.Kind)
	}
}
