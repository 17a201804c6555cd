package db

import (
	"context"
	"fmt"

	"github.com/wagw/wagw/event"
)

const (
	sqlStatusInsert = `INSERT INTO statuses (wamid, status, rank, occurred_at, received_at, error_code, error_title, raw)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`
	// A status moves a message forward only: a late "delivered" never
	// overwrites "read", and "failed" is terminal.
	sqlStatusApply = `UPDATE messages SET status = $2, status_rank = $3, status_at = $4,
		error_code = COALESCE($5, error_code), error_title = CASE WHEN $6 <> '' THEN $6 ELSE error_title END
		WHERE wamid = $1 AND direction IN ('out', 'out_other') AND status_rank < $3`
)

func (b *batch) applyStatus(ctx context.Context, e *event.Envelope) (Outcome, error) {
	st := e.Status
	at := st.Time()
	if at.IsZero() {
		at = e.OccurredAt
	}
	var code *int
	var title string
	if len(st.Errors) > 0 {
		c := st.Errors[0].Code
		code, title = &c, st.Errors[0].Title
	}
	res, err := b.tx.ExecContext(ctx, sqlStatusInsert, st.ID, st.Status, st.Rank(), at, e.ReceivedAt, code, title, nullJSON(st.Raw))
	if err != nil {
		return Outcome{}, fmt.Errorf("status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Outcome{Duplicate: true}, nil
	}
	res, err = b.tx.ExecContext(ctx, sqlStatusApply, st.ID, st.Status, st.Rank(), at, code, title)
	if err != nil {
		return Outcome{}, fmt.Errorf("apply status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 { // perhaps its send's report is being applied now
		b.settle = append(b.settle, st.ID)
	}
	return Outcome{}, nil
}
