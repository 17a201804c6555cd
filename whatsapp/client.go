package whatsapp

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
)

// Defaults of ClientConfig.
const (
	DefaultBaseURL           = "https://graph.facebook.com"
	DefaultAPIVersion        = "v23.0"
	DefaultTimeout           = 10 * time.Second
	DefaultRatePerSecond     = 80
	DefaultBurst             = 10
	DefaultPairInterval      = 6 * time.Second
	DefaultPairBurst         = 3
	DefaultBreakerFailures   = 5
	DefaultBreakerOpenFor    = 30 * time.Second
	DefaultMaxRetries        = 8
	DefaultBackoffBase       = 500 * time.Millisecond
	DefaultBackoffMax        = time.Minute
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
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.Version == "" {
		cfg.Version = DefaultAPIVersion
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
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
		cfg.RatePerSecond = DefaultRatePerSecond
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.PairInterval == 0 {
		cfg.PairInterval = DefaultPairInterval
	}
	if cfg.PairBurst <= 0 {
		cfg.PairBurst = DefaultPairBurst
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerOpenFor <= 0 {
		cfg.BreakerOpenFor = DefaultBreakerOpenFor
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	return cfg
}

// Client sends messages and read receipts through the Cloud API. Each
// phone_number_id has its own circuit breaker, token bucket and
// per-recipient pacing. A Client is safe for concurrent use. It makes one
// attempt per call: retrying belongs to the caller (see ClassOf, RetryAfter,
// Backoff).
type Client struct {
	cfg     ClientConfig
	metrics *clientMetrics
	numbers *bucketLimiter
	pairs   *bucketLimiter

	mu       sync.Mutex
	breakers map[string]*gobreaker.CircuitBreaker[SendResult]
}

// NewClient returns a Client for cfg.
func NewClient(cfg ClientConfig) *Client {
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:      cfg,
		metrics:  newClientMetrics(cfg.Registerer),
		numbers:  newBucketLimiter(cfg.RatePerSecond, cfg.Burst),
		breakers: make(map[string]*gobreaker.CircuitBreaker[SendResult]),
	}
	if cfg.PairInterval > 0 {
		c.pairs = newBucketLimiter(1/cfg.PairInterval.Seconds(), cfg.PairBurst)
	}
	return c
}

// RetryPolicy returns the configured MaxRetries, BackoffBase and BackoffMax
// (with defaults applied), for callers that retry with Backoff.
func (c *Client) RetryPolicy() (maxRetries int, base, max time.Duration) {
	return c.cfg.MaxRetries, c.cfg.BackoffBase, c.cfg.BackoffMax
}

// OutboundMessage is the body of POST /{phone_number_id}/messages. Set Type
// and the one object that matches it. MessagingProduct defaults to
// "whatsapp" and RecipientType to "individual".
type OutboundMessage struct {
	MessagingProduct string           `json:"messaging_product"`
	RecipientType    string           `json:"recipient_type,omitempty"`
	To               string           `json:"to"`
	Context          *OutboundContext `json:"context,omitempty"`
	Type             string           `json:"type"`

	Text        *OutboundText        `json:"text,omitempty"`
	Template    *OutboundTemplate    `json:"template,omitempty"`
	Interactive *OutboundInteractive `json:"interactive,omitempty"`
	Image       *OutboundMedia       `json:"image,omitempty"`
	Document    *OutboundMedia       `json:"document,omitempty"`
	Audio       *OutboundMedia       `json:"audio,omitempty"`
	Video       *OutboundMedia       `json:"video,omitempty"`
	Sticker     *OutboundMedia       `json:"sticker,omitempty"`
	Reaction    *OutboundReaction    `json:"reaction,omitempty"`

	// BizOpaqueCallbackData is echoed back by Meta in the status webhooks
	// of this message (at most 512 characters).
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data,omitempty"`
}

// OutboundContext quotes the message being replied to.
type OutboundContext struct {
	MessageID string `json:"message_id"`
}

// OutboundText is a free-form text message (only inside the 24-hour
// customer-service window).
type OutboundText struct {
	PreviewURL bool   `json:"preview_url"`
	Body       string `json:"body"`
}

// OutboundTemplate is an approved template message.
type OutboundTemplate struct {
	Name       string                      `json:"name"`
	Language   OutboundTemplateLanguage    `json:"language"`
	Components []OutboundTemplateComponent `json:"components,omitempty"`
}

// OutboundTemplateLanguage is the template's language ("en_US").
type OutboundTemplateLanguage struct {
	Code   string `json:"code"`
	Policy string `json:"policy,omitempty"`
}

// OutboundTemplateComponent fills a template's header, body or button.
type OutboundTemplateComponent struct {
	Type       string                      `json:"type"`               // header, body, button
	SubType    string                      `json:"sub_type,omitempty"` // quick_reply, url (buttons)
	Index      string                      `json:"index,omitempty"`    // button position, "0"…
	Parameters []OutboundTemplateParameter `json:"parameters,omitempty"`
}

// OutboundTemplateParameter is one template variable. Set Type and the
// matching field; Currency and DateTime stay raw JSON.
type OutboundTemplateParameter struct {
	Type          string          `json:"type"` // text, payload, image, document, video, currency, date_time
	ParameterName string          `json:"parameter_name,omitempty"`
	Text          string          `json:"text,omitempty"`
	Payload       string          `json:"payload,omitempty"`
	Image         *OutboundMedia  `json:"image,omitempty"`
	Document      *OutboundMedia  `json:"document,omitempty"`
	Video         *OutboundMedia  `json:"video,omitempty"`
	Currency      json.RawMessage `json:"currency,omitempty"`
	DateTime      json.RawMessage `json:"date_time,omitempty"`
}

// OutboundInteractive is a reply-buttons, list, or other interactive
// message. Action keeps the common button and list fields; Action.Parameters
// carries the raw parameters of other kinds (cta_url, flow).
type OutboundInteractive struct {
	Type   string                     `json:"type"` // button, list, cta_url, flow…
	Header *OutboundInteractiveHeader `json:"header,omitempty"`
	Body   *OutboundInteractiveText   `json:"body,omitempty"`
	Footer *OutboundInteractiveText   `json:"footer,omitempty"`
	Action OutboundInteractiveAction  `json:"action"`
}

// OutboundInteractiveHeader is the optional header of an interactive
// message: text, or one media object.
type OutboundInteractiveHeader struct {
	Type     string         `json:"type"` // text, image, video, document
	Text     string         `json:"text,omitempty"`
	Image    *OutboundMedia `json:"image,omitempty"`
	Video    *OutboundMedia `json:"video,omitempty"`
	Document *OutboundMedia `json:"document,omitempty"`
}

// OutboundInteractiveText is an interactive body or footer.
type OutboundInteractiveText struct {
	Text string `json:"text"`
}

// OutboundInteractiveAction holds buttons (type button), the list button
// label and sections (type list), or a named action with raw parameters.
type OutboundInteractiveAction struct {
	Button     string                `json:"button,omitempty"`
	Buttons    []OutboundButton      `json:"buttons,omitempty"`
	Sections   []OutboundListSection `json:"sections,omitempty"`
	Name       string                `json:"name,omitempty"`
	Parameters json.RawMessage       `json:"parameters,omitempty"`
}

// OutboundButton is one reply button (at most three).
type OutboundButton struct {
	Type  string              `json:"type"` // reply
	Reply OutboundButtonReply `json:"reply"`
}

// OutboundButtonReply is a reply button's id and title (20 characters).
type OutboundButtonReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// OutboundListSection is one section of a list message.
type OutboundListSection struct {
	Title string            `json:"title,omitempty"`
	Rows  []OutboundListRow `json:"rows"`
}

// OutboundListRow is one choosable row of a list message.
type OutboundListRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// OutboundMedia is an image, document, audio, video or sticker, by uploaded
// media ID or by public link.
type OutboundMedia struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// OutboundReaction reacts to a message; an empty Emoji removes the reaction.
type OutboundReaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// SendResult is what the Cloud API returns for an accepted message.
type SendResult struct {
	// WAMID is the id of the sent message; status webhooks carry it.
	WAMID string
	// MessageStatus is empty for a normal send, or e.g.
	// "held_for_quality_assessment" (a paced marketing template) or
	// "accepted".
	MessageStatus string
	// WaID is the recipient's WhatsApp id as Meta resolved `to`.
	WaID string
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
// deadline Send returns ErrPaced at once). Use ClassOf, RetryAfter and
// Attempted on the error.
func (c *Client) Send(ctx context.Context, phoneNumberID string, msg OutboundMessage) (SendResult, error) {
	if phoneNumberID == "" || msg.To == "" {
		return SendResult{}, &clientError{class: Permanent, err: errors.New("whatsapp: send: phone number id and recipient are required")}
	}
	if msg.MessagingProduct == "" {
		msg.MessagingProduct = messagingProductWhatsApp
	}
	if msg.RecipientType == "" {
		msg.RecipientType = "individual"
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return SendResult{}, &clientError{class: Permanent, err: fmt.Errorf("whatsapp: send: encode message: %w", err)}
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
		return &clientError{class: Permanent, err: errors.New("whatsapp: mark read: phone number id and message id are required")}
	}
	req := markReadRequest{MessagingProduct: messagingProductWhatsApp, Status: "read", MessageID: wamid}
	if typing {
		req.TypingIndicator = &typingIndicator{Type: "text"}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return &clientError{class: Permanent, err: fmt.Errorf("whatsapp: mark read: encode: %w", err)}
	}
	_, err = c.do(ctx, phoneNumberID, "", body)
	return err
}

// do runs one POST to /{phone_number_id}/messages. pairKey empty: no
// per-recipient pacing.
func (c *Client) do(ctx context.Context, phoneNumberID, pairKey string, body []byte) (SendResult, error) {
	return c.doPath(ctx, phoneNumberID, "messages", pairKey, body)
}

// doPath runs one POST to /{phone_number_id}/{path} through the number's
// breaker and rate limiter (and the recipient's pacing unless pairKey is
// empty).
func (c *Client) doPath(ctx context.Context, phoneNumberID, path, pairKey string, body []byte) (SendResult, error) {
	cb := c.breaker(phoneNumberID)
	if st := cb.State(); st == gobreaker.StateOpen {
		c.metrics.request(phoneNumberID, "breaker_open")
		return SendResult{}, breakerErr(phoneNumberID, gobreaker.ErrOpenState)
	}
	if pairKey != "" && c.pairs != nil {
		if err := c.pairs.wait(ctx, pairKey, "recipient pacing"); err != nil {
			c.metrics.request(phoneNumberID, outcomeOf(err))
			return SendResult{}, err
		}
	}
	if err := c.numbers.wait(ctx, phoneNumberID, "number rate limit"); err != nil {
		if pairKey != "" && c.pairs != nil {
			c.pairs.release(pairKey, time.Now())
		}
		c.metrics.request(phoneNumberID, outcomeOf(err))
		return SendResult{}, err
	}
	start := time.Now()
	res, err := cb.Execute(func() (SendResult, error) {
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
	return &clientError{class: Transient, err: fmt.Errorf("%w for phone number id %s: %w", ErrBreakerOpen, phoneNumberID, err)}
}

func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrBreakerOpen):
		return "breaker_open"
	case errors.Is(err, ErrPaced):
		return "paced"
	case !Attempted(err) && isCanceled(err):
		return "canceled"
	}
	return ClassOf(err).String()
}

// post makes the HTTP request to /{phone_number_id}/{path} and turns the
// answer into a result or error.
func (c *Client) post(ctx context.Context, phoneNumberID, path string, body []byte) (SendResult, error) {
	if err := ctx.Err(); err != nil {
		return SendResult{}, &clientError{class: Transient, err: fmt.Errorf("whatsapp: send: %w", err)}
	}
	url := c.cfg.BaseURL + "/" + c.cfg.Version + "/" + phoneNumberID + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return SendResult{}, &clientError{class: Permanent, err: fmt.Errorf("whatsapp: send: build request: %w", err)}
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
		return SendResult{}, &clientError{class: Transient, attempted: true, err: fmt.Errorf("whatsapp: send: %w", err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return SendResult{}, &clientError{class: Transient, attempted: true, err: fmt.Errorf("whatsapp: send: read response (HTTP %d): %w", resp.StatusCode, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return SendResult{}, parseAPIError(resp.StatusCode, resp.Header, raw, c.cfg.PairInterval)
	}
	var sr sendResponse
	if err := json.Unmarshal(raw, &sr); err != nil {
		return SendResult{}, &clientError{class: Transient, attempted: true, err: fmt.Errorf("whatsapp: send: decode response (HTTP %d): %w", resp.StatusCode, err)}
	}
	var res SendResult
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
func (c *Client) breaker(phoneNumberID string) *gobreaker.CircuitBreaker[SendResult] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cb, ok := c.breakers[phoneNumberID]; ok {
		return cb
	}
	failures := uint32(c.cfg.BreakerFailures)
	log := c.cfg.Logger
	cb := gobreaker.NewCircuitBreaker[SendResult](gobreaker.Settings{
		Name:        phoneNumberID,
		MaxRequests: 1,
		Timeout:     c.cfg.BreakerOpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= failures
		},
		IsSuccessful: func(err error) bool {
			return err == nil || ClassOf(err) != Transient
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
