package db

import (
	"context"
	"database/sql"

	"github.com/wagw/wagw/whatsapp"
)

var errNoRows = sql.ErrNoRows

// conversationOpened runs the assignment and welcome rules for a
// conversation the contact just opened.
func (b *batch) conversationOpened(ctx context.Context, e *whatsapp.Envelope, c contactRow, convID int64) error {
	return nil
}

// applyCommand applies one command from the API or the relay.
func (b *batch) applyCommand(ctx context.Context, e *whatsapp.Envelope, c contactRow) (Outcome, error) {
	first, err := b.firstTime(ctx, e)
	if err != nil || !first {
		return Outcome{Duplicate: !first}, err
	}
	return Outcome{}, ErrUnknownCommand
}
