package loadtest

import (
	"strconv"
	"time"
)

// Recovery is how a target came through a fault that lasted from Start to
// End, measured from a run's records and the messages it stored.
type Recovery struct {
	Start, End time.Time
	// Failed counts the requests answered after Start, and intended before
	// the first acknowledgement after End, that were not answered 2xx, by answer
	// ("503", "timeout", "refused"…): what the senders saw.
	Failed map[string]int
	// Acknowledging is from End to the first 2xx answer to a request
	// intended after End; -1 when none was.
	Acknowledging time.Duration
	// Stored is from End until every message acknowledged before End was
	// stored; 0 when they all were by End, -1 when some never were.
	Stored time.Duration
	// Resumed is from End until the first message acknowledged after End
	// was stored; -1 when none was.
	Resumed time.Duration
}

// MeasureRecovery measures run and stored (the target's inbound messages,
// with their storage times) around a fault from start to end.
func MeasureRecovery(run *RunResult, stored []StoredMessage, start, end time.Time) Recovery {
	rec := Recovery{Start: start, End: end, Failed: map[string]int{}, Acknowledging: -1, Resumed: -1}
	endNS := end.UnixNano()
	firstAck := int64(0)
	for i := range run.Requests {
		r := &run.Requests[i]
		if r.OK() && r.Intended >= endNS && (firstAck == 0 || r.End < firstAck) {
			firstAck = r.End
		}
	}
	if firstAck != 0 {
		rec.Acknowledging = time.Duration(firstAck - endNS)
	}
	for i := range run.Requests {
		r := &run.Requests[i]
		if r.OK() || r.End < start.UnixNano() || (firstAck != 0 && r.Intended > firstAck) {
			continue
		}
		key := r.Err
		if r.Code != 0 {
			key = strconv.Itoa(r.Code)
		}
		rec.Failed[key]++
	}
	at := map[string]time.Time{}
	for _, m := range stored {
		if t, ok := at[m.WAMID]; !ok || m.StoredAt.Before(t) {
			at[m.WAMID] = m.StoredAt
		}
	}
	var last, resumed time.Time
	missing := false
	for i := range run.Requests {
		r := &run.Requests[i]
		if !r.OK() {
			continue
		}
		for _, m := range r.Messages {
			t, ok := at[m.WAMID]
			switch {
			case r.End <= endNS && !ok:
				missing = true
			case r.End <= endNS && t.After(last):
				last = t
			case r.End > endNS && ok && (resumed.IsZero() || t.Before(resumed)):
				resumed = t
			}
		}
	}
	rec.Stored = max(0, last.Sub(end))
	if missing {
		rec.Stored = -1
	}
	if !resumed.IsZero() {
		rec.Resumed = max(0, resumed.Sub(end))
	}
	return rec
}
