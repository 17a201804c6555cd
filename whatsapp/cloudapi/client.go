package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/wagw/wagw/whatsapp"
)

const (
	maxResponseBody          = 1 << 20
	messagingProductWhatsApp = "whatsapp"
)

// ClientConfig configures a Client. The zero value of every field selects
// the default named in its comment.
type ClientConfig struct {
	// BaseURL of the Graph API, without the version. Default
	// "https://graph.facebook.com". Point it at the loadtest simulator in
	// tests and development.
	BaseURL string
	// Version of the Graph API. Default "v23.0".
	Version string
	// Token is the bearer access token (system user token).
	Token string

	// HTTPClient sends the requests. Default: a new http.Client with
	// Timeout and up to 64 idle connections per host.
	HTTPClient *http.Client
	// Timeout of one request when HTTPClient is nil. Default 10 s. Keep it
	// small: a send that timed out may have been delivered.
	Timeout time.Duration

	// RatePerSecond is the number of requests per second sent for one
	// phone_number_id by this client. Default 80 (Meta's default
	// throughput; up to 1,000 for upgraded numbers). Negative disables the
	// limiter. With several relay processes sharing a number, give each its
	// share.
	RatePerSecond float64
	// Burst is the number of requests per phone_number_id that may go out
	// at once. Default 10, so that the Cloud API (which allows a burst of
	// one second's worth) sees some slack for network jitter.
	Burst int
	// PairInterval paces messages to one recipient from one number: one
	// message per PairInterval after the burst. Default 6 s (Meta's pair
	// rate: about 10 messages a minute). Negative disables pacing.
	PairInterval time.Duration
	// PairBurst is the number of messages to one recipient that may go out
	// back to back before pacing starts. Default 3.
	PairBurst int

	// BreakerFailures is the number of consecutive transient failures of
	// one phone_number_id that opens its circuit breaker. Default 5.
	BreakerFailures int
	// BreakerOpenFor is how long a breaker stays open before letting one
	// probe request through (half-open). Default 30 s.
	BreakerOpenFor time.Duration

	// MaxRetries, BackoffBase and BackoffMax are not used by the client (it
	// makes one attempt per call); they are the retry policy its callers
	// should apply with Backoff. Defaults 8, 500 ms and 1 min. Read them
	// back with Client.RetryPolicy.
	MaxRetries  int
	BackoffBase time.Duration
	BackoffMax  time.Duration

	// Registerer receives the client's metrics. Nil: no metrics.
	Registerer prometheus.Registerer
	// Logger receives breaker state changes. Required.
	Logger *slog.Logger
}

func (cfg ClientConfig) withDefaults() ClientConfig {
	if cfg.BaseURL == "" {
		cfg.BaseURL = whatsapp.DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Version == "" {
		cfg.Version = whatsapp.DefaultAPIVersion
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = whatsapp.DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			tr := dt.Clone()
			tr.MaxIdleConnsPerHost = 64 // 80 requests/s per number need more than the default 2
			cfg.HTTPClient.Transport = tr
		}
	}
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond = whatsapp.DefaultRatePerSecond
	}
	if cfg.Burst <= 0 {
		cfg.Burst = whatsapp.DefaultBurst
	}
	if cfg.PairInterval == 0 {
		cfg.PairInterval = whatsapp.DefaultPairInterval
	}
	if cfg.PairBurst <= 0 {
		cfg.PairBurst = whatsapp.DefaultPairBurst
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = whatsapp.DefaultBreakerFailures
	}
	if cfg.BreakerOpenFor <= 0 {
		cfg.BreakerOpenFor = whatsapp.DefaultBreakerOpenFor
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = whatsapp.DefaultMaxRetries
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = whatsapp.DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = whatsapp.DefaultBackoffMax
	}
	return cfg
}

