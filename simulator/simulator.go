package simulator

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultAddr               = "127.0.0.1:0"
	DefaultRatePerNumber      = 80
	DefaultPairInterval       = 6 * time.Second
	DefaultPairBurst          = 5
	DefaultWABAID             = "102290129340398"
	DefaultDisplayPhoneNumber = "15550783881"
	DefaultStatusFailCode     = 131026
	DefaultMaxDeliveries      = 32
	DefaultDeliveryAttempts   = 5
	DefaultDeliveryBackoff    = 500 * time.Millisecond
	DefaultDeliveryBackoffMax = 30 * time.Second
	DefaultDeliveryTimeout    = 5 * time.Second
	DefaultMaxRecorded        = 1_000_000
)

const (
	simMaxRequestBody = 1 << 20
	simStatusSent     = "sent"
	simStatusFailed   = "failed"
)

// Config configures a Simulator. The zero value of every field
// selects the default named in its comment.
type Config struct {
	// Addr is where Start listens. Default "127.0.0.1:0" (a free port).
	Addr string
	// Token is the accepted bearer token. Empty: any token (or none) is
	// accepted. A wrong token gets HTTP 401 with Meta's OAuth error 190.
	Token string

	// RatePerNumber is the messages per second one phone_number_id may
	// send; above it the simulator answers Meta's 130429 error. Default 80.
	// Negative disables the check.
	RatePerNumber float64
	// BurstPerNumber is how many messages one number may send at once.
	// Default: one second's worth (RatePerNumber).
	BurstPerNumber int
	// PairInterval is the pair rate: one message per PairInterval from one
	// number to one recipient after PairBurst; above it the simulator
	// answers Meta's 131056 error. Default 6 s. Negative disables the check.
	PairInterval time.Duration
	// PairBurst is how many messages to one recipient may go back to back.
	// Default 5 (a little more lenient than the cloudapi.Client's default
	// pacing of 3, like Meta's tolerance of short bursts).
	PairBurst int

	// Faults are the initial fault-injection rates (no faults by default).
	// Change them at run time with SetFaults or PUT /_sim/faults.
	Faults Faults

	// WebhookURL is the gateway's webhook endpoint that receives status
	// webhooks. Empty: no status webhooks.
	WebhookURL string
	// AppSecret signs the webhooks (X-Hub-Signature-256). Empty: unsigned.
	AppSecret string
	// StatusDelays says when the statuses of an accepted message are sent.
	StatusDelays StatusDelays
	// StatusFailRate is the fraction of accepted messages that get a
	// "failed" status (with StatusFailCode) instead of delivered and read.
	// Default 0.
	StatusFailRate float64
	// StatusFailCode is the error code of failed statuses. Default 131026
	// (message undeliverable).
	StatusFailCode int
	// DuplicateRate is the fraction of status webhooks delivered twice (the
	// same bytes, a little later), as Meta sometimes does. Default 0.
	DuplicateRate float64
	// ReorderRate is the fraction of messages whose status webhooks arrive
	// out of order (two consecutive statuses swap their delivery times; the
	// timestamps inside keep the event times). Default 0.
	ReorderRate float64
	// WABAID is the entry id of the webhooks. Default "102290129340398".
	WABAID string
	// DisplayPhoneNumber is metadata.display_phone_number of the webhooks,
	// for every phone_number_id. Default "15550783881".
	DisplayPhoneNumber string

	// MaxConcurrentDeliveries bounds the webhook POSTs in flight. Default 32.
	MaxConcurrentDeliveries int
	// DeliveryAttempts is how often one webhook is tried before it is
	// dropped (Meta retries for days; a load test should not). Default 5.
	DeliveryAttempts int
	// DeliveryBackoff is the wait before the first redelivery of a webhook
	// that was not answered with HTTP 200; it doubles per attempt, with
	// jitter, up to DeliveryBackoffMax. Defaults 500 ms and 30 s.
	DeliveryBackoff    time.Duration
	DeliveryBackoffMax time.Duration
	// DeliveryClient posts the webhooks. Default: an http.Client with a 5 s
	// timeout.
	DeliveryClient *http.Client

	// MaxRecorded bounds the accepted messages kept for Sent and
	// GET /_sim/messages; beyond it the oldest half is dropped.
	// Default 1,000,000.
	MaxRecorded int
	// Seed makes fault injection, jitter and duplicates reproducible.
	// Zero: random.
	Seed uint64
	// Logger receives delivery problems. Required.
	Logger *slog.Logger
}

