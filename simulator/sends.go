package simulator

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// OutboxRow is one message the target queued for the Cloud API (welcome
// or reply), as its outbox holds it.
type OutboxRow struct {
	ID            int64
	Kind          string // welcome | reply
	PhoneNumberID string
	Recipient     string // wa_id (or business-scoped user id)
	Type          string // text | template | interactive
	Text          string // text body, or template name
	State         string // pending | sent | failed | stopped
	WAMID         string // returned by the Cloud API when sent
}

// SendCheck is what the Cloud API (the simulator) accepted, held against
// the outbox: every row sent once, in each recipient's row order.
type SendCheck struct {
	Rows     int            `json:"rows"`
	States   map[string]int `json:"states"`
	Accepted int            `json:"accepted"` // sends the Cloud API accepted for the rows
	// Resent lists the rows the Cloud API accepted more than once, with
	// the times it accepted them.
	Resent []ResentRow `json:"resent,omitempty"`
	// Unmatched counts accepted sends that match no row.
	Unmatched int `json:"unmatched"`
	// Unrecorded lists sent rows whose wamid the Cloud API never returned.
	Unrecorded []string `json:"unrecorded,omitempty"`
	// Reordered lists recipients whose rows were first accepted out of
	// row order.
	Reordered []string `json:"reordered,omitempty"`
	// LastAccepted is when the last send was accepted.
	LastAccepted time.Time `json:"last_accepted"`
	// SentAt is when the Cloud API last accepted each row, by row id.
	SentAt map[int64]time.Time `json:"-"`
}

// ResentRow is a row the Cloud API accepted more than once.
type ResentRow struct {
	Row      OutboxRow   `json:"row"`
	Accepted []time.Time `json:"accepted"`
}

// sendKey is what ties an accepted send to its row: number, recipient and
// content. Rows that share it (the same text to the same person twice) are
// checked as a group.
func sendKey(pnid, to, typ, text string) string {
	return pnid + "\x00" + to + "\x00" + typ + "\x00" + text
}

// CheckSends matches accepted (the simulator's list, in arrival order) to
// rows (the outbox, mark-as-read rows left out).
func CheckSends(rows []OutboxRow, accepted []SentMessage) SendCheck {
	res := SendCheck{Rows: len(rows), States: map[string]int{}, SentAt: map[int64]time.Time{}}
	rowsBy := map[string][]OutboxRow{}
	for _, r := range rows {
		res.States[r.State]++
		k := sendKey(r.PhoneNumberID, r.Recipient, r.Type, r.Text)
		rowsBy[k] = append(rowsBy[k], r)
	}
	sendsBy := map[string][]SentMessage{}
	wamids := map[string]bool{}
	for _, s := range accepted {
		text := s.Text
		if s.Type == "template" {
			text = s.Template
		}
		k := sendKey(s.PhoneNumberID, waID(s.To), s.Type, text)
		if rowsBy[k] == nil {
			res.Unmatched++
			continue
		}
		res.Accepted++
		wamids[s.WAMID] = true
		sendsBy[k] = append(sendsBy[k], s)
		if s.Received.After(res.LastAccepted) {
			res.LastAccepted = s.Received
		}
	}
	first := map[int64]time.Time{} // row id → first acceptance
	for k, group := range rowsBy {
		sends := sendsBy[k]
		slices.SortFunc(group, func(a, b OutboxRow) int { return cmp.Compare(a.ID, b.ID) })
		for i, r := range group {
			if i < len(sends) {
				first[r.ID] = sends[i].Received
				res.SentAt[r.ID] = sends[i].Received
			}
		}
		if len(sends) > len(group) { // the extra sends were of the last row
			res.SentAt[group[len(group)-1].ID] = sends[len(sends)-1].Received
		}
		if extra := len(sends) - len(group); extra > 0 {
			at := make([]time.Time, len(sends))
			for i, s := range sends {
				at[i] = s.Received
			}
			res.Resent = append(res.Resent, ResentRow{Row: group[0], Accepted: at})
		}
		for _, r := range group {
			if r.State == "sent" && !wamids[r.WAMID] {
				res.Unrecorded = append(res.Unrecorded, fmt.Sprintf("row %d (%s to %s): wamid %q never returned", r.ID, r.Kind, maskRecipient(r.Recipient), r.WAMID))
			}
		}
	}
	sort.Slice(res.Resent, func(i, j int) bool { return res.Resent[i].Row.ID < res.Resent[j].Row.ID })
	res.Reordered = sendOrder(rows, first)
	return res
}

// sendOrder lists the recipients whose rows were first accepted out of
// row order.
func sendOrder(rows []OutboxRow, first map[int64]time.Time) []string {
	byRecipient := map[string][]OutboxRow{}
	for _, r := range rows {
		byRecipient[r.PhoneNumberID+" "+r.Recipient] = append(byRecipient[r.PhoneNumberID+" "+r.Recipient], r)
	}
	var out []string
	for _, key := range slices.Sorted(maps.Keys(byRecipient)) {
		list := byRecipient[key]
		slices.SortFunc(list, func(a, b OutboxRow) int { return cmp.Compare(a.ID, b.ID) })
		var prev OutboxRow
		var prevAt time.Time
		for _, r := range list {
			at, ok := first[r.ID]
			if !ok {
				continue
			}
			if !prevAt.IsZero() && at.Before(prevAt) {
				out = append(out, fmt.Sprintf("%s: row %d (%s) accepted before row %d (%s)", maskRecipient(r.Recipient), r.ID, r.Kind, prev.ID, prev.Kind))
				break
			}
			prev, prevAt = r, at
		}
	}
	return out
}

// maskRecipient hides the middle of a phone number or user id in reports.
func maskRecipient(k string) string {
	if len(k) <= 8 {
		return k
	}
	return k[:4] + strings.Repeat("•", 3) + k[len(k)-4:]
}