// Client sends messages and read receipts through the Cloud API. Each
// phone_number_id has its own circuit breaker, token bucket and
// per-recipient pacing. A Client is safe for concurrent use. It makes one
// attempt per call: retrying belongs to the caller (see whatsapp.ClassOf,
// whatsapp.RetryAfter, whatsapp.Backoff).
type Client struct {
	cfg     ClientConfig
	metrics *clientMetrics
	numbers *bucketLimiter
	pairs   *bucketLimiter

	mu       sync.Mutex
	breakers map[string]*gobreaker.CircuitBreaker[whatsapp.SendResult]
}

// NewClient returns a Client for cfg.
func NewClient(cfg ClientConfig) *Client {
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:      cfg,
		metrics:  newClientMetrics(cfg.Registerer),
		numbers:  newBucketLimiter(cfg.RatePerSecond, cfg.Burst),
		breakers: make(map[string]*gobreaker.CircuitBreaker[whatsapp.SendResult]),
	}
	if cfg.PairInterval > 0 {
		c.pairs = newBucketLimiter(1/cfg.PairInterval.Seconds(), cfg.PairBurst)
	}
	return c
}

// RetryPolicy returns the configured MaxRetries, BackoffBase and BackoffMax
// (with defaults applied), for callers that retry with whatsapp.Backoff.
func (c *Client) RetryPolicy() (maxRetries int, base, max time.Duration) {
	return c.cfg.MaxRetries, c.cfg.BackoffBase, c.cfg.BackoffMax
}

type sendResponse struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input string `json:"input"`
		WaID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status"`
	} `json:"messages"`
}

type markReadRequest struct {
	MessagingProduct string           `json:"messaging_product"`
	Status           string           `json:"status"`
	MessageID        string           `json:"message_id"`
	TypingIndicator  *typingIndicator `json:"typing_indicator,omitempty"`
}

type typingIndicator struct {
	Type string `json:"type"`
}

// Send posts msg from phoneNumberID: one attempt, through the number's
// circuit breaker, after waiting for the number's rate limiter and the
// recipient's pacing (the waits honour ctx; when a wait would outlast ctx's
// deadline Send returns whatsapp.ErrPaced at once). Use whatsapp.ClassOf,
// whatsapp.RetryAfter and whatsapp.Attempted on the error.
func (c *Client) Send(ctx context.Context, phoneNumberID string, msg whatsapp.OutboundMessage) (whatsapp.SendResult, error) {
	if phoneNumberID == "" || msg.To == "" {
		return whatsapp.SendResult{}, whatsapp.ClientError(whatsapp.Permanent, false, 0, errors.New("whatsapp: send: phone number id and recipient are required"))
	}
	if msg.MessagingProduct == "" {
		msg.MessagingProduct = messagingProductWhatsApp
	}
	if msg.RecipientType == "" {
		msg.RecipientType = "individual"
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return whatsapp.SendResult{}, whatsapp.ClientError(whatsapp.Permanent, false, 0, fmt.Errorf("whatsapp: send: encode message: %w", err))
	}
	pairKey := phoneNumberID + "\x00" + strings.TrimPrefix(msg.To, "+")
	return c.do(ctx, phoneNumberID, pairKey, body)
}

// MarkRead marks the inbound message wamid as read (blue ticks) and, when
// typing is true, shows a typing indicator to the user for up to 25 s or
// until the next message. It goes through the number's breaker and rate
// limiter but not the recipient pacing.
func (c *Client) MarkRead(ctx context.Context, phoneNumberID, wamid string, typing bool) error {
	if phoneNumberID == "" || wamid == "" {
		return whatsapp.ClientError(whatsapp.Permanent, false, 0, errors.New("whatsapp: mark read: phone number id and message id are required"))
	}
	req := markReadRequest{MessagingProduct: messagingProductWhatsApp, Status: "read", MessageID: wamid}
	if typing {
		req.TypingIndicator = &typingIndicator{Type: "text"}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return whatsapp.ClientError(whatsapp.Permanent, false, 0, fmt.Errorf("whatsapp: mark read: encode: %w", err))
	}
	_, err = c.do(ctx, phoneNumberID, "", body)
	return err
}

