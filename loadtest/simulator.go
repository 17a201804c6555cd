package loadtest

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wagw/wagw/whatsapp"
)

// Defaults of SimulatorConfig.
const (
	DefaultSimAddr               = "127.0.0.1:0"
	DefaultSimRatePerNumber      = 80
	DefaultSimPairInterval       = 6 * time.Second
	DefaultSimPairBurst          = 5
	DefaultSimWABAID             = "102290129340398"
	DefaultSimDisplayPhoneNumber = "15550783881"
	DefaultSimStatusFailCode     = 131026
	DefaultSimMaxDeliveries      = 32
	DefaultSimDeliveryAttempts   = 5
	DefaultSimDeliveryBackoff    = 500 * time.Millisecond
	DefaultSimDeliveryBackoffMax = 30 * time.Second
	DefaultSimDeliveryTimeout    = 5 * time.Second
	DefaultSimMaxRecorded        = 1_000_000
)

const (
	simMaxRequestBody = 1 << 20
	simStatusSent     = "sent"
	simStatusFailed   = "failed"
)

// SimulatorConfig configures a Simulator. The zero value of every field
// selects the default named in its comment.
type SimulatorConfig struct {
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
	// Default 5 (a little more lenient than the whatsapp.Client's default
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
	// Logger receives delivery problems. Nil: discard.
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

func (cfg SimulatorConfig) withDefaults() SimulatorConfig {
	if cfg.Addr == "" {
		cfg.Addr = DefaultSimAddr
	}
	if cfg.RatePerNumber == 0 {
		cfg.RatePerNumber = DefaultSimRatePerNumber
	}
	if cfg.BurstPerNumber <= 0 {
		cfg.BurstPerNumber = max(1, int(cfg.RatePerNumber))
	}
	if cfg.PairInterval == 0 {
		cfg.PairInterval = DefaultSimPairInterval
	}
	if cfg.PairBurst <= 0 {
		cfg.PairBurst = DefaultSimPairBurst
	}
	if cfg.StatusDelays == (StatusDelays{}) {
		cfg.StatusDelays = StatusDelays{Sent: 100 * time.Millisecond, Delivered: 400 * time.Millisecond, Read: 2 * time.Second, Jitter: 100 * time.Millisecond}
	}
	if cfg.StatusFailCode == 0 {
		cfg.StatusFailCode = DefaultSimStatusFailCode
	}
	if cfg.WABAID == "" {
		cfg.WABAID = DefaultSimWABAID
	}
	if cfg.DisplayPhoneNumber == "" {
		cfg.DisplayPhoneNumber = DefaultSimDisplayPhoneNumber
	}
	if cfg.MaxConcurrentDeliveries <= 0 {
		cfg.MaxConcurrentDeliveries = DefaultSimMaxDeliveries
	}
	if cfg.DeliveryAttempts <= 0 {
		cfg.DeliveryAttempts = DefaultSimDeliveryAttempts
	}
	if cfg.DeliveryBackoff <= 0 {
		cfg.DeliveryBackoff = DefaultSimDeliveryBackoff
	}
	if cfg.DeliveryBackoffMax <= 0 {
		cfg.DeliveryBackoffMax = DefaultSimDeliveryBackoffMax
	}
	if cfg.DeliveryClient == nil {
		cfg.DeliveryClient = &http.Client{Timeout: DefaultSimDeliveryTimeout}
	}
	if cfg.MaxRecorded <= 0 {
		cfg.MaxRecorded = DefaultSimMaxRecorded
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
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

// Simulator is a fake WhatsApp Cloud API. Create it with NewSimulator,
// serve Handler (or call Start), and Close it to stop webhook deliveries.
type Simulator struct {
	cfg SimulatorConfig
	mux *http.ServeMux

	mu       sync.Mutex
	faults   Faults
	sent     []SentMessage
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

// NewSimulator returns a Simulator for cfg. It starts no goroutine until
// it has a webhook to deliver or Start is called.
func NewSimulator(cfg SimulatorConfig) *Simulator {
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
	mux.HandleFunc("GET /_sim/faults", s.handleGetFaults)
	mux.HandleFunc("PUT /_sim/faults", s.handlePutFaults)
	mux.HandleFunc("DELETE /_sim/faults", s.handleDeleteFaults)
	mux.HandleFunc("GET /_sim/messages", s.handleMessagesList)
	mux.HandleFunc("GET /_sim/stats", s.handleStats)
	mux.HandleFunc("POST /_sim/reset", s.handleReset)
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
	s.sent = nil
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

// simBucket is a token bucket; its methods run under Simulator.mu.
type simBucket struct {
	tokens float64
	last   time.Time
}

// take takes one token from the bucket of key, creating it full, and
// reports whether there was one. Full buckets are evicted when the map
// grows large.
func takeToken(m map[string]*simBucket, key string, rate float64, burst int, now time.Time) bool {
	b, ok := m[key]
	if !ok {
		if len(m) >= 100_000 {
			for k, ob := range m {
				if ob.tokens+now.Sub(ob.last).Seconds()*rate >= float64(burst) {
					delete(m, k)
				}
			}
		}
		b = &simBucket{tokens: float64(burst), last: now}
		m[key] = b
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// metaError is Meta's error body.
type metaError struct {
	Error metaErrorBody `json:"error"`
}

type metaErrorBody struct {
	Message   string         `json:"message"`
	Type      string         `json:"type"`
	Code      int            `json:"code"`
	ErrorData *metaErrorData `json:"error_data,omitempty"`
	Subcode   int            `json:"error_subcode,omitempty"`
	FBTraceID string         `json:"fbtrace_id"`
}

type metaErrorData struct {
	MessagingProduct string `json:"messaging_product"`
	Details          string `json:"details"`
}

// metaErrorTexts are title and details of the codes the simulator knows;
// others get a generic text.
var metaErrorTexts = map[int][2]string{
	0:      {"AuthException", "We were unable to authenticate the app user."},
	1:      {"API Unknown", "Invalid request or possible server error."},
	2:      {"API Service", "Temporary due to downtime or due to being overloaded."},
	4:      {"API Too Many Calls", "The app has reached its API call rate limit."},
	10:     {"Permission Denied", "Permission is either not granted or has been removed."},
	100:    {"Invalid parameter", "Invalid parameter."},
	131000: {"Something went wrong", "Message failed to send due to an unknown error."},
	131008: {"Required parameter is missing", "The request is missing a required parameter."},
	131009: {"Parameter value is not valid", "One or more parameter values are invalid."},
	131016: {"Service unavailable", "A service is temporarily unavailable."},
	131021: {"Recipient cannot be sender", "Sender and recipient phone number is the same."},
	131026: {"Message Undeliverable", "Unable to deliver message."},
	131031: {"Account has been locked", "Your account has been locked."},
	131042: {"Business eligibility payment issue", "There was an error related to your payment method."},
	131047: {"Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
	131049: {"This message was not delivered to maintain healthy ecosystem engagement.", "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
	131051: {"Unsupported message type", "Message type is not currently supported."},
	131056: {"(Business Account, Consumer Account) pair rate limit hit", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."},
	131057: {"Account in maintenance mode", "Business Account is in maintenance mode."},
	130429: {"Rate limit hit", "Message failed to send because there were too many messages sent from this phone number in a short period of time"},
	130472: {"User's number is part of an experiment", "Failed to send message because this user's phone number is part of an experiment."},
	132000: {"Template Param Count Mismatch", "The number of variable parameter values included in the request did not match the number of variable parameters defined in the template."},
	132001: {"Template does not exist", "The template does not exist in the specified language or the template has not been approved."},
	133010: {"Phone number Not Registered", "The phone number is not registered on the WhatsApp Business Platform."},
	190:    {"Invalid OAuth access token - Cannot parse access token", ""},
	368:    {"Temporarily blocked for policies violations", "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy."},
	80007:  {"Rate limit issues", "The WhatsApp Business Account has reached its rate limit."},
}

func (s *Simulator) traceID() string {
	b := make([]byte, 12)
	s.mu.Lock()
	for i := range b {
		b[i] = byte(s.rnd.Uint32())
	}
	s.mu.Unlock()
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Simulator) writeMetaError(w http.ResponseWriter, status, code int, message, details string) {
	if message == "" {
		if t, ok := metaErrorTexts[code]; ok {
			message, details = t[0], t[1]
		} else {
			message, details = "Simulated error", "Injected by the Cloud API simulator."
		}
		message = "(#" + strconv.Itoa(code) + ") " + message
	}
	body := metaError{Error: metaErrorBody{Message: message, Type: "OAuthException", Code: code, FBTraceID: s.traceID()}}
	if details != "" {
		body.Error.ErrorData = &metaErrorData{MessagingProduct: "whatsapp", Details: details}
	}
	if code == 130429 {
		body.Error.Subcode = 2494055
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sendRequest is what the simulator reads of a /messages body.
type sendRequest struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Status           string `json:"status"`
	MessageID        string `json:"message_id"`
	Context          *struct {
		MessageID string `json:"message_id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Template *struct {
		Name     string `json:"name"`
		Language *struct {
			Code string `json:"code"`
		} `json:"language"`
	} `json:"template"`
	Interactive *struct {
		Type   string          `json:"type"`
		Action json.RawMessage `json:"action"`
	} `json:"interactive"`
	Image    *simMedia `json:"image"`
	Audio    *simMedia `json:"audio"`
	Video    *simMedia `json:"video"`
	Document *simMedia `json:"document"`
	Sticker  *simMedia `json:"sticker"`
	Reaction *struct {
		MessageID string `json:"message_id"`
	} `json:"reaction"`
	Location  json.RawMessage `json:"location"`
	Contacts  json.RawMessage `json:"contacts"`
	BizOpaque string          `json:"biz_opaque_callback_data"`
}

type simMedia struct {
	ID   string `json:"id"`
	Link string `json:"link"`
}

func (m *simMedia) ok() bool { return m != nil && (m.ID != "" || m.Link != "") }

// validate returns Meta's message for an invalid body, or "".
func (r *sendRequest) validate() string {
	if r.MessagingProduct != "whatsapp" {
		return "(#100) The parameter messaging_product is required."
	}
	if r.To == "" {
		return "(#100) The parameter to is required."
	}
	if r.Type == "" {
		r.Type = "text"
	}
	param := func(p string) string { return "(#100) The parameter " + p + " is required." }
	switch r.Type {
	case "text":
		if r.Text == nil || r.Text.Body == "" {
			return param("text['body']")
		}
	case "template":
		if r.Template == nil || r.Template.Name == "" {
			return param("template['name']")
		}
		if r.Template.Language == nil || r.Template.Language.Code == "" {
			return param("template['language']['code']")
		}
	case "interactive":
		if r.Interactive == nil || r.Interactive.Type == "" || len(r.Interactive.Action) == 0 {
			return param("interactive['type'] and interactive['action']")
		}
	case "image", "audio", "video", "document", "sticker":
		m := map[string]*simMedia{"image": r.Image, "audio": r.Audio, "video": r.Video, "document": r.Document, "sticker": r.Sticker}[r.Type]
		if !m.ok() {
			return param(r.Type + "['id'] or " + r.Type + "['link']")
		}
	case "reaction":
		if r.Reaction == nil || r.Reaction.MessageID == "" {
			return param("reaction['message_id']")
		}
	case "location":
		if len(r.Location) == 0 || string(r.Location) == "null" {
			return param("location")
		}
	case "contacts":
		if len(r.Contacts) == 0 || string(r.Contacts) == "null" {
			return param("contacts")
		}
	default:
		return "(#100) Param type must be one of {AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO} - got \"" + r.Type + "\"."
	}
	return ""
}

func waID(to string) string {
	return strings.TrimPrefix(strings.TrimSpace(to), "+")
}

func (s *Simulator) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	return r.Header.Get("Authorization") == "Bearer "+s.cfg.Token
}

// wait sleeps d, or until the request or the simulator ends; false if it
// ended.
func (s *Simulator) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.ctx.Done():
	}
	return false
}

func (s *Simulator) handleMessages(w http.ResponseWriter, r *http.Request) {
	phoneNumberID := r.PathValue("phone_number_id")
	s.count("requests", 1)
	if !s.authorized(r) {
		s.count("unauthorized", 1)
		s.writeMetaError(w, http.StatusUnauthorized, 190, "Invalid OAuth access token - Cannot parse access token", "")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, simMaxRequestBody))
	if err != nil {
		return
	}

	f := s.faultsFor(phoneNumberID)
	if d := f.Latency + s.jitter(f.LatencyJitter); d > 0 && !s.wait(r, d) {
		return
	}
	if s.chance(f.TimeoutRate) {
		s.count("timeout", 1)
		s.wait(r, 24*time.Hour)
		return
	}
	if s.chance(f.Error5xxRate) {
		s.count("injected_5xx", 1)
		s.writeMetaError(w, http.StatusServiceUnavailable, 2, "", "")
		return
	}
	if len(f.ErrorCodes) > 0 {
		codes := make([]int, 0, len(f.ErrorCodes))
		for c := range f.ErrorCodes {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for _, code := range codes {
			if s.chance(f.ErrorCodes[code]) {
				s.count("injected_error", 1)
				s.count("injected_"+strconv.Itoa(code), 1)
				s.writeMetaError(w, http.StatusBadRequest, code, "", "")
				return
			}
		}
	}

	var req sendRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		s.count("invalid", 1)
		s.writeMetaError(w, http.StatusBadRequest, 100, "(#100) Invalid JSON body: "+err.Error(), "")
		return
	}
	if req.Status == "read" {
		if req.MessagingProduct != "whatsapp" || req.MessageID == "" {
			s.count("invalid", 1)
			s.writeMetaError(w, http.StatusBadRequest, 100, "(#100) The parameters messaging_product and message_id are required.", "")
			return
		}
		s.count("marked_read", 1)
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
		return
	}
	if msg := req.validate(); msg != "" {
		s.count("invalid", 1)
		s.writeMetaError(w, http.StatusBadRequest, 100, msg, "")
		return
	}

	to := waID(req.To)
	now := time.Now()
	s.mu.Lock()
	numberOK := s.cfg.RatePerNumber <= 0 || takeToken(s.numbers, phoneNumberID, s.cfg.RatePerNumber, s.cfg.BurstPerNumber, now)
	pairOK := true
	if numberOK && s.cfg.PairInterval > 0 {
		pairOK = takeToken(s.pairs, phoneNumberID+"\x00"+to, 1/s.cfg.PairInterval.Seconds(), s.cfg.PairBurst, now)
	}
	s.mu.Unlock()
	if !numberOK {
		s.count("rate_limited", 1)
		s.writeMetaError(w, http.StatusBadRequest, 130429, "", "")
		return
	}
	if !pairOK {
		s.count("pair_rate_limited", 1)
		s.writeMetaError(w, http.StatusBadRequest, 131056, "", "")
		return
	}

	m := SentMessage{PhoneNumberID: phoneNumberID, To: req.To, Type: req.Type, BizOpaque: req.BizOpaque, Received: now}
	if req.Text != nil && req.Type == "text" {
		m.Text = req.Text.Body
	}
	if req.Template != nil && req.Type == "template" {
		m.Template = req.Template.Name
	}
	if req.Context != nil {
		m.ContextID = req.Context.MessageID
	}
	s.mu.Lock()
	s.seq++
	m.WAMID = "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "SIM%s:%s:%d", s.wamidTag, phoneNumberID, s.seq))
	s.stats["accepted"]++
	s.mu.Unlock()

	m.Status = s.scheduleStatuses(m, to)
	s.mu.Lock()
	if len(s.sent) >= s.cfg.MaxRecorded {
		s.sent = slices.Delete(s.sent, 0, len(s.sent)/2)
	}
	s.sent = append(s.sent, m)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": req.To, "wa_id": to}},
		"messages":          []map[string]string{{"id": m.WAMID}},
	})
}

func (s *Simulator) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

// handlePutFaults replaces all faults, or with ?phone_number_id= the
// faults of that number.
func (s *Simulator) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := json.NewDecoder(io.LimitReader(r.Body, simMaxRequestBody)).Decode(&f); err != nil {
		http.Error(w, "faults: "+err.Error(), http.StatusBadRequest)
		return
	}
	if id := r.URL.Query().Get("phone_number_id"); id != "" {
		s.SetNumberFaults(id, f)
	} else {
		s.SetFaults(f)
	}
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

// handleDeleteFaults clears all faults, or with ?phone_number_id= the
// override of that number.
func (s *Simulator) handleDeleteFaults(w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("phone_number_id"); id != "" {
		s.ClearNumberFaults(id)
	} else {
		s.SetFaults(Faults{})
	}
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

func (s *Simulator) handleMessagesList(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("phone_number_id")
	msgs := s.Sent()
	if id != "" {
		msgs = slices.DeleteFunc(msgs, func(m SentMessage) bool { return m.PhoneNumberID != id })
	}
	if msgs == nil {
		msgs = []SentMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(msgs), "messages": msgs})
}

func (s *Simulator) handleStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Simulator) handleReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

// Status webhooks.

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
	return metaEscape(b)
}

// metaEscape rewrites encoding/json output the way Meta escapes its
// webhook bodies: non-ASCII as \uXXXX (surrogate pairs above the BMP) and
// "/" as "\/". Both only occur inside strings, so the JSON value is
// unchanged while the bytes (and so the signature) are Meta's.
func metaEscape(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/8)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '/':
			out.WriteString(`\/`)
			i++
		case c < utf8.RuneSelf:
			out.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&out, `\u%04x`, r)
			}
			i += size
		}
	}
	return out.Bytes()
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
	backoff := s.cfg.DeliveryBackoff << min(d.attempt-1, 20)
	if backoff > s.cfg.DeliveryBackoffMax || backoff <= 0 {
		backoff = s.cfg.DeliveryBackoffMax
	}
	backoff = backoff/2 + s.jitter(backoff/2)
	d.at = time.Now().Add(backoff)
	s.push(d)
}
