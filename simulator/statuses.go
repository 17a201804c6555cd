package simulator

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// Status webhooks: what Meta sends back for each accepted message.

type statusEvent struct {
	status string
	at     time.Time // when it is delivered
	ts     time.Time // the event time written in the payload
}

// scheduleStatuses queues the status webhooks of m and returns the last
// status, or "" when there is no webhook URL.
func (s *Simulator) scheduleStatuses(m SentMessage, to string) string {
	if s.cfg.WebhookURL == "" {
		return ""
	}
	d := s.cfg.StatusDelays
	now := m.Received
	at := func(base time.Duration, prev time.Time) time.Time {
		t := now.Add(base + s.jitter(d.Jitter))
		if !t.After(prev) {
			t = prev.Add(time.Millisecond)
		}
		return t
	}
	events := []statusEvent{{status: simStatusSent}}
	events[0].at = at(max(d.Sent, 0), now)
	if s.chance(s.cfg.StatusFailRate) {
		events = append(events, statusEvent{status: simStatusFailed, at: at(max(d.Delivered, d.Sent), events[0].at)})
	} else if d.Delivered >= 0 {
		events = append(events, statusEvent{status: "delivered", at: at(d.Delivered, events[0].at)})
		if d.Read >= 0 {
			events = append(events, statusEvent{status: "read", at: at(d.Read, events[1].at)})
		}
	}
	for i := range events {
		events[i].ts = events[i].at
	}
	if len(events) > 1 && s.chance(s.cfg.ReorderRate) {
		i := 0
		if len(events) > 2 {
			s.mu.Lock()
			i = s.rnd.IntN(len(events) - 1)
			s.mu.Unlock()
		}
		events[i].at, events[i+1].at = events[i+1].at, events[i].at
		s.count("webhooks_reordered", 1)
	}
	for _, ev := range events {
		body := s.statusBody(m, to, ev)
		s.enqueue(ev.at, body, ev.status)
		if s.chance(s.cfg.DuplicateRate) {
			s.enqueue(ev.at.Add(10*time.Millisecond+s.jitter(200*time.Millisecond)), body, ev.status)
			s.count("webhooks_duplicated", 1)
		}
	}
	return events[len(events)-1].status
}

type whStatus struct {
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	Timestamp       string          `json:"timestamp"`
	RecipientID     string          `json:"recipient_id,omitempty"`
	RecipientUserID string          `json:"recipient_user_id,omitempty"`
	BizOpaque       string          `json:"biz_opaque_callback_data,omitempty"`
	Pricing         *whPricing      `json:"pricing,omitempty"`
	Errors          []whStatusError `json:"errors,omitempty"`
}

// simUserID reports whether a send's recipient is a business-scoped user
// id ("US.13491208655302741918") rather than a phone number (digits).
func simUserID(to string) bool { return strings.Contains(to, ".") }

type whPricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model"`
	Type         string `json:"type"`
	Category     string `json:"category"`
}

type whStatusError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
	Href string `json:"href"`
}

// statusBody renders one status webhook in Meta's shape and escaping.
func (s *Simulator) statusBody(m SentMessage, to string, ev statusEvent) []byte {
	st := whStatus{
		ID:        m.WAMID,
		Status:    ev.status,
		Timestamp: strconv.FormatInt(ev.ts.Unix(), 10),
		BizOpaque: m.BizOpaque,
	}
	// Meta names the recipient's phone number in recipient_id and its
	// business-scoped user id in recipient_user_id; a send to a user id
	// reports it there (the simulator does not know the number behind it).
	if simUserID(to) {
		st.RecipientUserID = to
	} else {
		st.RecipientID = to
	}
	if ev.status == simStatusFailed {
		code := s.cfg.StatusFailCode
		title, details := "Simulated failure", "Injected by the Cloud API simulator."
		if t, ok := metaErrorTexts[code]; ok {
			title, details = t[0], t[1]
		}
		e := whStatusError{Code: code, Title: title, Message: title, Href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}
		e.ErrorData.Details = details
		st.Errors = []whStatusError{e}
	} else {
		category, typ, billable := "service", "free_customer_service", false
		if m.Type == "template" {
			category, typ, billable = "utility", "regular", true
		}
		st.Pricing = &whPricing{Billable: billable, PricingModel: "PMP", Type: typ, Category: category}
	}
	payload := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id": s.cfg.WABAID,
			"changes": []any{map[string]any{
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata": map[string]string{
						"display_phone_number": s.cfg.DisplayPhoneNumber,
						"phone_number_id":      m.PhoneNumberID,
					},
					"statuses": []whStatus{st},
				},
				"field": "messages",
			}},
		}},
	}
	b, _ := json.Marshal(payload) // plain maps and strings: cannot fail
	return whatsapp.MetaEscape(b)
}