// do runs one POST to /{phone_number_id}/messages. pairKey empty: no
// per-recipient pacing.
func (c *Client) do(ctx context.Context, phoneNumberID, pairKey string, body []byte) (whatsapp.SendResult, error) {
	return c.doPath(ctx, phoneNumberID, "messages", pairKey, body)
}

// doPath runs one POST to /{phone_number_id}/{path} through the number's
// breaker and rate limiter (and the recipient's pacing unless pairKey is
// empty).
func (c *Client) doPath(ctx context.Context, phoneNumberID, path, pairKey string, body []byte) (whatsapp.SendResult, error) {
	cb := c.breaker(phoneNumberID)
	if st := cb.State(); st == gobreaker.StateOpen {
		c.metrics.request(phoneNumberID, "breaker_open")
		return whatsapp.SendResult{}, breakerErr(phoneNumberID, gobreaker.ErrOpenState)
	}
	if pairKey != "" && c.pairs != nil {
		if err := c.pairs.wait(ctx, pairKey, "recipient pacing"); err != nil {
			c.metrics.request(phoneNumberID, outcomeOf(err))
			return whatsapp.SendResult{}, err
		}
	}
	if err := c.numbers.wait(ctx, phoneNumberID, "number rate limit"); err != nil {
		if pairKey != "" && c.pairs != nil {
			c.pairs.release(pairKey, time.Now())
		}
		c.metrics.request(phoneNumberID, outcomeOf(err))
		return whatsapp.SendResult{}, err
	}
	start := time.Now()
	res, err := cb.Execute(func() (whatsapp.SendResult, error) {
		return c.post(ctx, phoneNumberID, path, body)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = breakerErr(phoneNumberID, err)
	} else {
		c.metrics.duration(phoneNumberID, time.Since(start))
	}
	c.metrics.request(phoneNumberID, outcomeOf(err))
	return res, err
}

func breakerErr(phoneNumberID string, err error) error {
	return whatsapp.ClientError(whatsapp.Transient, false, 0, fmt.Errorf("%w for phone number id %s: %w", whatsapp.ErrBreakerOpen, phoneNumberID, err))
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, whatsapp.ErrBreakerOpen):
		return "breaker_open"
	case errors.Is(err, whatsapp.ErrPaced):
		return "paced"
	case !whatsapp.Attempted(err) && isCanceled(err):
		return "canceled"
	}
	return whatsapp.ClassOf(err).String()
}

