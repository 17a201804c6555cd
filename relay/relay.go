package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/outage"
	"github.com/wagw/wagw/whatsapp"
)

// Store is the outbox as the relay uses it.
type Store interface {
	ClaimOutbox(ctx context.Context, limit int, lease time.Duration, paused []string, now time.Time) ([]assigner.OutboxItem, error)
	OutboxSent(ctx context.Context, sent []assigner.OutboxSend) error
	OutboxFailed(ctx context.Context, id int64, code int, msg string) error
	OutboxRetry(ctx context.Context, id int64, at time.Time, code int, msg string, countAttempt bool) error
	OutboxReported(ctx context.Context, ids []int64) error
	OutboxUnlease(ctx context.Context, id int64) error
	OutboxRenew(ctx context.Context, id int64, until time.Time) error
	OutboxUnreported(ctx context.Context, limit int) ([]assigner.OutboxResult, error)
}

// Sender is the Cloud API client.
type Sender interface {
	Send(ctx context.Context, phoneNumberID string, msg whatsapp.OutboundMessage) (whatsapp.SendResult, error)
	MarkRead(ctx context.Context, phoneNumberID, wamid string, typing bool) error
	ThreadControl(ctx context.Context, phoneNumberID string, req whatsapp.ThreadControlRequest) error
}

// Publisher puts the relay's outcomes on the contacts' partitions.
type Publisher interface {
	Publish(ctx context.Context, events []event.Envelope) error
}

// Config configures a Relay.
type Config struct {
	// Batch is how many rows one claim takes. Default 200.
	Batch int
	// Concurrency is how many sends run at once. Default 64.
	Concurrency int
	// Lease is how long a claimed row is ours; a relay that dies mid-send
	// loses its rows to another relay after it. Default DefaultLease (60 s).
	Lease time.Duration
	// SendTimeout bounds one Cloud API call (and the wait for the rate
	// limiter). Default 15 s.
	SendTimeout time.Duration
	// Idle is the pause when nothing is due. Default 50 ms.
	Idle time.Duration
	// BackoffBase and BackoffMax bound retries of transient failures.
	// Defaults 500 ms and 1 min.
	BackoffBase, BackoffMax time.Duration
	// MaxRetries is how many times a row is sent again after a transient
	// failure or a throttled answer before it fails for good: the row
	// and its message are marked failed with the last error's code, and
	// the contact's later messages go. A throttled row waits Retry-After
	// (or BackoffBase) between attempts, not the growing backoff, so its
	// retries run out sooner: at the default, after 24 minutes of
	// throttling at 500 ms. Default DefaultMaxRetries.
	MaxRetries int
	// RetryMin and RetryMax bound the backoff while Postgres or Kafka
	// fail. Defaults 50 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// BreakerWait is how long rows of a number whose breaker is open wait
	// before they are offered again. Default 1 s.
	BreakerWait time.Duration
	// StopFor pauses a number after an account-level error (token, policy).
	// Default 5 min.
	StopFor time.Duration
	Now     func() time.Time
	// Logger. Required.
	Logger *slog.Logger
	// Registerer for metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// sweepEvery is how often Run looks for outcomes recorded and not
// published.
const sweepEvery = time.Second

// DefaultLease is the default of RelayConfig.Lease.
const DefaultLease = time.Minute

// DefaultMaxRetries is about 24 h of retries with the default backoff
// (500 ms doubling to 1 min, full jitter: 30 s on average).
const DefaultMaxRetries = 2880

// Relay sends outbox rows through the Cloud API and reports the outcomes.
type Relay struct {
	cfg    Config
	store  Store
	sender Sender
	pub    Publisher
	log    *slog.Logger
	m      *metrics

	pg, kafka *outage.Dependency

	// the records every send makes, each written for the sends that
	// finished together (group.go)
	sent     group[assigner.OutboxSend]
	reported group[int64]

	mu          sync.Mutex
	paused      map[string]time.Time // phone_number_id → until
	inHand      map[int64]bool       // rows this relay is sending or recording
	reportAfter time.Time            // no reportPending before (Kafka failing)
	swept       time.Time            // the last reportPending that caught up (Run's goroutine only)
	reportWait  outage.Backoff
}

// New builds a relay.
func New(cfg Config, store Store, sender Sender, pub Publisher) *Relay {
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
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
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Relay{cfg: cfg, store: store, sender: sender, pub: pub, log: cfg.Logger,
		m: newMetrics(cfg.Registerer), paused: map[string]time.Time{}, inHand: map[int64]bool{},
		pg:         outage.NewDependency("relay", "postgres", cfg.Logger, cfg.Registerer),
		kafka:      outage.NewDependency("relay", "kafka", cfg.Logger, cfg.Registerer),
		reportWait: outage.Backoff{Min: cfg.RetryMin, Max: cfg.RetryMax},
		sent:       group[assigner.OutboxSend]{write: store.OutboxSent},
		reported:   group[int64]{write: store.OutboxReported}}
}

// Health is nil while the relay's calls to Postgres and Kafka work, and
// otherwise says which fail and since when (for /readyz). The relay
// retries through an outage of any length and resumes by itself.
func (r *Relay) Health() error {
	return outage.FirstErr(r.pg, r.kafka)
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
	wait := outage.Backoff{Min: r.cfg.RetryMin, Max: r.cfg.RetryMax}
	for ctx.Err() == nil {
		r.reportPending(ctx)
		// Claim once an eighth of the slots is free, not for every slot
		// that frees up: a backlog behind a number's rate limit frees
		// slots one at a time, and each claim is a transaction.
		free := cap(slots) - len(slots)
		if free < max(1, cap(slots)/8) {
			outage.Sleep(ctx, 5*time.Millisecond)
			continue
		}
		items, err := r.store.ClaimOutbox(ctx, min(free, r.cfg.Batch), r.cfg.Lease, r.pausedNumbers(), r.cfg.Now())
		if err != nil {
			if ctx.Err() == nil {
				r.pg.Failed(fmt.Errorf("claim outbox rows: %w", err))
				outage.Sleep(ctx, wait.Next())
			}
			continue
		}
		wait.Reset()
		r.pg.OK()
		items = r.take(items)
		if len(items) == 0 {
			outage.Sleep(ctx, r.cfg.Idle)
			continue
		}
		for _, it := range items {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { r.release(it.ID); <-slots; wg.Done() }()
				r.handle(ctx, it)
			}()
		}
	}
	return nil
}

