package db

import (
	"context"
	"fmt"

	"github.com/wagw/wagw/event"
)

const sqlNoticeInsert = `INSERT INTO notices (event_id, field, waba_id, phone_number_id, received_at, raw)
	VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`

func (b *batch) applyNotice(ctx context.Context, e *event.Envelope) (Outcome, error) {
	res, err := b.tx.ExecContext(ctx, sqlNoticeInsert, e.ID, e.Field, e.WABAID, e.PhoneNumberID, e.ReceivedAt, nullJSON(e.Raw))
	if err != nil {
		return Outcome{}, fmt.Errorf("notice: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Outcome{Duplicate: true}, nil
	}
	return Outcome{}, nil
}