// post makes the HTTP request to /{phone_number_id}/{path} and turns the
// answer into a result or error.
func (c *Client) post(ctx context.Context, phoneNumberID, path string, body []byte) (whatsapp.SendResult, error) {
	if err := ctx.Err(); err != nil {
		return whatsapp.SendResult{}, whatsapp.ClientError(whatsapp.Transient, false, 0, fmt.Errorf("whatsapp: send: %w", err))
	}
	url := c.cfg.BaseURL + "/" + c.cfg.Version + "/" + phoneNumberID + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return whatsapp.SendResult{}, whatsapp.ClientError(whatsapp.Permanent, false, 0, fmt.Errorf("whatsapp: send: build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		// Network error, timeout or cancellation after the request started:
		// it may have reached Meta.
		return whatsapp.SendResult{}, whatsapp.ClientError(whatsapp.Transient, true, 0, fmt.Errorf("whatsapp: send: %w", err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return whatsapp.SendResult{}, whatsapp.ClientError(whatsapp.Transient, true, 0, fmt.Errorf("whatsapp: send: read response (HTTP %d): %w", resp.StatusCode, err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return whatsapp.SendResult{}, parseAPIError(resp.StatusCode, resp.Header, raw, c.cfg.PairInterval)
	}
	var sr sendResponse
	if err := json.Unmarshal(raw, &sr); err != nil {
		return whatsapp.SendResult{}, whatsapp.ClientError(whatsapp.Transient, true, 0, fmt.Errorf("whatsapp: send: decode response (HTTP %d): %w", resp.StatusCode, err))
	}
	var res whatsapp.SendResult
	if len(sr.Messages) > 0 {
		res.WAMID = sr.Messages[0].ID
		res.MessageStatus = sr.Messages[0].MessageStatus
	}
	if len(sr.Contacts) > 0 {
		res.WaID = sr.Contacts[0].WaID
	}
	return res, nil
}

// breaker returns the circuit breaker of phoneNumberID, creating it on
// first use. It counts only transient failures; a cancelled caller context
// counts neither way.
func (c *Client) breaker(phoneNumberID string) *gobreaker.CircuitBreaker[whatsapp.SendResult] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cb, ok := c.breakers[phoneNumberID]; ok {
		return cb
	}
	failures := uint32(c.cfg.BreakerFailures)
	log := c.cfg.Logger
	cb := gobreaker.NewCircuitBreaker[whatsapp.SendResult](gobreaker.Settings{
		Name:        phoneNumberID,
		MaxRequests: 1,
		Timeout:     c.cfg.BreakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= failures
		},
		IsSuccessful: func(err error) bool {
			return err == nil || whatsapp.ClassOf(err) != whatsapp.Transient
		},
		IsExcluded: func(err error) bool {
			return err != nil && isCanceled(err)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			// Called with the breaker's lock held: no calls back into cb.
			c.metrics.breakerState(name, to)
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "whatsapp sender circuit breaker",
				"phone_number_id", name, "from", from.String(), "to", to.String())
		},
	})
	c.metrics.breakerState(phoneNumberID, gobreaker.StateClosed)
	c.breakers[phoneNumberID] = cb
	return cb
}

// BreakerState returns "closed", "half-open" or "open" for the breaker of
// phoneNumberID ("closed" for a number not used yet).
func (c *Client) BreakerState(phoneNumberID string) string {
	c.mu.Lock()
	cb, ok := c.breakers[phoneNumberID]
	c.mu.Unlock()
	if !ok {
		return gobreaker.StateClosed.String()
	}
	return cb.State().String()
}

// clientMetrics are the sender metrics; a nil *clientMetrics records
// nothing.
type clientMetrics struct {
	state    *prometheus.GaugeVec
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newClientMetrics(reg prometheus.Registerer) *clientMetrics {
	if reg == nil {
		return nil
	}
	m := &clientMetrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wagw_sender_breaker_state",
			Help: "Circuit breaker state per phone number: 0 closed, 1 half-open, 2 open.",
		}, []string{"phone_number_id"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wagw_sender_requests_total",
			Help: "Cloud API calls per phone number by outcome: ok, throttled, permanent, transient, account_stop, breaker_open, paced, canceled.",
		}, []string{"phone_number_id", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wagw_sender_request_duration_seconds",
			Help:    "Duration of Cloud API calls that were sent, per phone number.",
			Buckets: prometheus.DefBuckets,
		}, []string{"phone_number_id"}),
	}
	m.state = registerOrExisting(reg, m.state)
	m.requests = registerOrExisting(reg, m.requests)
	m.seconds = registerOrExisting(reg, m.seconds)
	return m
}

// registerOrExisting registers c, or returns the identical collector
// already registered (two clients on one registry share the series).
func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (m *clientMetrics) breakerState(phoneNumberID string, s gobreaker.State) {
	if m == nil {
		return
	}
	// gobreaker's states are 0 closed, 1 half-open, 2 open.
	m.state.WithLabelValues(phoneNumberID).Set(float64(s))
}

func (m *clientMetrics) request(phoneNumberID, outcome string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(phoneNumberID, outcome).Inc()
}

func (m *clientMetrics) duration(phoneNumberID string, d time.Duration) {
	if m == nil {
		return
	}
	m.seconds.WithLabelValues(phoneNumberID).Observe(d.Seconds())
}
