package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
	"github.com/wagw/wagw/whatsapp/cloudapi"
)

func newSim(t *testing.T, cfg Config) (*Simulator, string) {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	sim := New(cfg)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	return sim, srv.URL
}

// unpaced is a client without its own limiter, so the simulator's limits
// are what a test sees.
func unpaced(url, token string, mod func(*cloudapi.ClientConfig)) *cloudapi.Client {
	cfg := cloudapi.ClientConfig{BaseURL: url, Token: token, RatePerSecond: -1, PairInterval: -1, Timeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	return cloudapi.NewClient(cfg)
}

func text(to, body string) whatsapp.OutboundMessage {
	return whatsapp.OutboundMessage{To: to, Type: "text", Text: &whatsapp.OutboundText{Body: body}}
}

func apiError(t *testing.T, err error) *whatsapp.APIError {
	t.Helper()
	var api *whatsapp.APIError
	if !errors.As(err, &api) {
		t.Fatalf("error %v is not a *whatsapp.APIError", err)
	}
	return api
}

func TestSimulatorAcceptsAndRecords(t *testing.T) {
	sim, url := newSim(t, Config{Token: "tok"})
	c := unpaced(url, "tok", nil)
	ctx := context.Background()

	msg := text("+16505551234", "Yes, it also comes in blue.")
	msg.Context = &whatsapp.OutboundContext{MessageID: "wamid.IN1"}
	res, err := c.Send(ctx, "111", msg)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !strings.HasPrefix(res.WAMID, "wamid.") || res.WaID != "16505551234" {
		t.Errorf("result %+v", res)
	}
	res2, err := c.Send(ctx, "222", whatsapp.OutboundMessage{To: "16505550000", Type: "template",
		Template: &whatsapp.OutboundTemplate{Name: "hello_world", Language: whatsapp.OutboundTemplateLanguage{Code: "en_US"}}})
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	if res2.WAMID == res.WAMID {
		t.Error("wamids not unique")
	}
	if err := c.MarkRead(ctx, "111", "wamid.IN1", true); err != nil {
		t.Fatalf("MarkRead: %v", err)
	}

	sent := sim.Sent()
	if len(sent) != 2 {
		t.Fatalf("Sent() = %d messages", len(sent))
	}
	m := sent[0]
	if m.PhoneNumberID != "111" || m.To != "+16505551234" || m.Type != "text" || m.Text != "Yes, it also comes in blue." ||
		m.ContextID != "wamid.IN1" || m.WAMID != res.WAMID || m.Received.IsZero() {
		t.Errorf("recorded %+v", m)
	}
	if sent[1].Template != "hello_world" {
		t.Errorf("recorded template %+v", sent[1])
	}

	var list struct {
		Count    int           `json:"count"`
		Messages []SentMessage `json:"messages"`
	}
	getJSON(t, url+"/_sim/messages?phone_number_id=222", &list)
	if list.Count != 1 || len(list.Messages) != 1 || list.Messages[0].WAMID != res2.WAMID {
		t.Errorf("GET /_sim/messages filtered = %+v", list)
	}
	var stats map[string]int64
	getJSON(t, url+"/_sim/stats", &stats)
	if stats["accepted"] != 2 || stats["marked_read"] != 1 || stats["requests"] != 3 {
		t.Errorf("stats %v", stats)
	}

	resp, err := http.Post(url+"/_sim/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(sim.Sent()) != 0 || sim.Stats()["accepted"] != 0 {
		t.Error("reset did not clear")
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestSimulatorRejectsBadTokenAndBodies(t *testing.T) {
	_, url := newSim(t, Config{Token: "tok"})
	_, err := unpaced(url, "wrong", nil).Send(context.Background(), "111", text("1", "x"))
	api := apiError(t, err)
	if api.HTTPStatus != 401 || api.Code != 190 || api.Class != whatsapp.AccountStop {
		t.Errorf("wrong token: %+v", api)
	}

	for _, body := range []string{
		`{"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}`,                  // no to
		`{"messaging_product":"sms","to":"1","type":"text","text":{"body":"x"}}`,              // product
		`{"messaging_product":"whatsapp","to":"1","type":"text"}`,                             // no text
		`{"messaging_product":"whatsapp","to":"1","type":"template","template":{"name":"x"}}`, // no language
		`{"messaging_product":"whatsapp","to":"1","type":"image","image":{"caption":"c"}}`,    // no id/link
		`{"messaging_product":"whatsapp","to":"1","type":"hologram"}`,                         // type
		`{"messaging_product":"whatsapp","status":"read"}`,                                    // read without id
		`not json`,
	} {
		req, _ := http.NewRequest(http.MethodPost, url+"/v23.0/111/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct {
				Code int    `json:"code"`
				Type string `json:"type"`
			} `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e.Error.Code != 100 || e.Error.Type != "OAuthException" {
			t.Errorf("body %s: HTTP %d code %d", body, resp.StatusCode, e.Error.Code)
		}
	}
}

func TestSimulatorNumberRateLimit130429(t *testing.T) {
	sim, url := newSim(t, Config{RatePerNumber: 5, PairInterval: -1})
	c := unpaced(url, "", nil)
	var last error
	for i := 0; i < 6; i++ {
		_, last = c.Send(context.Background(), "111", text("1"+strconv.Itoa(i), "x"))
		if i < 5 && last != nil {
			t.Fatalf("send %d: %v", i, last)
		}
	}
	api := apiError(t, last)
	if api.Code != 130429 || api.HTTPStatus != 400 || api.Subcode != 2494055 || api.Class != whatsapp.Throttled || whatsapp.RetryAfter(last) != time.Second {
		t.Errorf("over rate: %+v", api)
	}
	// Another number has its own budget.
	if _, err := c.Send(context.Background(), "222", text("1", "x")); err != nil {
		t.Errorf("other number: %v", err)
	}
	if n := sim.Stats()["rate_limited"]; n != 1 {
		t.Errorf("rate_limited = %d", n)
	}
}

func TestSimulatorPairRate131056(t *testing.T) {
	sim, url := newSim(t, Config{PairInterval: time.Hour, PairBurst: 2})
	c := unpaced(url, "", nil)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := c.Send(ctx, "111", text("+15550001", "x")); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Send(ctx, "111", text("15550001", "x"))
	api := apiError(t, err)
	if api.Code != 131056 || api.Class != whatsapp.Throttled {
		t.Errorf("pair rate: %+v", api)
	}
	if _, err := c.Send(ctx, "111", text("15550002", "x")); err != nil {
		t.Errorf("other recipient: %v", err)
	}
	if sim.Stats()["pair_rate_limited"] != 1 {
		t.Errorf("stats %v", sim.Stats())
	}

	// The client's own pacing keeps a fresh simulator quiet: with the
	// defaults (client burst 3 < simulator burst 5) no 131056.
	sim2, url2 := newSim(t, Config{})
	paced := cloudapi.NewClient(cloudapi.ClientConfig{BaseURL: url2, Logger: slog.New(slog.DiscardHandler)})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	var pacedErr error
	for i := 0; i < 4; i++ {
		if _, pacedErr = paced.Send(short, "111", text("15550001", "x")); pacedErr != nil {
			break
		}
	}
	if !errors.Is(pacedErr, whatsapp.ErrPaced) || sim2.Stats()["pair_rate_limited"] != 0 || len(sim2.Sent()) != 3 {
		t.Errorf("client pacing: err %v, stats %v", pacedErr, sim2.Stats())
	}
}

func TestSimulatorInjectedFaults(t *testing.T) {
	sim, url := newSim(t, Config{})
	c := unpaced(url, "", func(cfg *cloudapi.ClientConfig) {
		cfg.BreakerFailures = 3
		cfg.Timeout = 100 * time.Millisecond
	})
	ctx := context.Background()

	// A burst of 5xx for one number, through the HTTP control endpoint.
	put(t, url+"/_sim/faults?phone_number_id=bad", `{"error_5xx_rate":1}`)
	for i := 0; i < 3; i++ {
		_, err := c.Send(ctx, "bad", text("1", "x"))
		api := apiError(t, err)
		if api.HTTPStatus != 503 || api.Class != whatsapp.Transient {
			t.Fatalf("5xx: %+v", api)
		}
	}
	if _, err := c.Send(ctx, "bad", text("1", "x")); !errors.Is(err, whatsapp.ErrBreakerOpen) {
		t.Errorf("breaker not open after injected 5xx: %v", err)
	}
	if _, err := c.Send(ctx, "good", text("1", "x")); err != nil {
		t.Errorf("other number: %v", err)
	}
	if n := sim.Stats()["injected_5xx"]; n != 3 {
		t.Errorf("injected_5xx = %d", n)
	}

	// Any Meta code, globally.
	sim.SetFaults(Faults{ErrorCodes: map[int]float64{131047: 1}})
	_, err := c.Send(ctx, "good", text("1", "x"))
	if api := apiError(t, err); api.Code != 131047 || api.HTTPStatus != 400 || api.Class != whatsapp.Permanent || api.Details == "" {
		t.Errorf("131047: %+v", api)
	}
	if sim.Stats()["injected_131047"] != 1 {
		t.Errorf("stats %v", sim.Stats())
	}

	// Timeouts: the request hangs until the client gives up.
	sim.SetFaults(Faults{TimeoutRate: 1})
	start := time.Now()
	_, err = c.Send(ctx, "good", text("1", "x"))
	if whatsapp.ClassOf(err) != whatsapp.Transient || !whatsapp.Attempted(err) || time.Since(start) > time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}

	// Latency.
	sim.SetFaults(Faults{Latency: 60 * time.Millisecond})
	start = time.Now()
	if _, err := c.Send(ctx, "good", text("2", "x")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Errorf("latency %v", el)
	}

	// DELETE clears.
	req, _ := http.NewRequest(http.MethodDelete, url+"/_sim/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if f := sim.CurrentFaults(); !reflect.DeepEqual(f, Faults{}) {
		t.Errorf("faults after DELETE: %+v", f)
	}
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT %s: %s %s", url, resp.Status, b)
	}
}

func TestFaultsJSON(t *testing.T) {
	var f Faults
	in := `{"latency":"50ms","latency_jitter":20,"timeout_rate":0.1,"error_codes":{"131047":0.5},"per_number":{"x":{"error_5xx_rate":1}}}`
	if err := json.Unmarshal([]byte(in), &f); err != nil {
		t.Fatal(err)
	}
	want := Faults{Latency: 50 * time.Millisecond, LatencyJitter: 20 * time.Millisecond, TimeoutRate: 0.1,
		ErrorCodes: map[int]float64{131047: 0.5}, PerNumber: map[string]Faults{"x": {Error5xxRate: 1}}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got %+v", f)
	}
	b, _ := json.Marshal(f)
	var back Faults
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip %s → %+v (%v)", b, back, err)
	}
}

// receiver is a fake gateway webhook endpoint.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	fail   int // answer 500 to this many requests first
	calls  int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.bodies = append(r.bodies, b)
	r.sigs = append(r.sigs, req.Header.Get(whatsapp.SignatureHeader))
}

func (r *receiver) got() ([][]byte, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]string(nil), r.sigs...)
}

func (r *receiver) waitFor(t *testing.T, n int) ([][]byte, []string) {
	t.Helper()
	var b [][]byte
	var s []string
	wagwtest.WaitEvery(t, 3*time.Second, 5*time.Millisecond, fmt.Sprintf("%d webhooks received", n), func() (bool, string) {
		b, s = r.got()
		return len(b) >= n, fmt.Sprintf("received %d webhooks, want %d", len(b), n)
	})
	return b, s
}

func newReceiver(t *testing.T, fail int) (*receiver, string) {
	r := &receiver{fail: fail}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

type statusPayload struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				MessagingProduct string `json:"messaging_product"`
				Metadata         struct {
					DisplayPhoneNumber string `json:"display_phone_number"`
					PhoneNumberID      string `json:"phone_number_id"`
				} `json:"metadata"`
				Statuses []struct {
					ID          string `json:"id"`
					Status      string `json:"status"`
					Timestamp   string `json:"timestamp"`
					RecipientID string `json:"recipient_id"`
					UserID      string `json:"recipient_user_id"`
					BizOpaque   string `json:"biz_opaque_callback_data"`
					Errors      []struct {
						Code      int    `json:"code"`
						Title     string `json:"title"`
						ErrorData struct {
							Details string `json:"details"`
						} `json:"error_data"`
					} `json:"errors"`
				} `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type gotStatus struct {
	wamid, status, recipient, userID, opaque string
	ts                                       int64
	errCode                                  int
}

func parseStatus(t *testing.T, body []byte, sig, secret, phoneNumberID string) gotStatus {
	t.Helper()
	if !whatsapp.Verify(sig, body, []byte(secret)) {
		t.Errorf("bad signature %q for %s", sig, body)
	}
	var p statusPayload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("webhook body: %v", err)
	}
	if p.Object != "whatsapp_business_account" || len(p.Entry) != 1 || p.Entry[0].ID != DefaultWABAID ||
		len(p.Entry[0].Changes) != 1 || p.Entry[0].Changes[0].Field != "messages" {
		t.Fatalf("webhook shape: %s", body)
	}
	v := p.Entry[0].Changes[0].Value
	if v.MessagingProduct != "whatsapp" || v.Metadata.PhoneNumberID != phoneNumberID ||
		v.Metadata.DisplayPhoneNumber != DefaultDisplayPhoneNumber || len(v.Statuses) != 1 {
		t.Fatalf("webhook value: %s", body)
	}
	st := v.Statuses[0]
	ts, err := strconv.ParseInt(st.Timestamp, 10, 64)
	if err != nil || ts < time.Now().Add(-time.Minute).Unix() {
		t.Errorf("timestamp %q", st.Timestamp)
	}
	g := gotStatus{wamid: st.ID, status: st.Status, recipient: st.RecipientID, userID: st.UserID, opaque: st.BizOpaque, ts: ts}
	if len(st.Errors) > 0 {
		g.errCode = st.Errors[0].Code
		if st.Errors[0].Title == "" || st.Errors[0].ErrorData.Details == "" {
			t.Errorf("failed status errors: %s", body)
		}
	}
	return g
}

var fastStatuses = StatusDelays{Sent: 5 * time.Millisecond, Delivered: 25 * time.Millisecond, Read: 45 * time.Millisecond}

func TestSimulatorStatusWebhooks(t *testing.T) {
	rec, hook := newReceiver(t, 0)
	_, url := newSim(t, Config{WebhookURL: hook, AppSecret: "s3cret", StatusDelays: fastStatuses})
	c := unpaced(url, "", nil)
	msg := text("+16505551234", "héllo/👍")
	msg.BizOpaqueCallbackData = "outbox:42"
	res, err := c.Send(context.Background(), "111", msg)
	if err != nil {
		t.Fatal(err)
	}
	bodies, sigs := rec.waitFor(t, 3)
	var order []string
	for i, b := range bodies {
		st := parseStatus(t, b, sigs[i], "s3cret", "111")
		if st.wamid != res.WAMID || st.recipient != "16505551234" || st.opaque != "outbox:42" {
			t.Errorf("status %+v", st)
		}
		order = append(order, st.status)
	}
	if strings.Join(order, ",") != "sent,delivered,read" {
		t.Errorf("order %v", order)
	}
	if bytes.Contains(bodies[0], []byte("http://")) {
		t.Errorf("slashes not escaped like Meta: %s", bodies[0])
	}
}

// A send to a business-scoped user id is reported as Meta reports it:
// the user id in recipient_user_id, no phone number in recipient_id.
func TestSimulatorStatusOfASendToAUserID(t *testing.T) {
	rec, hook := newReceiver(t, 0)
	_, url := newSim(t, Config{WebhookURL: hook, AppSecret: "s3cret", StatusDelays: fastStatuses})
	c := unpaced(url, "", nil)
	const user = "US.13491208655302741918"
	res, err := c.Send(context.Background(), "111", text(user, "hi"))
	if err != nil {
		t.Fatal(err)
	}
	bodies, sigs := rec.waitFor(t, 3)
	for i, b := range bodies {
		st := parseStatus(t, b, sigs[i], "s3cret", "111")
		if st.wamid != res.WAMID || st.userID != user || st.recipient != "" {
			t.Errorf("status %+v: want recipient_user_id %s and no recipient_id", st, user)
		}
	}
}

func TestSimulatorFailedStatusDuplicatesAndReorder(t *testing.T) {
	rec, hook := newReceiver(t, 0)
	sim, url := newSim(t, Config{WebhookURL: hook, AppSecret: "k", StatusDelays: fastStatuses,
		StatusFailRate: 1, DuplicateRate: 1, ReorderRate: 1, Seed: 7})
	c := unpaced(url, "", nil)
	res, err := c.Send(context.Background(), "111", text("1555", "x"))
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 4) // sent, failed, each twice
	waitStat(t, sim, "webhooks_delivered", 4)
	time.Sleep(30 * time.Millisecond)
	bodies, sigs := rec.got()
	if len(bodies) != 4 {
		t.Fatalf("%d webhooks, want 4", len(bodies))
	}
	seen := map[string]int{}
	var first gotStatus
	for i, b := range bodies {
		st := parseStatus(t, b, sigs[i], "k", "111")
		if i == 0 {
			first = st
		}
		if st.wamid != res.WAMID {
			t.Errorf("wamid %s", st.wamid)
		}
		if st.status == "failed" && st.errCode != DefaultStatusFailCode {
			t.Errorf("failed status code %d", st.errCode)
		}
		seen[st.status]++
	}
	if seen["sent"] != 2 || seen["failed"] != 2 {
		t.Errorf("statuses %v", seen)
	}
	if first.status != "failed" {
		t.Errorf("reordered: first webhook is %q, want failed", first.status)
	}
	st := sim.Stats()
	if st["webhooks_duplicated"] != 2 || st["webhooks_reordered"] != 1 || st["webhooks_delivered"] != 4 {
		t.Errorf("stats %v", st)
	}
	if sim.Sent()[0].Status != "failed" {
		t.Errorf("recorded status %q", sim.Sent()[0].Status)
	}
}

func TestSimulatorRetriesWebhooks(t *testing.T) {
	rec, hook := newReceiver(t, 2)
	sim, url := newSim(t, Config{WebhookURL: hook, StatusDelays: StatusDelays{Sent: time.Millisecond, Delivered: -1},
		DeliveryBackoff: 5 * time.Millisecond})
	if _, err := unpaced(url, "", nil).Send(context.Background(), "111", text("1", "x")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 1)
	waitStat(t, sim, "webhooks_delivered", 1)
	st := sim.Stats()
	if st["webhook_attempts"] != 3 || st["webhook_retries"] != 2 || st["webhooks_delivered"] != 1 {
		t.Errorf("stats %v", st)
	}

	// Bounded: a receiver that always fails gets DeliveryAttempts tries.
	rec2, hook2 := newReceiver(t, 1000)
	sim2, url2 := newSim(t, Config{WebhookURL: hook2, StatusDelays: StatusDelays{Sent: time.Millisecond, Delivered: -1},
		DeliveryBackoff: time.Millisecond, DeliveryAttempts: 3})
	if _, err := unpaced(url2, "", nil).Send(context.Background(), "111", text("1", "x")); err != nil {
		t.Fatal(err)
	}
	waitStat(t, sim2, "webhooks_dropped", 1)
	rec2.mu.Lock()
	calls := rec2.calls
	rec2.mu.Unlock()
	if calls != 3 || sim2.Stats()["webhooks_dropped"] != 1 {
		t.Errorf("calls %d, stats %v", calls, sim2.Stats())
	}
}

func waitStat(t *testing.T, sim *Simulator, key string, want int64) {
	t.Helper()
	wagwtest.WaitEvery(t, 3*time.Second, 2*time.Millisecond, fmt.Sprintf("stat %s reaches %d", key, want), func() (bool, string) {
		st := sim.Stats()
		return st[key] >= want, fmt.Sprintf("stat %s = %d, want %d (%v)", key, st[key], want, st)
	})
}

func TestSimulatorCloseStopsDeliveries(t *testing.T) {
	rec, hook := newReceiver(t, 0)
	sim := New(Config{WebhookURL: hook, StatusDelays: StatusDelays{Sent: 100 * time.Millisecond, Delivered: 150 * time.Millisecond, Read: 200 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	if _, err := unpaced(srv.URL, "", nil).Send(context.Background(), "111", text("1", "x")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sim.Close()
	if el := time.Since(start); el > 500*time.Millisecond {
		t.Errorf("Close took %v", el)
	}
	time.Sleep(250 * time.Millisecond)
	if b, _ := rec.got(); len(b) != 0 {
		t.Errorf("%d webhooks after Close", len(b))
	}
	sim.Close() // idempotent
}

func TestSimulatorStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sim := New(Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	addr, err := sim.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unpaced("http://"+addr, "", nil).Send(context.Background(), "111", text("1", "x")); err != nil {
		t.Fatal(err)
	}
	cancel()
	wagwtest.WaitEvery(t, 2*time.Second, 5*time.Millisecond, "server stops answering after ctx was cancelled", func() (bool, string) {
		_, err := http.Get("http://" + addr + "/_sim/stats")
		return err != nil, "GET /_sim/stats still answers"
	})
	sim.Close()
}

func TestSimulatorErrorBodiesMatchConformance(t *testing.T) {
	dir := "../../shared/conformance/whatsapp/send_api"
	sim, url := newSim(t, Config{RatePerNumber: 1, PairInterval: time.Hour, PairBurst: 1})
	c := unpaced(url, "", nil)
	ctx := context.Background()
	_, _ = c.Send(ctx, "111", text("1", "x"))
	_, err130429 := c.Send(ctx, "111", text("2", "x"))
	_, _ = c.Send(ctx, "222", text("1", "x"))
	sim.mu.Lock()
	sim.numbers = map[string]*simBucket{}
	sim.mu.Unlock()
	_, err131056 := c.Send(ctx, "222", text("1", "x"))
	for _, tc := range []struct {
		err    error
		sample string
	}{{err130429, "send_error_130429.json"}, {err131056, "send_error_131056_pair_rate.json"}} {
		raw, err := os.ReadFile(filepath.Join(dir, tc.sample))
		if err != nil {
			t.Fatalf("conformance sample missing: %v", err)
		}
		var sample struct {
			Error struct {
				Message   string `json:"message"`
				Type      string `json:"type"`
				Code      int    `json:"code"`
				Subcode   int    `json:"error_subcode"`
				ErrorData struct {
					Details string `json:"details"`
				} `json:"error_data"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &sample); err != nil {
			t.Fatal(err)
		}
		api := apiError(t, tc.err)
		if api.Code != sample.Error.Code || api.Message != sample.Error.Message || api.Type != sample.Error.Type ||
			api.Subcode != sample.Error.Subcode || api.Details != sample.Error.ErrorData.Details || api.FBTraceID == "" {
			t.Errorf("simulator %+v differs from %s", api, tc.sample)
		}
	}
}
