package loadtest

import (
	"container/heap"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// genStatus is a status webhook the generator owes for an earlier
// outbound message: statuses arrive late and out of order, as Meta's do.
type genStatus struct {
	due     time.Duration // when the webhook goes out
	at      time.Duration // the event time inside it
	wamid   string
	status  string
	contact int32
	n       uint64 // tie-break, for determinism
}

// genStatusHeap orders the owed statuses by when they go out.
type genStatusHeap []genStatus

func (h genStatusHeap) Len() int { return len(h) }
func (h genStatusHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].n < h[j].n
}
func (h genStatusHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *genStatusHeap) Push(x any)   { *h = append(*h, x.(genStatus)) }
func (h *genStatusHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// statusPost schedules the statuses of a new outbound message (to a
// contact who wrote recently) and sends the statuses that are due: each
// status arrives 0.1–4 s after its event, and events are 0.1–1.6 s apart,
// so statuses are late and often out of order (read before delivered).
func (g *Generator) statusPost(at time.Duration) *Request {
	ci := g.active[g.rnd.IntN(len(g.active))]
	g.outN++
	id := g.wamid("out", g.outN)
	event := at - time.Duration(g.rnd.IntN(3000))*time.Millisecond
	steps := []string{whatsapp.StatusSent, whatsapp.StatusDelivered, whatsapp.StatusRead}
	if g.rnd.IntN(50) == 0 {
		steps = []string{whatsapp.StatusSent, whatsapp.StatusFailed}
	}
	for _, st := range steps {
		event += time.Duration(100+g.rnd.IntN(1500)) * time.Millisecond
		g.statusN++
		heap.Push(&g.statuses, genStatus{due: event + time.Duration(100+g.rnd.IntN(4000))*time.Millisecond,
			at: event, wamid: id, status: st, contact: ci, n: g.statusN})
	}
	var due []genStatus
	for len(g.statuses) > 0 && g.statuses[0].due <= at && len(due) < 4 {
		due = append(due, heap.Pop(&g.statuses).(genStatus))
	}
	if len(due) == 0 {
		return nil
	}
	g.rnd.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	req := &Request{}
	var order []string
	byInbox := map[string]*whatsapp.Value{}
	for _, s := range due {
		c := g.contact(s.contact)
		v := byInbox[c.inbox]
		if v == nil {
			v = &whatsapp.Value{MessagingProduct: "whatsapp",
				Metadata: &whatsapp.Metadata{DisplayPhoneNumber: g.cfg.DisplayPhoneNumber, PhoneNumberID: c.inbox}}
			byInbox[c.inbox] = v
			order = append(order, c.inbox)
		}
		// Since April 2026 a status names the recipient's user id whenever
		// it has one, and its number when Meta may share it.
		st := whatsapp.Status{ID: s.wamid, Status: s.status, Timestamp: g.timestamp(s.at), RecipientID: c.waID,
			RecipientUserID: c.userID,
			Pricing:         &whatsapp.Pricing{Billable: true, PricingModel: "PMP", Type: "free_customer_service", Category: "service"}}
		if s.status == whatsapp.StatusFailed {
			st.Pricing = nil
			st.Errors = []whatsapp.ErrorDetail{{Code: 131026, Title: "Message undeliverable", Message: "Message undeliverable",
				ErrorData: &whatsapp.ErrorData{Details: "Message Undeliverable."}}}
		}
		v.Statuses = append(v.Statuses, st)
	}
	for _, inbox := range order {
		for _, st := range byInbox[inbox].Statuses {
			req.Statuses = append(req.Statuses, st.ID+":"+st.Status)
		}
	}
	req.Body = g.body(order, byInbox)
	return req
}