type delivery struct {
	at      time.Time
	seq     uint64
	body    []byte
	attempt int
	status  string
}

type deliveryQueue []*delivery

func (q deliveryQueue) Len() int { return len(q) }
func (q deliveryQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q deliveryQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *deliveryQueue) Push(x any)   { *q = append(*q, x.(*delivery)) }
func (q *deliveryQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return d
}

// enqueue schedules a webhook body for delivery at at.
func (s *Simulator) enqueue(at time.Time, body []byte, status string) {
	s.push(&delivery{at: at, body: body, status: status})
	s.count("webhooks_scheduled", 1)
}

func (s *Simulator) push(d *delivery) {
	s.dmu.Lock()
	if s.closed {
		s.dmu.Unlock()
		return
	}
	s.dseq++
	d.seq = s.dseq
	heap.Push(&s.queue, d)
	if !s.started {
		s.started = true
		s.wg.Add(1)
		go s.dispatch()
	}
	s.dmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch hands due deliveries to goroutines, at most
// MaxConcurrentDeliveries at a time, until Close.
func (s *Simulator) dispatch() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var next *delivery
		wait := time.Duration(-1)
		s.dmu.Lock()
		if len(s.queue) > 0 {
			if w := time.Until(s.queue[0].at); w <= 0 {
				next = heap.Pop(&s.queue).(*delivery)
			} else {
				wait = w
			}
		}
		s.dmu.Unlock()
		if next != nil {
			select {
			case s.sem <- struct{}{}:
			case <-s.ctx.Done():
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { <-s.sem }()
				s.deliver(next)
			}()
			continue
		}
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-s.wake:
		case <-tick:
		case <-s.ctx.Done():
			return
		}
		timer.Stop()
	}
}

// deliver posts one webhook and reschedules it with backoff unless the
// gateway answered 200.
func (s *Simulator) deliver(d *delivery) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(d.body))
	if err != nil {
		s.count("webhooks_dropped", 1)
		s.cfg.Logger.Error("simulator webhook request", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	if s.cfg.AppSecret != "" {
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign([]byte(s.cfg.AppSecret), d.body))
	}
	s.count("webhook_attempts", 1)
	status := 0
	resp, err := s.cfg.DeliveryClient.Do(req)
	if err == nil {
		status = resp.StatusCode
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	if s.ctx.Err() != nil {
		return
	}
	if status == http.StatusOK {
		s.count("webhooks_delivered", 1)
		return
	}
	d.attempt++
	if d.attempt >= s.cfg.DeliveryAttempts {
		s.count("webhooks_dropped", 1)
		s.cfg.Logger.Warn("simulator dropped a status webhook", "status", d.status, "attempts", d.attempt, "http_status", status, "err", err)
		return
	}
	s.count("webhook_retries", 1)
	backoff := whatsapp.BackoffCeiling(d.attempt-1, s.cfg.DeliveryBackoff, s.cfg.DeliveryBackoffMax)
	backoff = backoff/2 + s.jitter(backoff/2) // the seeded source: a run repeats with its seed
	d.at = time.Now().Add(backoff)
	s.push(d)
}
