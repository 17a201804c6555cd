package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// Only events from Meta can be poison (DESIGN §5). A command from the API
// or the relay that the store cannot apply for a reason retrying will not
// fix (a data error: a number out of range, a NUL in a text, an unknown
// command type) is refused: its failure, with a code, is stored as its
// result, and the rest of its batch is applied. The batch's transaction
// is then aborted, so the batch is applied again with the refused command
// stored as failed and, to find any other refused command in the same
// pass, each of its commands in a savepoint: no savepoint per command on
// the happy path, and at most two more passes for a hostile batch.

// errBadEvent: an envelope the store cannot apply as it is (no message in
// a message event, an unknown kind, a newer envelope version).
var errBadEvent = errors.New("bad event")

// isDataError reports whether err is a property of the event itself, which
// retrying cannot fix: a data error of Postgres (class 22, or class 23: a
// constraint), a command's data that is not JSON of the right shape, an
// unknown command, a bad envelope, or a change the fast path leaves to the
// one-by-one path.
func isDataError(err error) bool {
	if errors.Is(err, errIdentityRace) {
		return false
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		class := pqErr.Code.Class()
		return class == "22" || class == "23"
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.Is(err, errBadEvent) || errors.Is(err, ErrUnknownCommand) || errors.Is(err, errSlowPath) ||
		errors.As(err, &syntax) || errors.As(err, &typ)
}

// retryable: the batch is applied again later as it is (IsTransient),
// unless the failure is the event's own data.
func retryable(err error) bool { return IsTransient(err) && !isDataError(err) }

// refusal names the command of a batch that the store refused.
type refusal struct {
	index int
	err   error
}

func (r *refusal) Error() string { return fmt.Sprintf("command %d refused: %v", r.index, r.err) }
func (r *refusal) Unwrap() error { return r.err }

// applyGuarded applies the command events[i] in a savepoint: when the
// store refuses it, what it wrote is rolled back and its failure stored.
func (b *batch) applyGuarded(ctx context.Context, e *event.Envelope, i int, refused map[int]error) (Outcome, error) {
	if _, ok := b.refused[e]; ok {
		return b.apply(ctx, e)
	}
	var o Outcome
	err := b.savepoint(ctx, func() error {
		var err error
		o, err = b.apply(ctx, e)
		return err
	})
	if err == nil || retryable(err) {
		return o, err
	}
	refused[i], b.refused[e] = err, err
	return b.refuse(ctx, e, err)
}

// refuse stores a refused command's failure as its result, once.
func (b *batch) refuse(ctx context.Context, e *event.Envelope, cause error) (Outcome, error) {
	first, err := b.firstTime(ctx, e)
	if err != nil || !first {
		return Outcome{Duplicate: !first}, err
	}
	return Outcome{}, b.storeRefused(ctx, subjectOf(e, 0), refusedError(cause))
}

// refusedError is why a command was refused: the code says what kind of
// data the store could not take.
func refusedError(err error) *assigner.Error {
	var pqErr *pq.Error
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, ErrUnknownCommand):
		return assigner.NewError(assigner.ErrCodeUnknownCommand, err.Error())
	case errors.As(err, &syntax) || errors.As(err, &typ):
		return assigner.NewError(assigner.ErrCodeInvalidCommand, "the command's data is not valid: "+err.Error())
	case !errors.As(err, &pqErr):
		return assigner.NewError(assigner.ErrCodeCommandRefused, err.Error())
	case pqErr.Code == "22003":
		return assigner.NewError(assigner.ErrCodeOutOfRange, "a number in the command is out of range: "+pqErr.Message)
	case pqErr.Code == "22021" || pqErr.Code == "22P05":
		return assigner.NewError(assigner.ErrCodeInvalidText, "a text in the command cannot be stored (NUL or an invalid character)")
	case pqErr.Code.Class() == "22":
		return assigner.NewError(assigner.ErrCodeInvalidValue, "a value in the command cannot be stored: "+pqErr.Message)
	case pqErr.Code == "23503":
		return assigner.NewError(assigner.ErrCodeUnknownReference, "the command names something that does not exist")
	case pqErr.Code.Class() == "23":
		return assigner.NewError(assigner.ErrCodeConflict, "the command conflicts with stored data: "+pqErr.Message)
	}
	return assigner.NewError(assigner.ErrCodeCommandRefused, "the store refused the command: "+pqErr.Message)
}
