package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// sendSample is a file of the conformance corpus's send_api folder.
func sendSample(t *testing.T, name string) []byte {
	t.Helper()
	return wagwtest.ReadConformance(t, filepath.Join("send_api", name))
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", compact(got), compact(want))
	}
}

func compact(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// recorder is a fake Cloud API: it records each request and answers with
// the function's status and body.
type recorder struct {
	mu      sync.Mutex
	bodies  [][]byte
	paths   []string
	auths   []string
	answer  func(phoneNumberID string, n int) (int, []byte)
	perPath map[string]int
}

func newRecorder(t *testing.T, answer func(phoneNumberID string, n int) (int, []byte)) (*recorder, *httptest.Server) {
	r := &recorder{answer: answer, perPath: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
		id := ""
		if len(parts) == 3 {
			id = parts[1]
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.paths = append(r.paths, req.Method+" "+req.URL.Path)
		r.auths = append(r.auths, req.Header.Get("Authorization"))
		r.perPath[id]++
		n := r.perPath[id]
		r.mu.Unlock()
		status, body := r.answer(id, n)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perPath[id]
}

func (r *recorder) last() ([]byte, string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := len(r.bodies) - 1
	return r.bodies[i], r.paths[i], r.auths[i]
}

func testClient(url string, mod func(*ClientConfig)) *Client {
	cfg := ClientConfig{BaseURL: url, Token: "tok", RatePerSecond: -1, PairInterval: -1, Timeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	return NewClient(cfg)
}

func TestSendRequestShapes(t *testing.T) {
	success := sendSample(t, "send_response_success.json")
	rec, srv := newRecorder(t, func(string, int) (int, []byte) { return 200, success })
	c := testClient(srv.URL, nil)

	cases := []struct {
		sample string
		msg    whatsapp.OutboundMessage
	}{
		{"send_text_reply_request.json", whatsapp.OutboundMessage{
			To:      "+16505551234",
			Context: &whatsapp.OutboundContext{MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="},
			Type:    "text",
			Text:    &whatsapp.OutboundText{Body: "Yes, it also comes in blue."},
		}},
		{"send_template_request.json", whatsapp.OutboundMessage{
			To:       "+16505551234",
			Type:     "template",
			Template: &whatsapp.OutboundTemplate{Name: "hello_world", Language: whatsapp.OutboundTemplateLanguage{Code: "en_US"}},
		}},
		{"send_interactive_buttons_request.json", whatsapp.OutboundMessage{
			To:   "+16505551234",
			Type: "interactive",
			Interactive: &whatsapp.OutboundInteractive{
				Type: "button",
				Body: &whatsapp.OutboundInteractiveText{Text: "How can we help?"},
				Action: whatsapp.OutboundInteractiveAction{Buttons: []whatsapp.OutboundButton{
					{Type: "reply", Reply: whatsapp.OutboundButtonReply{ID: "SALES", Title: "Sales"}},
					{Type: "reply", Reply: whatsapp.OutboundButtonReply{ID: "SUPPORT", Title: "Support"}},
				}},
			},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.sample, func(t *testing.T) {
			res, err := c.Send(context.Background(), "106540352242922", tc.msg)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.WAMID != "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI4MjZGRDA0OUE2OTQ3RkEyMzcA" || res.MessageStatus != "" || res.WaID != "16505551234" {
				t.Errorf("result = %+v", res)
			}
			body, path, auth := rec.last()
			if path != "POST /v23.0/106540352242922/messages" {
				t.Errorf("path = %q", path)
			}
			if auth != "Bearer tok" {
				t.Errorf("authorization = %q", auth)
			}
			assertJSONEqual(t, body, sendSample(t, tc.sample))
		})
	}
}

func TestMarkReadShapes(t *testing.T) {
	ok := sendSample(t, "mark_read_response.json")
	rec, srv := newRecorder(t, func(string, int) (int, []byte) { return 200, ok })
	c := testClient(srv.URL, func(cfg *ClientConfig) { cfg.Version = "v24.0" })
	const wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
	for _, tc := range []struct {
		typing bool
		sample string
	}{{false, "mark_read_request.json"}, {true, "mark_read_typing_request.json"}} {
		if err := c.MarkRead(context.Background(), "106540352242922", wamid, tc.typing); err != nil {
			t.Fatalf("MarkRead: %v", err)
		}
		body, path, _ := rec.last()
		if path != "POST /v24.0/106540352242922/messages" {
			t.Errorf("path = %q", path)
		}
		assertJSONEqual(t, body, sendSample(t, tc.sample))
	}
}

func TestSendParsesHeldForQualityAssessment(t *testing.T) {
	paced := sendSample(t, "send_response_paced_template.json")
	_, srv := newRecorder(t, func(string, int) (int, []byte) { return 200, paced })
	c := testClient(srv.URL, nil)
	res, err := c.Send(context.Background(), "1", whatsapp.OutboundMessage{To: "16505551234", Type: "template",
		Template: &whatsapp.OutboundTemplate{Name: "promo", Language: whatsapp.OutboundTemplateLanguage{Code: "en_US"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.WAMID != "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI4MjZGRDA0OUE2OTQ3RkEyMzcA" || res.MessageStatus != "held_for_quality_assessment" {
		t.Errorf("result = %+v", res)
	}
}

func TestSendErrorSamples(t *testing.T) {
	for _, tc := range []struct {
		sample     string
		code       int
		subcode    int
		trace      string
		retryAfter time.Duration
	}{
		{"send_error_130429.json", 130429, 2494055, "Az8or2yhqkZfEZ-_4Qn_Bam", time.Second},
		{"send_error_131056_pair_rate.json", 131056, 0, "A4O5a8RAgePwbcGSu", 4 * time.Second},
	} {
		t.Run(tc.sample, func(t *testing.T) {
			body := sendSample(t, tc.sample)
			_, srv := newRecorder(t, func(string, int) (int, []byte) { return 400, body })
			// The 131056 suggestion is the client's pair interval.
			c := testClient(srv.URL, func(cfg *ClientConfig) { cfg.BreakerFailures = 1; cfg.PairInterval = 4 * time.Second })
			_, err := c.Send(context.Background(), "1", whatsapp.OutboundMessage{To: "16505551234", Type: "text", Text: &whatsapp.OutboundText{Body: "x"}})
			var api *whatsapp.APIError
			if !errors.As(err, &api) {
				t.Fatalf("error %v is not *APIError", err)
			}
			if api.HTTPStatus != 400 || api.Code != tc.code || api.Subcode != tc.subcode || api.FBTraceID != tc.trace ||
				api.Type != "OAuthException" || api.Message == "" || api.Details == "" || api.Class != whatsapp.Throttled {
				t.Errorf("parsed %+v", api)
			}
			if whatsapp.ClassOf(err) != whatsapp.Throttled || whatsapp.RetryAfter(err) != tc.retryAfter || !whatsapp.Attempted(err) {
				t.Errorf("ClassOf %v RetryAfter %v Attempted %v", whatsapp.ClassOf(err), whatsapp.RetryAfter(err), whatsapp.Attempted(err))
			}
			if strings.Contains(err.Error(), "16505551234") {
				t.Errorf("error text leaks the recipient: %v", err)
			}
			if c.BreakerState("1") != "closed" {
				t.Errorf("throttled error opened the breaker")
			}
		})
	}
}

func TestClassifyResponses(t *testing.T) {
	metaBody := func(code int) string {
		return `{"error":{"message":"m","type":"OAuthException","code":` + itoa(code) + `,"fbtrace_id":"x"}}`
	}
	cases := []struct {
		name   string
		status int
		body   string
		want   whatsapp.ErrorClass
	}{
		{"known code wins over 5xx", 500, metaBody(131047), whatsapp.Permanent},
		{"known transient code with 400", 400, metaBody(131000), whatsapp.Transient},
		{"unknown code with 4xx", 400, metaBody(424242), whatsapp.Permanent},
		{"unknown code with 5xx", 503, metaBody(424242), whatsapp.Transient},
		{"unknown code with 429", 429, metaBody(424242), whatsapp.Throttled},
		{"5xx without body", 502, "", whatsapp.Transient},
		{"5xx with html", 500, "<html>oops</html>", whatsapp.Transient},
		{"429 without body", 429, "", whatsapp.Throttled},
		{"401 without body", 401, "", whatsapp.AccountStop},
		{"403 without body", 403, "", whatsapp.AccountStop},
		{"401 code 190", 401, metaBody(190), whatsapp.AccountStop},
		{"404 without body", 404, "", whatsapp.Permanent},
		{"error object without code", 400, `{"error":{"message":"bad"}}`, whatsapp.Permanent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newRecorder(t, func(string, int) (int, []byte) { return tc.status, []byte(tc.body) })
			c := testClient(srv.URL, nil)
			_, err := c.Send(context.Background(), "1", whatsapp.OutboundMessage{To: "2", Type: "text", Text: &whatsapp.OutboundText{Body: "x"}})
			if got := whatsapp.ClassOf(err); got != tc.want {
				t.Errorf("ClassOf = %v, want %v (err %v)", got, tc.want, err)
			}
			var api *whatsapp.APIError
			if !errors.As(err, &api) || api.HTTPStatus != tc.status {
				t.Errorf("error %v is not an *APIError with status %d", err, tc.status)
			}
		})
	}
	if whatsapp.ClassOf(nil) != 0 || whatsapp.ClassOf(errors.New("x")) != whatsapp.Transient {
		t.Error("ClassOf of nil / plain error")
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestNetworkErrorIsTransientAndAttempted(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := testClient(url, nil)
	_, err := c.Send(context.Background(), "1", whatsapp.OutboundMessage{To: "2", Type: "text", Text: &whatsapp.OutboundText{Body: "x"}})
	if err == nil || whatsapp.ClassOf(err) != whatsapp.Transient || !whatsapp.Attempted(err) {
		t.Errorf("err %v class %v attempted %v", err, whatsapp.ClassOf(err), whatsapp.Attempted(err))
	}
	if _, err := c.Send(context.Background(), "", whatsapp.OutboundMessage{To: "2"}); whatsapp.ClassOf(err) != whatsapp.Permanent || whatsapp.Attempted(err) {
		t.Errorf("empty phone number id: %v", err)
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := testClient(srv.URL, func(cfg *ClientConfig) { cfg.Timeout = 50 * time.Millisecond })
	_, err := c.Send(context.Background(), "1", whatsapp.OutboundMessage{To: "2", Type: "text", Text: &whatsapp.OutboundText{Body: "x"}})
	if whatsapp.ClassOf(err) != whatsapp.Transient || !whatsapp.Attempted(err) {
		t.Errorf("timeout: err %v class %v", err, whatsapp.ClassOf(err))
	}
}

func TestBreakerOpensPerNumberAndHalfOpenProbeClosesIt(t *testing.T) {
	success := sendSample(t, "send_response_success.json")
	var healthy atomic.Bool
	rec, srv := newRecorder(t, func(id string, _ int) (int, []byte) {
		if id == "bad" && !healthy.Load() {
			return 500, nil
		}
		return 200, success
	})
	reg := prometheus.NewRegistry()
	const openFor = 150 * time.Millisecond
	c := testClient(srv.URL, func(cfg *ClientConfig) {
		cfg.BreakerFailures = 3
		cfg.BreakerOpenFor = openFor
		cfg.Registerer = reg
	})
	msg := whatsapp.OutboundMessage{To: "2", Type: "text", Text: &whatsapp.OutboundText{Body: "x"}}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := c.Send(ctx, "bad", msg); whatsapp.ClassOf(err) != whatsapp.Transient || errors.Is(err, whatsapp.ErrBreakerOpen) {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if got := c.BreakerState("bad"); got != "open" {
		t.Fatalf("after 3 transient failures breaker is %q", got)
	}
	_, err := c.Send(ctx, "bad", msg)
	if !errors.Is(err, whatsapp.ErrBreakerOpen) || whatsapp.ClassOf(err) != whatsapp.Transient || whatsapp.Attempted(err) {
		t.Fatalf("open breaker: err %v class %v attempted %v", err, whatsapp.ClassOf(err), whatsapp.Attempted(err))
	}
	if n := rec.count("bad"); n != 3 {
		t.Errorf("requests reaching Meta for the bad number = %d, want 3", n)
	}
	if v := wagwtest.Metric(t, reg, "wagw_sender_breaker_state", map[string]string{"phone_number_id": "bad"}); v != 2 {
		t.Errorf("breaker gauge = %v, want 2", v)
	}
	if v := wagwtest.Metric(t, reg, "wagw_sender_requests_total", map[string]string{"phone_number_id": "bad", "outcome": "breaker_open"}); v != 1 {
		t.Errorf("breaker_open counter = %v", v)
	}

	// Another number is unaffected.
	if _, err := c.Send(ctx, "good", msg); err != nil {
		t.Fatalf("other number: %v", err)
	}
	if c.BreakerState("good") != "closed" {
		t.Error("other number's breaker not closed")
	}

	// After the open interval one probe goes through and closes it.
	healthy.Store(true)
	time.Sleep(openFor + 30*time.Millisecond)
	if got := c.BreakerState("bad"); got != "half-open" {
		t.Errorf("after open interval breaker is %q", got)
	}
	if v := wagwtest.Metric(t, reg, "wagw_sender_breaker_state", map[string]string{"phone_number_id": "bad"}); v != 1 {
		t.Errorf("half-open gauge = %v", v)
	}
	if _, err := c.Send(ctx, "bad", msg); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := c.BreakerState("bad"); got != "closed" {
		t.Errorf("after successful probe breaker is %q", got)
	}
	if v := wagwtest.Metric(t, reg, "wagw_sender_breaker_state", map[string]string{"phone_number_id": "bad"}); v != 0 {
		t.Errorf("closed gauge = %v", v)
	}
	if v := wagwtest.Metric(t, reg, "wagw_sender_requests_total", map[string]string{"phone_number_id": "bad", "outcome": "transient"}); v != 3 {
		t.Errorf("transient counter = %v", v)
	}
}

func TestHalfOpenProbeFailureReopens(t *testing.T) {
	_, srv := newRecorder(t, func(string, int) (int, []byte) { return 503, nil })
	c := testClient(srv.URL, func(cfg *ClientConfig) { cfg.BreakerFailures = 1; cfg.BreakerOpenFor = 50 * time.Millisecond })
	msg := whatsapp.OutboundMessage{To: "2", Type: "text", Text: &whatsapp.OutboundText{Body: "x"}}
	_, _ = c.Send(context.Background(), "n", msg)
	if c.BreakerState("n") != "open" {
		t.Fatal("not open")
	}
	time.Sleep(70 * time.Millisecond)
	if _, err := c.Send(context.Background(), "n", msg); errors.Is(err, whatsapp.ErrBreakerOpen) || whatsapp.ClassOf(err) != whatsapp.Transient {
		t.Fatalf("probe: %v", err)
	}
	if c.BreakerState("n") != "open" {
		t.Errorf("failed probe left breaker %q", c.BreakerState("n"))
	}
}

func TestNonTransientErrorsNeverOpenBreaker(t *testing.T) {
	codes := []int{130429, 131056, 131047, 100, 132001, 190, 131031}
	_, srv := newRecorder(t, func(_ string, n int) (int, []byte) {
		code := codes[(n-1)%len(codes)]
		return 400, []byte(`{"error":{"message":"m","type":"OAuthException","code":` + itoa(code) + `}}`)
	})
	c := testClient(srv.URL, func(cfg *ClientConfig) { cfg.BreakerFailures = 2 })
	for i := 0; i < 3*len(codes); i++ {
		_, err := c.Send(context.Background(), "n", whatsapp.OutboundMessage{To: "2", Type: "text", Text: &whatsapp.OutboundText{Body: "x"}})
		if errors.Is(err, whatsapp.ErrBreakerOpen) || whatsapp.ClassOf(err) == whatsapp.Transient {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if got := c.BreakerState("n"); got != "closed" {
		t.Errorf("breaker %q after non-transient errors", got)
	}
}

func TestNumberRateLimiterPaces(t *testing.T) {
	success := sendSample(t, "send_response_success.json")
	_, srv := newRecorder(t, func(string, int) (int, []byte) { return 200, success })
	c := testClient(srv.URL, func(cfg *ClientConfig) { cfg.RatePerSecond = 50; cfg.Burst = 2 })
	start := time.Now()
	for i := 0; i < 7; i++ { // 2 at once, then 5 at 20 ms each
		to := "3100000000" + itoa(i)
		if _, err := c.Send(context.Background(), "n", whatsapp.OutboundMessage{To: to, Type: "text", Text: &whatsapp.OutboundText{Body: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Errorf("7 sends at 50/s with burst 2 took %v, want ≥ 100 ms", el)
	}
	// Another number has its own bucket.
	now := time.Now()
	if d := c.numbers.reserve("n", now); d <= 0 {
		t.Errorf("number n not in debt after its burst: wait %v", d)
	}
	if d := c.numbers.reserve("m", now); d != 0 {
		t.Errorf("other number waits %v", d)
	}
}

func TestPairPacing(t *testing.T) {
	success := sendSample(t, "send_response_success.json")
	_, srv := newRecorder(t, func(string, int) (int, []byte) { return 200, success })
	c := testClient(srv.URL, func(cfg *ClientConfig) { cfg.PairInterval = 60 * time.Millisecond; cfg.PairBurst = 2 })
	send := func(ctx context.Context, to string) error {
		_, err := c.Send(ctx, "n", whatsapp.OutboundMessage{To: to, Type: "text", Text: &whatsapp.OutboundText{Body: "x"}})
		return err
	}
	start := time.Now()
	for i := 0; i < 4; i++ { // 2 at once, then 2 at 60 ms each; "+1" and "1" are one recipient
		to := "15550001111"
		if i%2 == 0 {
			to = "+" + to
		}
		if err := send(context.Background(), to); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 110*time.Millisecond {
		t.Errorf("4 sends to one recipient took %v, want ≥ 120 ms", el)
	}
	// Other recipients are not paced by it.
	if d := c.pairs.reserve("n\x0015550002222", time.Now()); d != 0 {
		t.Errorf("other recipient waits %v", d)
	}
	c.pairs.release("n\x0015550002222", time.Now())

	// A wait past the deadline fails at once with ErrPaced.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := send(ctx, "15550001111")
	if !errors.Is(err, whatsapp.ErrPaced) || whatsapp.ClassOf(err) != whatsapp.Throttled || whatsapp.Attempted(err) || whatsapp.RetryAfter(err) <= 10*time.Millisecond {
		t.Errorf("paced: err %v class %v attempted %v retry %v", err, whatsapp.ClassOf(err), whatsapp.Attempted(err), whatsapp.RetryAfter(err))
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("ErrPaced took %v", el)
	}

	// Cancelling while waiting returns promptly and refunds the token.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(5 * time.Millisecond); cancel2() }()
	err = send(ctx2, "15550001111")
	if !errors.Is(err, context.Canceled) || whatsapp.Attempted(err) {
		t.Errorf("cancelled wait: %v", err)
	}
}

func TestBucketLimiterEvictsIdleBuckets(t *testing.T) {
	l := newBucketLimiter(1, 2) // 1 token/s, burst 2
	t0 := time.Now()
	for _, k := range []string{"a", "b", "c"} {
		l.reserve(k, t0)
	}
	l.reserve("c", t0)
	if d := l.reserve("c", t0); d < 900*time.Millisecond || d > 1100*time.Millisecond {
		t.Errorf("third token of c waits %v, want 1 s", d)
	}
	if l.size() != 3 {
		t.Fatalf("size %d", l.size())
	}
	// After a sweep period a and b are full again and go; c (3 tokens
	// taken, refilled by 60) too.
	l.reserve("d", t0.Add(sweepEvery+time.Second))
	if l.size() != 1 {
		t.Errorf("after sweep %d buckets, want 1 (d)", l.size())
	}
	// A bucket still in debt survives a sweep.
	l2 := newBucketLimiter(0.001, 1)
	l2.reserve("x", t0)
	l2.reserve("x", t0)
	l2.reserve("y", t0.Add(sweepEvery+time.Second))
	if l2.size() != 2 {
		t.Errorf("bucket in debt evicted: size %d", l2.size())
	}
}

func TestTwoClientsShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewClient(ClientConfig{Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	b := NewClient(ClientConfig{Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if a.metrics.state != b.metrics.state {
		t.Error("second client did not reuse the registered collectors")
	}
}