// StatusDelays are the delays after acceptance at which the statuses of a
// message are sent. A zero StatusDelays means the defaults: sent after
// 100 ms, delivered after 400 ms, read after 2 s, each plus up to 100 ms of
// jitter. A negative Delivered or Read leaves that status (and the ones
// after it) out.
type StatusDelays struct {
	Sent      time.Duration `json:"sent"`
	Delivered time.Duration `json:"delivered"`
	Read      time.Duration `json:"read"`
	Jitter    time.Duration `json:"jitter"`
}

func (cfg Config) withDefaults() Config {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.RatePerNumber == 0 {
		cfg.RatePerNumber = DefaultRatePerNumber
	}
	if cfg.BurstPerNumber <= 0 {
		cfg.BurstPerNumber = max(1, int(cfg.RatePerNumber))
	}
	if cfg.PairInterval == 0 {
		cfg.PairInterval = DefaultPairInterval
	}
	if cfg.PairBurst <= 0 {
		cfg.PairBurst = DefaultPairBurst
	}
	if cfg.StatusDelays == (StatusDelays{}) {
		cfg.StatusDelays = StatusDelays{Sent: 100 * time.Millisecond, Delivered: 400 * time.Millisecond, Read: 2 * time.Second, Jitter: 100 * time.Millisecond}
	}
	if cfg.StatusFailCode == 0 {
		cfg.StatusFailCode = DefaultStatusFailCode
	}
	if cfg.WABAID == "" {
		cfg.WABAID = DefaultWABAID
	}
	if cfg.DisplayPhoneNumber == "" {
		cfg.DisplayPhoneNumber = DefaultDisplayPhoneNumber
	}
	if cfg.MaxConcurrentDeliveries <= 0 {
		cfg.MaxConcurrentDeliveries = DefaultMaxDeliveries
	}
	if cfg.DeliveryAttempts <= 0 {
		cfg.DeliveryAttempts = DefaultDeliveryAttempts
	}
	if cfg.DeliveryBackoff <= 0 {
		cfg.DeliveryBackoff = DefaultDeliveryBackoff
	}
	if cfg.DeliveryBackoffMax <= 0 {
		cfg.DeliveryBackoffMax = DefaultDeliveryBackoffMax
	}
	if cfg.DeliveryClient == nil {
		cfg.DeliveryClient = &http.Client{Timeout: DefaultDeliveryTimeout}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			// Deliveries run MaxConcurrentDeliveries at a time: with the
			// default two idle connections per host, most of them dialled
			// a new connection and closed it after one webhook.
			tr := dt.Clone()
			tr.MaxIdleConnsPerHost = cfg.MaxConcurrentDeliveries
			cfg.DeliveryClient.Transport = tr
		}
	}
	if cfg.MaxRecorded <= 0 {
		cfg.MaxRecorded = DefaultMaxRecorded
	}
	return cfg
}

// Faults are fault-injection rates, each a probability in [0, 1] per
// request. In JSON, durations are Go duration strings ("250ms") or numbers
// of milliseconds.
type Faults struct {
	// Latency is added to every request, plus a uniform random
	// [0, LatencyJitter).
	Latency       time.Duration `json:"-"`
	LatencyJitter time.Duration `json:"-"`
	// TimeoutRate: the request hangs until the client gives up; nothing is
	// sent.
	TimeoutRate float64 `json:"timeout_rate,omitempty"`
	// Error5xxRate: HTTP 503 with Meta's error 2 (service unavailable).
	Error5xxRate float64 `json:"error_5xx_rate,omitempty"`
	// ErrorCodes maps a Meta error code to the rate at which it is
	// answered, with Meta's error body and HTTP 400.
	ErrorCodes map[int]float64 `json:"error_codes,omitempty"`
	// RefuseTake: a thread control take is refused as Meta refuses it
	// when the app is not the number's escalation partner (code 100,
	// error_subcode whatsapp.SubcodeTakeNotAllowed).
	RefuseTake bool `json:"refuse_take,omitempty"`
	// PerNumber replaces these faults for the phone_number_ids it names.
	PerNumber map[string]Faults `json:"per_number,omitempty"`
}