// take marks claimed rows as in hand and drops those already in hand: a
// row whose outcome this relay is still recording (Postgres failed for
// longer than the lease) is never sent again; claiming it only renewed
// its lease.
func (r *Relay) take(items []assigner.OutboxItem) []assigner.OutboxItem {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := items[:0]
	for _, it := range items {
		if !r.inHand[it.ID] {
			r.inHand[it.ID] = true
			out = append(out, it)
		}
	}
	return out
}

func (r *Relay) release(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.inHand, id)
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

// handle sends one row and records what happened. stop is the relay's
// context: the calls themselves outlive it (see record).
func (r *Relay) handle(stop context.Context, it assigner.OutboxItem) {
	ctx := context.WithoutCancel(stop)
	res, err := r.send(ctx, it)
	now := r.cfg.Now()
	if err == nil {
		r.m.outcomes.WithLabelValues("sent").Inc()
		sent := assigner.OutboxSend{ID: it.ID, WAMID: res.WAMID, SentAt: now}
		r.record(stop, it.ID, "record a send", func() error { return r.sent.do(ctx, sent) })
		if it.Kind == "read" {
			r.record(stop, it.ID, "mark a read reported", func() error { return r.reported.do(ctx, it.ID) })
			return
		}
		r.report(stop, assigner.OutboxResult{ID: it.ID, ContactKey: it.ContactKey, MessageID: it.MessageID, Kind: it.Kind,
			State: "sent", WAMID: res.WAMID, SentAt: now})
		return
	}
	var apiErr *whatsapp.APIError
	code, msg := 0, err.Error()
	if errors.As(err, &apiErr) {
		code, msg = apiErr.Code, apiErr.Message
	}
	// Postgres text holds neither NUL nor invalid UTF-8: a message with
	// either would never be recorded, and the row and the contact's later
	// ones would wait for good.
	msg = strings.ToValidUTF8(strings.ReplaceAll(msg, "\x00", ""), "\uFFFD")
	class := whatsapp.ClassOf(err)
	var bad payloadError
	if errors.As(err, &bad) {
		class = whatsapp.Permanent // sending it again cannot help
	}
	switch class {
	case whatsapp.Permanent:
		r.m.outcomes.WithLabelValues("failed").Inc()
		r.log.Info("relay: message failed for good", "outbox_id", it.ID, "code", code, "err", msg)
		r.fail(stop, it, code, msg, now)
	case whatsapp.Throttled:
		r.m.outcomes.WithLabelValues("throttled").Inc()
		if whatsapp.Attempted(err) && r.gaveUp(stop, it, code, msg, now) {
			return
		}
		wait := whatsapp.RetryAfter(err)
		if wait <= 0 {
			wait = r.cfg.BackoffBase
		}
		r.retryLater(stop, it, now.Add(wait), code, msg, whatsapp.Attempted(err))
	case whatsapp.AccountStop:
		r.m.outcomes.WithLabelValues("account_stop").Inc()
		r.m.stops.WithLabelValues(it.PhoneNumberID).Inc()
		r.log.Error("relay: the Cloud API refused this number's account; its messages wait", "phone_number_id", it.PhoneNumberID,
			"code", code, "err", msg, "paused_for", r.cfg.StopFor)
		r.mu.Lock()
		r.paused[it.PhoneNumberID] = now.Add(r.cfg.StopFor)
		r.mu.Unlock()
		r.retryLater(stop, it, now.Add(r.cfg.StopFor), code, msg, false)
	default: // transient
		if !whatsapp.Attempted(err) { // breaker open: nothing was sent
			r.m.outcomes.WithLabelValues("breaker_open").Inc()
			r.retryLater(stop, it, now.Add(r.cfg.BreakerWait), code, msg, false)
			return
		}
		if r.gaveUp(stop, it, code, msg, now) {
			return
		}
		r.m.outcomes.WithLabelValues("retry").Inc()
		wait := max(whatsapp.Backoff(it.Attempts, r.cfg.BackoffBase, r.cfg.BackoffMax), 10*time.Millisecond)
		r.retryLater(stop, it, now.Add(wait), code, msg, true)
	}
}

