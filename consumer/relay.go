package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/whatsapp"
)

// OutboxStore is the outbox as the relay uses it.
type OutboxStore interface {
	ClaimOutbox(ctx context.Context, limit int, lease time.Duration, paused []string, now time.Time) ([]assigner.OutboxItem, error)
	OutboxSent(ctx context.Context, id int64, wamid string, at time.Time) error
	OutboxFailed(ctx context.Context, id int64, code int, msg string) error
	OutboxRetry(ctx context.Context, id int64, at time.Time, code int, msg string, countAttempt bool) error
	OutboxReported(ctx context.Context, id int64) error
	OutboxUnlease(ctx context.Context, id int64) error
	OutboxUnreported(ctx context.Context, limit int) ([]assigner.OutboxResult, error)
}

// Sender is the Cloud API client.
type Sender interface {
	Send(ctx context.Context, phoneNumberID string, msg whatsapp.OutboundMessage) (whatsapp.SendResult, error)
	MarkRead(ctx context.Context, phoneNumberID, wamid string, typing bool) error
}

// Publisher puts the relay's outcomes on the contacts' partitions.
type Publisher interface {
	Publish(ctx context.Context, events []whatsapp.Envelope) error
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Batch is how many rows one claim takes. Default 200.
	Batch int
	// Concurrency is how many sends run at once. Default 64.
	Concurrency int
	// Lease is how long a claimed row is ours; a relay that dies mid-send
	// loses its rows to another relay after it. Default 60 s.
	Lease time.Duration
	// SendTimeout bounds one Cloud API call (and the wait for the rate
	// limiter). Default 15 s.
	SendTimeout time.Duration
	// Idle is the pause when nothing is due. Default 50 ms.
	Idle time.Duration
	// BackoffBase and BackoffMax bound retries of transient failures.
	// Defaults 500 ms and 1 min.
	BackoffBase, BackoffMax time.Duration
	// BreakerWait is how long rows of a number whose breaker is open wait
	// before they are offered again. Default 1 s.
	BreakerWait time.Duration
	// StopFor pauses a number after an account-level error (token, policy).
	// Default 5 min.
	StopFor    time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Relay sends outbox rows through the Cloud API and reports the outcomes.
type Relay struct {
	cfg    RelayConfig
	store  OutboxStore
	sender Sender
	pub    Publisher
	log    *slog.Logger
	m      *relayMetrics

	mu     sync.Mutex
	paused map[string]time.Time // phone_number_id → until
}

// NewRelay builds a relay.
func NewRelay(cfg RelayConfig, store OutboxStore, sender Sender, pub Publisher) *Relay {
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 15 * time.Second
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 50 * time.Millisecond
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 500 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.BreakerWait <= 0 {
		cfg.BreakerWait = time.Second
	}
	if cfg.StopFor <= 0 {
		cfg.StopFor = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Relay{cfg: cfg, store: store, sender: sender, pub: pub, log: cfg.Logger,
		m: newRelayMetrics(cfg.Registerer), paused: map[string]time.Time{}}
}

// Run relays until ctx is cancelled; sends in flight finish first, so that
// a wamid the Cloud API returned is recorded. Rows are claimed as send
// slots free up; a contact's next row is claimable only once its previous
// one is settled (see ClaimOutbox), so order holds without waiting for a
// whole claim to finish.
func (r *Relay) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, r.cfg.Concurrency)
	for ctx.Err() == nil {
		if err := r.reportPending(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("relay: reporting outcomes failed; will retry", "err", err)
		}
		free := cap(slots) - len(slots)
		if free == 0 {
			sleep(ctx, 5*time.Millisecond)
			continue
		}
		items, err := r.store.ClaimOutbox(ctx, min(free, r.cfg.Batch), r.cfg.Lease, r.pausedNumbers(), r.cfg.Now())
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("relay: claim failed; will retry", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if len(items) == 0 {
			sleep(ctx, r.cfg.Idle)
			continue
		}
		for _, it := range items {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				r.handle(context.WithoutCancel(ctx), it)
			}()
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (r *Relay) pausedNumbers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	var out []string
	for n, until := range r.paused {
		if now.Before(until) {
			out = append(out, n)
		} else {
			delete(r.paused, n)
		}
	}
	return out
}

// handle sends one row and records what happened.
func (r *Relay) handle(ctx context.Context, it assigner.OutboxItem) {
	sctx, cancel := context.WithTimeout(ctx, r.cfg.SendTimeout)
	var res whatsapp.SendResult
	var err error
	if it.Kind == "read" {
		var p struct {
			MessageID string `json:"message_id"`
			Typing    bool   `json:"typing"`
		}
		if err = json.Unmarshal(it.Payload, &p); err == nil {
			err = r.sender.MarkRead(sctx, it.PhoneNumberID, p.MessageID, p.Typing)
		}
	} else {
		var msg whatsapp.OutboundMessage
		if err = json.Unmarshal(it.Payload, &msg); err == nil {
			res, err = r.sender.Send(sctx, it.PhoneNumberID, msg)
		}
	}
	cancel()
	now := r.cfg.Now()
	if err == nil {
		r.m.outcomes.WithLabelValues("sent").Inc()
		r.record(ctx, it.ID, func() error { return r.store.OutboxSent(ctx, it.ID, res.WAMID, now) })
		if it.Kind == "read" {
			r.record(ctx, it.ID, func() error { return r.store.OutboxReported(ctx, it.ID) })
			return
		}
		r.report(ctx, assigner.OutboxResult{ID: it.ID, ContactKey: it.ContactKey, MessageID: it.MessageID, Kind: it.Kind,
			State: "sent", WAMID: res.WAMID, SentAt: now})
		return
	}
	var apiErr *whatsapp.APIError
	code, msg := 0, err.Error()
	if errors.As(err, &apiErr) {
		code, msg = apiErr.Code, apiErr.Message
	}
	switch whatsapp.ClassOf(err) {
	case whatsapp.Permanent:
		r.m.outcomes.WithLabelValues("failed").Inc()
		r.log.Info("relay: message failed for good", "outbox_id", it.ID, "code", code, "err", msg)
		r.record(ctx, it.ID, func() error { return r.store.OutboxFailed(ctx, it.ID, code, msg) })
		r.report(ctx, assigner.OutboxResult{ID: it.ID, ContactKey: it.ContactKey, MessageID: it.MessageID, Kind: it.Kind,
			State: "failed", ErrorCode: code, ErrorMessage: msg, SentAt: now})
	case whatsapp.Throttled:
		r.m.outcomes.WithLabelValues("throttled").Inc()
		wait := whatsapp.RetryAfter(err)
		if wait <= 0 {
			wait = r.cfg.BackoffBase
		}
		r.record(ctx, it.ID, func() error {
			return r.store.OutboxRetry(ctx, it.ID, now.Add(wait), code, msg, whatsapp.Attempted(err))
		})
	case whatsapp.AccountStop:
		r.m.outcomes.WithLabelValues("account_stop").Inc()
		r.m.stops.WithLabelValues(it.PhoneNumberID).Inc()
		r.log.Error("relay: the Cloud API refused this number's account; its messages wait", "phone_number_id", it.PhoneNumberID,
			"code", code, "err", msg, "paused_for", r.cfg.StopFor)
		r.mu.Lock()
		r.paused[it.PhoneNumberID] = now.Add(r.cfg.StopFor)
		r.mu.Unlock()
		r.record(ctx, it.ID, func() error { return r.store.OutboxRetry(ctx, it.ID, now.Add(r.cfg.StopFor), code, msg, false) })
	default: // transient
		if !whatsapp.Attempted(err) { // breaker open: nothing was sent
			r.m.outcomes.WithLabelValues("breaker_open").Inc()
			r.record(ctx, it.ID, func() error { return r.store.OutboxRetry(ctx, it.ID, now.Add(r.cfg.BreakerWait), code, msg, false) })
			return
		}
		r.m.outcomes.WithLabelValues("retry").Inc()
		wait := max(whatsapp.Backoff(it.Attempts, r.cfg.BackoffBase, r.cfg.BackoffMax), 10*time.Millisecond)
		r.record(ctx, it.ID, func() error { return r.store.OutboxRetry(ctx, it.ID, now.Add(wait), code, msg, true) })
	}
}

// record retries a store write until it lands (or the lease would expire).
func (r *Relay) record(ctx context.Context, id int64, fn func() error) {
	deadline := time.Now().Add(r.cfg.Lease / 2)
	for delay := 50 * time.Millisecond; ; delay = min(delay*2, 2*time.Second) {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.log.Error("relay: could not record an outcome; the row will be offered again", "outbox_id", id, "err", err)
			return
		}
		sleep(ctx, delay)
	}
}

// report publishes a finished row's outcome to its contact's partition and
// marks it reported; a failure leaves it for reportPending.
func (r *Relay) report(ctx context.Context, res assigner.OutboxResult) {
	cmd := assigner.SendResultCommand{OutboxID: res.ID, MessageID: res.MessageID, WAMID: res.WAMID,
		Failed: res.State == "failed", ErrorCode: res.ErrorCode, ErrorTitle: res.ErrorMessage,
		AcceptedAt: res.SentAt.UTC().Format(time.RFC3339Nano)}
	data, _ := json.Marshal(cmd)
	now := r.cfg.Now()
	env := whatsapp.Envelope{Version: whatsapp.EnvelopeVersion, ID: "send_result:" + strconv.FormatInt(res.ID, 10),
		Kind: whatsapp.KindCommand, ContactKey: res.ContactKey, OccurredAt: res.SentAt, ReceivedAt: now,
		Command: &whatsapp.Command{Type: assigner.CmdSendResult, Data: data}}
	if err := r.pub.Publish(ctx, []whatsapp.Envelope{env}); err != nil {
		r.log.Warn("relay: publishing an outcome failed; will retry", "outbox_id", res.ID, "err", err)
		r.record(ctx, res.ID, func() error { return r.store.OutboxUnlease(ctx, res.ID) })
		return
	}
	r.record(ctx, res.ID, func() error { return r.store.OutboxReported(ctx, res.ID) })
}

func (r *Relay) reportPending(ctx context.Context) error {
	rows, err := r.store.OutboxUnreported(ctx, 100)
	if err != nil {
		return err
	}
	for _, res := range rows {
		r.report(ctx, res)
	}
	return nil
}

type relayMetrics struct {
	outcomes *prometheus.CounterVec
	stops    *prometheus.CounterVec
}

func newRelayMetrics(reg prometheus.Registerer) *relayMetrics {
	m := &relayMetrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_relay_sends_total",
			Help: "Outbox sends by outcome (sent, failed, throttled, retry, breaker_open, account_stop)."}, []string{"outcome"}),
		stops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_relay_account_stops_total",
			Help: "Account-level refusals that paused a number (alert on any)."}, []string{"phone_number_id"}),
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.stops)
	}
	return m
}