type faultsAlias Faults

type faultsJSON struct {
	faultsAlias
	Latency       jsonDuration `json:"latency,omitempty"`
	LatencyJitter jsonDuration `json:"latency_jitter,omitempty"`
}

// MarshalJSON writes the durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultsJSON{faultsAlias: faultsAlias(f), Latency: jsonDuration(f.Latency), LatencyJitter: jsonDuration(f.LatencyJitter)})
}

// UnmarshalJSON reads the durations as Go duration strings or milliseconds.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*f = Faults(j.faultsAlias)
	f.Latency, f.LatencyJitter = time.Duration(j.Latency), time.Duration(j.LatencyJitter)
	return nil
}

type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration: want a string like \"250ms\" or milliseconds: %w", err)
	}
	*d = jsonDuration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// SentMessage is one message the simulator accepted.
type SentMessage struct {
	PhoneNumberID string    `json:"phone_number_id"`
	To            string    `json:"to"`
	Type          string    `json:"type"`
	Text          string    `json:"text,omitempty"`     // text body
	Template      string    `json:"template,omitempty"` // template name
	ContextID     string    `json:"context_id,omitempty"`
	BizOpaque     string    `json:"biz_opaque_callback_data,omitempty"`
	WAMID         string    `json:"wamid"`
	Received      time.Time `json:"received"`
	// Status is the last status scheduled for the message: read, delivered,
	// failed or sent ("" without a webhook URL).
	Status string `json:"status,omitempty"`
}

// Simulator is a fake WhatsApp Cloud API. Create it with New,
// serve Handler (or call Start), and Close it to stop webhook deliveries.
type Simulator struct {
	cfg Config
	mux *http.ServeMux

	mu       sync.Mutex
	faults   Faults
	sent     []SentMessage
	threads  []ThreadControlCall
	stats    map[string]int64
	numbers  map[string]*simBucket
	pairs    map[string]*simBucket
	rnd      *mrand.Rand
	seq      uint64
	wamidTag string

	// deliveries
	ctx       context.Context
	cancel    context.CancelFunc
	dmu       sync.Mutex
	queue     deliveryQueue
	dseq      uint64
	closed    bool
	started   bool
	wake      chan struct{}
	sem       chan struct{}
	wg        sync.WaitGroup
	srv       *http.Server
	closeOnce sync.Once
}

// New returns a Simulator for cfg. It starts no goroutine until
// it has a webhook to deliver or Start is called.
func New(cfg Config) *Simulator {
	cfg = cfg.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	tag := make([]byte, 6)
	_, _ = rand.Read(tag)
	s := &Simulator{
		cfg:      cfg,
		faults:   cloneFaults(cfg.Faults),
		stats:    make(map[string]int64),
		numbers:  make(map[string]*simBucket),
		pairs:    make(map[string]*simBucket),
		rnd:      mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		wamidTag: base64.RawURLEncoding.EncodeToString(tag),
		wake:     make(chan struct{}, 1),
		sem:      make(chan struct{}, cfg.MaxConcurrentDeliveries),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/{phone_number_id}/messages", s.handleMessages)
	mux.HandleFunc("POST /{version}/{phone_number_id}/thread_control", s.handleThreadControl)
	mux.HandleFunc("GET /_sim/faults", s.handleGetFaults)
	mux.HandleFunc("PUT /_sim/faults", s.handlePutFaults)
	mux.HandleFunc("DELETE /_sim/faults", s.handleDeleteFaults)
	mux.HandleFunc("GET /_sim/messages", s.handleMessagesList)
	mux.HandleFunc("GET /_sim/stats", s.handleStats)
	mux.HandleFunc("POST /_sim/reset", s.handleReset)
	mux.HandleFunc("POST /_sim/routing", s.handleRouting)
	s.mux = mux
	return s
}

// Handler returns the simulator's HTTP handler: the Cloud API endpoint and
// the /_sim/ control endpoints.
func (s *Simulator) Handler() http.Handler { return s.mux }

// Start listens on cfg.Addr and serves Handler until ctx ends or Close is
// called. It returns the address it listens on ("127.0.0.1:43121").
func (s *Simulator) Start(ctx context.Context) (string, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return "", fmt.Errorf("loadtest: simulator listen %s: %w", s.cfg.Addr, err)
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	s.dmu.Lock()
	if s.closed || s.srv != nil {
		s.dmu.Unlock()
		ln.Close()
		return "", errors.New("loadtest: simulator already started or closed")
	}
	s.srv = srv
	s.wg.Add(2)
	s.dmu.Unlock()
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("simulator server stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			go s.Close()
		case <-s.ctx.Done():
		}
	}()
	return ln.Addr().String(), nil
}