// gaveUp fails the row for good when it was attempted more than
// MaxRetries times.
func (r *Relay) gaveUp(stop context.Context, it assigner.OutboxItem, code int, msg string, now time.Time) bool {
	if it.Attempts <= r.cfg.MaxRetries {
		return false
	}
	r.m.outcomes.WithLabelValues("gave_up").Inc()
	r.m.gaveUp.Inc()
	r.log.Warn("relay: message failed after its last retry", "outbox_id", it.ID, "attempts", it.Attempts, "code", code, "err", msg)
	r.fail(stop, it, code, fmt.Sprintf("gave up after %d attempts: %s", it.Attempts, msg), now)
	return true
}

// payloadError is a row whose payload does not decode into the call it
// is for.
type payloadError struct{ err error }

func (e payloadError) Error() string {
	return "the outbox row's payload does not decode: " + e.err.Error()
}
func (e payloadError) Unwrap() error { return e.err }

// send makes the row's one Cloud API call.
func (r *Relay) send(ctx context.Context, it assigner.OutboxItem) (whatsapp.SendResult, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SendTimeout)
	defer cancel()
	switch it.Kind {
	case "read":
		var p struct {
			MessageID string `json:"message_id"`
			Typing    bool   `json:"typing"`
		}
		if err := json.Unmarshal(it.Payload, &p); err != nil {
			return whatsapp.SendResult{}, payloadError{err}
		}
		return whatsapp.SendResult{}, r.sender.MarkRead(ctx, it.PhoneNumberID, p.MessageID, p.Typing)
	case assigner.OutboxTake:
		var req whatsapp.ThreadControlRequest
		if err := json.Unmarshal(it.Payload, &req); err != nil {
			return whatsapp.SendResult{}, payloadError{err}
		}
		return whatsapp.SendResult{}, r.sender.ThreadControl(ctx, it.PhoneNumberID, req)
	}
	var msg whatsapp.OutboundMessage
	if err := json.Unmarshal(it.Payload, &msg); err != nil {
		return whatsapp.SendResult{}, payloadError{err}
	}
	return r.sender.Send(ctx, it.PhoneNumberID, msg)
}

// fail records a row as failed for good and reports it.
func (r *Relay) fail(stop context.Context, it assigner.OutboxItem, code int, msg string, now time.Time) {
	ctx := context.WithoutCancel(stop)
	r.record(stop, it.ID, "record a failure", func() error { return r.store.OutboxFailed(ctx, it.ID, code, msg) })
	r.report(stop, assigner.OutboxResult{ID: it.ID, ContactKey: it.ContactKey, MessageID: it.MessageID, Kind: it.Kind,
		State: "failed", ErrorCode: code, ErrorMessage: msg, SentAt: now})
}

// retryLater puts a row back for another attempt at at.
func (r *Relay) retryLater(stop context.Context, it assigner.OutboxItem, at time.Time, code int, msg string, countAttempt bool) {
	ctx := context.WithoutCancel(stop)
	r.record(stop, it.ID, "put a row back for a retry", func() error {
		return r.store.OutboxRetry(ctx, it.ID, at, code, msg, countAttempt)
	})
}