// Close stops the server started by Start, releases hanging requests,
// stops webhook deliveries (pending ones are dropped, in-flight ones
// aborted) and waits for its goroutines. It is safe to call more than once.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() {
		s.dmu.Lock()
		s.closed = true
		srv := s.srv
		s.queue = nil
		s.dmu.Unlock()
		s.cancel()
		if srv != nil {
			_ = srv.Close()
		}
		s.wg.Wait()
	})
}

// SetFaults replaces all fault rates, including the per-number overrides.
func (s *Simulator) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = cloneFaults(f)
	s.mu.Unlock()
}

// SetNumberFaults replaces the faults of one phone_number_id (its
// PerNumber field is ignored).
func (s *Simulator) SetNumberFaults(phoneNumberID string, f Faults) {
	f.PerNumber = nil
	s.mu.Lock()
	if s.faults.PerNumber == nil {
		s.faults.PerNumber = make(map[string]Faults)
	}
	s.faults.PerNumber[phoneNumberID] = cloneFaults(f)
	s.mu.Unlock()
}

// ClearNumberFaults removes the override of one phone_number_id.
func (s *Simulator) ClearNumberFaults(phoneNumberID string) {
	s.mu.Lock()
	delete(s.faults.PerNumber, phoneNumberID)
	s.mu.Unlock()
}

// CurrentFaults returns the fault rates in force.
func (s *Simulator) CurrentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneFaults(s.faults)
}

// Sent returns the accepted messages in arrival order.
func (s *Simulator) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Stats returns counters by outcome: requests, accepted, marked_read,
// unauthorized, invalid, rate_limited (130429), pair_rate_limited (131056),
// timeout, injected_5xx, injected_error and injected_<code>, and for
// webhooks: webhooks_scheduled, webhook_attempts, webhooks_delivered,
// webhook_retries, webhooks_dropped, webhooks_duplicated,
// webhooks_reordered.
func (s *Simulator) Stats() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.stats)
}

// Reset forgets accepted messages, counters, rate-limit state and pending
// webhooks, and restores the configured faults.
func (s *Simulator) Reset() {
	s.mu.Lock()
	s.sent, s.threads = nil, nil
	s.stats = make(map[string]int64)
	s.numbers = make(map[string]*simBucket)
	s.pairs = make(map[string]*simBucket)
	s.faults = cloneFaults(s.cfg.Faults)
	s.mu.Unlock()
	s.dmu.Lock()
	s.queue = nil
	s.dmu.Unlock()
}

func cloneFaults(f Faults) Faults {
	f.ErrorCodes = maps.Clone(f.ErrorCodes)
	if f.PerNumber != nil {
		pn := make(map[string]Faults, len(f.PerNumber))
		for k, v := range f.PerNumber {
			v.PerNumber = nil
			v.ErrorCodes = maps.Clone(v.ErrorCodes)
			pn[k] = v
		}
		f.PerNumber = pn
	}
	return f
}

func (s *Simulator) count(key string, n int64) {
	s.mu.Lock()
	s.stats[key] += n
	s.mu.Unlock()
}

// chance reports true with probability p.
func (s *Simulator) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.Float64() < p
}

func (s *Simulator) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.rnd.Int64N(int64(d)))
}

func (s *Simulator) faultsFor(phoneNumberID string) Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.faults.PerNumber[phoneNumberID]; ok {
		return f
	}
	return s.faults
}