// record retries a store write until it lands, however long Postgres is
// away: the row stays in hand (this relay does not offer it again, see
// take) and its lease is renewed whenever Postgres answers, so that a row
// whose send succeeded is never sent again. Only at shutdown does it give
// up, half a lease after stop: the row is then offered again when its
// lease ends.
func (r *Relay) record(stop context.Context, id int64, what string, fn func() error) {
	ctx := context.WithoutCancel(stop)
	wait := outage.Backoff{Min: r.cfg.RetryMin, Max: r.cfg.RetryMax}
	renewed := time.Now()
	var giveUpAt time.Time
	for {
		err := fn()
		if err == nil {
			r.pg.OK()
			return
		}
		r.pg.Failed(fmt.Errorf("%s: %w", what, err))
		if time.Since(renewed) >= r.cfg.Lease/4 && r.store.OutboxRenew(ctx, id, r.cfg.Now().Add(r.cfg.Lease)) == nil {
			renewed = time.Now()
		}
		if stop.Err() != nil {
			if giveUpAt.IsZero() {
				giveUpAt = time.Now().Add(r.cfg.Lease / 2)
			}
			if time.Now().After(giveUpAt) {
				r.log.Error("relay: stopping without recording an outcome; the row is offered again when its lease ends",
					"outbox_id", id, "what", what, "err", err)
				return
			}
		}
		outage.Sleep(ctx, wait.Next())
	}
}

// report publishes a finished row's outcome to its contact's partition and
// marks it reported; a failure leaves it for reportPending.
func (r *Relay) report(stop context.Context, res assigner.OutboxResult) {
	ctx := context.WithoutCancel(stop)
	cmd := event.SendResultCommand{OutboxID: res.ID, Kind: res.Kind, MessageID: res.MessageID, WAMID: res.WAMID,
		Failed: res.State == "failed", ErrorCode: res.ErrorCode, ErrorTitle: res.ErrorMessage,
		AcceptedAt: res.SentAt.UTC().Format(time.RFC3339Nano)}
	env, err := event.NewCommand(event.ResultID(res.ID), res.ContactKey, cmd, r.cfg.Now())
	if err != nil {
		r.log.Error("relay: an outcome does not encode", "outbox_id", res.ID, "err", err) // cannot happen: no raw JSON in it
		return
	}
	env.OccurredAt = res.SentAt // the send happened then; the report is issued now
	if err := r.pub.Publish(ctx, []event.Envelope{env}); err != nil {
		r.kafka.Failed(fmt.Errorf("publish an outcome: %w", err))
		r.mu.Lock()
		r.reportAfter = time.Now().Add(r.reportWait.Next())
		r.mu.Unlock()
		r.record(stop, res.ID, "hand an unpublished outcome back", func() error { return r.store.OutboxUnlease(ctx, res.ID) })
		return
	}
	r.kafka.OK()
	r.mu.Lock()
	r.reportWait.Reset()
	r.mu.Unlock()
	r.record(stop, res.ID, "mark an outcome reported", func() error { return r.reported.do(ctx, res.ID) })
}

// reportPending publishes outcomes that are recorded but not published
// (a relay stopped, or Kafka refused the write), backing off while Kafka
// fails.
func (r *Relay) reportPending(ctx context.Context) {
	r.mu.Lock()
	later := time.Now().Before(r.reportAfter)
	r.mu.Unlock()
	// Outcomes wait here only after a crash or a failed publish: once
	// caught up, a sweep a second is enough (the loop comes by every few
	// milliseconds while its send slots are full; at 1,000 webhooks/s this
	// query ran 85 times a second). A sweep that failed, published a full
	// page or saw a publish fail leaves it due: a backlog after a Kafka
	// outage drains page after page (a contact's next message waits for
	// its outcomes).
	now := r.cfg.Now()
	if later || now.Sub(r.swept) < sweepEvery {
		return
	}
	const page = 100
	rows, err := r.store.OutboxUnreported(ctx, page)
	if err != nil {
		if ctx.Err() == nil {
			r.pg.Failed(fmt.Errorf("list unpublished outcomes: %w", err))
		}
		return
	}
	for _, res := range rows {
		if ctx.Err() != nil {
			return
		}
		r.report(ctx, res)
		r.mu.Lock()
		later = time.Now().Before(r.reportAfter)
		r.mu.Unlock()
		if later {
			return
		}
	}
	if len(rows) < page {
		r.swept = now // caught up
	}
}

type metrics struct {
	outcomes *prometheus.CounterVec
	stops    *prometheus.CounterVec
	gaveUp   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_relay_sends_total",
			Help: "Outbox sends by outcome (sent, failed, throttled, retry, gave_up, breaker_open, account_stop)."}, []string{"outcome"}),
		stops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wagw_relay_account_stops_total",
			Help: "Account-level refusals that paused a number (alert on any)."}, []string{"phone_number_id"}),
		gaveUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_relay_retries_exhausted_total",
			Help: "Messages failed because transient failures outlasted the retries (alert on any)."}),
	}
	// Every outcome exists from the start, so that a rate or an increase
	// sees its first send.
	for _, o := range []string{"sent", "failed", "throttled", "retry", "gave_up", "breaker_open", "account_stop"} {
		m.outcomes.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.outcomes, m.stops, m.gaveUp)
	}
	return m
}
