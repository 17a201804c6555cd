package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

const (
	secret      = "test_app_secret"
	verifyToken = "verify-me"
	adminToken  = "admin-token"
	topic       = "wa.events"
	dlqTopic    = "wa.events.dlq"
)

func corpus(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "shared", "conformance", "whatsapp", name))
	if err != nil {
		t.Fatalf("conformance corpus missing (../shared must sit beside the repo): %v", err)
	}
	return b
}

type env struct {
	app     *fiber.App
	brokers []string
	emb     *broker.Embedded
}

func newEnv(t *testing.T, mutate func(*gateway.Config)) *env {
	t.Helper()
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{topic, dlqTopic}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	conn, _ := dbtest.New(t)
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{emb.Addr()}, Topic: topic, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { prod.Close() })
	cfg := gateway.Config{AppSecrets: [][]byte{[]byte("old-secret"), []byte(secret)}, VerifyToken: verifyToken,
		AdminToken: adminToken, DeadLetterTopic: dlqTopic, BodyLimit: 1 << 20, PublishTimeout: 3 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}
	if mutate != nil {
		mutate(&cfg)
	}
	app, err := gateway.New(cfg, prod, gateway.StoresOf(db.NewStore(conn)))
	if err != nil {
		t.Fatal(err)
	}
	return &env{app: app, brokers: []string{emb.Addr()}, emb: emb}
}

func (e *env) do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := e.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func signed(body []byte, key string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Hub-Signature-256", whatsapp.Sign([]byte(key), body))
	}
	return req
}

// readAll returns every record on a topic (all partitions, each up to its
// end offset at the time of the call); want >= 0 is the count required.
func readAll(t *testing.T, brokers []string, topic string, want int) []kafka.Message {
	t.Helper()
	out := wagwtest.ReadTopic(t, brokers[0], topic)
	if want >= 0 && len(out) != want {
		t.Fatalf("topic %s has %d records, want %d", topic, len(out), want)
	}
	return out
}

func TestHandshake(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		query string
		code  int
		body  string
	}{
		{"hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", 200, "1158201444"},
		{"hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", 403, ""},
		{"hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", 403, ""},
		{"", 403, ""},
	} {
		code, body := e.do(t, httptest.NewRequest(http.MethodGet, "/webhook?"+tc.query, nil))
		if code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("GET /webhook?%s = %d %q, want %d %q", tc.query, code, body, tc.code, tc.body)
		}
	}
}

func TestWebhookAcceptedOnlyAfterKafka(t *testing.T) {
	e := newEnv(t, nil)
	body := corpus(t, "constructed_multi_entry_batch.json")
	want, err := event.ParseAndSplit(body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	code, resp := e.do(t, signed(body, secret))
	if code != 200 {
		t.Fatalf("status %d %s", code, resp)
	}
	recs := readAll(t, e.brokers, topic, len(want))
	keys := map[string]bool{}
	for _, r := range recs {
		var env event.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != env.Key() || env.Key() == "" {
			t.Errorf("record key %q, envelope key %q", r.Key, env.Key())
		}
		keys[env.ID] = true
	}
	for _, w := range want {
		if !keys[w.ID] {
			t.Errorf("event %s not produced", w.ID)
		}
	}
	// Rotation: the older secret is accepted too.
	if code, resp := e.do(t, signed(corpus(t, "meta_text_message.json"), "old-secret")); code != 200 {
		t.Fatalf("old secret: %d %s", code, resp)
	}
}

func TestWebhookBadSignatureProducesNothing(t *testing.T) {
	e := newEnv(t, nil)
	body := corpus(t, "meta_text_message.json")
	for name, req := range map[string]*http.Request{
		"missing": signed(body, ""),
		"wrong":   signed(body, "another-secret"),
		"tampered": func() *http.Request {
			r := signed(body, secret)
			r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte("color"), []byte("colour"), 1)))
			return r
		}(),
	} {
		code, resp := e.do(t, req)
		if code != 401 || !strings.Contains(resp, "bad_signature") {
			t.Errorf("%s signature: %d %s, want 401 bad_signature", name, code, resp)
		}
	}
	readAll(t, e.brokers, topic, 0)
	readAll(t, e.brokers, dlqTopic, 0)
}

func TestWebhookTooLarge(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.BodyLimit = 4096 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.app.Listener(ln)
	t.Cleanup(func() { e.app.Shutdown() })
	big := bytes.Repeat([]byte("x"), 8192)
	resp, err := http.Post("http://"+ln.Addr().String()+"/webhook", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("oversized body: %d %s, want 413", resp.StatusCode, body)
	}
	readAll(t, e.brokers, topic, 0)
}

func TestWebhookUnparseableGoesToDeadLetters(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range [][]byte{[]byte(`{"object":"whatsapp_business_account","entry":[{"changes":`), []byte(`not json at all`), []byte(`{"object":"page","entry":[]}`)} {
		code, resp := e.do(t, signed(body, secret))
		if code != 200 || !strings.Contains(resp, "dead_lettered") {
			t.Fatalf("unparseable signed body: %d %s, want 200 dead_lettered", code, resp)
		}
	}
	recs := readAll(t, e.brokers, dlqTopic, 3)
	if string(recs[0].Value) == "" {
		t.Fatal("dead letter lost the body")
	}
	var hasReason bool
	for _, h := range recs[0].Headers {
		hasReason = hasReason || (h.Key == "reason" && len(h.Value) > 0)
	}
	if !hasReason {
		t.Error("dead letter has no reason header")
	}
	readAll(t, e.brokers, topic, 0)
}

// A signed body that parses but holds no change (an entry of another
// shape, or none) is kept raw on the dead-letter topic: nothing Meta
// signed is acknowledged and dropped.
func TestWebhookWithoutChangesGoesToDeadLetters(t *testing.T) {
	e := newEnv(t, nil)
	bodies := [][]byte{
		[]byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","time":1759230000,"messaging":[{"sender":{"id":"1"},"message":{"text":"hi"}}]}]}`),
		[]byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[]}]}`),
		[]byte(`{"object":"whatsapp_business_account","entry":[]}`),
	}
	for _, body := range bodies {
		code, resp := e.do(t, signed(body, secret))
		if code != 200 || !strings.Contains(resp, "dead_lettered") {
			t.Fatalf("signed body without changes %s: %d %s, want 200 dead_lettered", body, code, resp)
		}
	}
	kept := map[string]bool{}
	for _, r := range readAll(t, e.brokers, dlqTopic, len(bodies)) { // in no order: the partitions are read in turn
		kept[string(r.Value)] = true
		if !strings.Contains(headerValue(r, "reason"), "no change") {
			t.Errorf("dead letter %s with reason %q", r.Value, headerValue(r, "reason"))
		}
	}
	for _, b := range bodies {
		if !kept[string(b)] {
			t.Errorf("%s is not on the dead-letter topic", b)
		}
	}
	readAll(t, e.brokers, topic, 0)
}

func TestWebhookKafkaDown(t *testing.T) {
	e := newEnv(t, nil)
	e.emb.Close() // the broker refuses every write from now on
	code, resp := e.do(t, signed(corpus(t, "meta_text_message.json"), secret))
	if code != 503 || !strings.Contains(resp, "kafka_unavailable") {
		t.Fatalf("kafka down: %d %s, want 503", code, resp)
	}
	code, _ = e.do(t, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if code != 200 {
		t.Fatalf("healthz %d", code)
	}
}

func TestReadyzAndMetrics(t *testing.T) {
	fail := false
	e := newEnv(t, func(c *gateway.Config) {
		c.ReadyReuse = -1 // each request checks
		c.Ready = func(context.Context) error {
			if fail {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
	})
	if code, _ := e.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); code != 200 {
		t.Fatalf("readyz %d", code)
	}
	fail = true
	if code, _ := e.do(t, httptest.NewRequest(http.MethodGet, "/readyz", nil)); code != 503 {
		t.Fatalf("readyz when not ready %d", code)
	}
	e.do(t, signed([]byte("{}"), "bad"))
	before := float64(time.Now().UnixNano()) / 1e9
	e.do(t, signed(corpus(t, "meta_text_message.json"), secret))
	code, body := e.do(t, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for _, want := range []string{`wagw_webhook_requests_total{outcome="accepted"} 1`, `wagw_webhook_signature_failures_total 1`, `wagw_webhook_produce_seconds_count 1`,
		`wagw_webhook_request_seconds_count 2`, `wagw_webhook_requests_total{outcome="kafka_unavailable"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	m := regexp.MustCompile(`(?m)^wagw_webhook_last_accepted_timestamp_seconds (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("metrics lack wagw_webhook_last_accepted_timestamp_seconds")
	}
	if at, err := strconv.ParseFloat(m[1], 64); err != nil || at < before {
		t.Errorf("wagw_webhook_last_accepted_timestamp_seconds = %s, want at least %f (the accepted POST)", m[1], before)
	}
}

// With /metrics served on its own address, the app with the webhooks does
// not serve it; the metrics app serves only it.
func TestMetricsElsewhere(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *gateway.Config) { c.Registry, c.MetricsElsewhere = reg, true })
	if code, _ := e.do(t, httptest.NewRequest(http.MethodGet, "/metrics", nil)); code != 404 {
		t.Errorf("/metrics next to /webhook = %d, want 404", code)
	}
	if code, _ := e.do(t, signed(corpus(t, "meta_text_message.json"), secret)); code != 200 {
		t.Fatalf("webhook %d", code)
	}
	m := &env{app: gateway.NewMetrics(reg)}
	code, body := m.do(t, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if code != 200 || !strings.Contains(body, `wagw_webhook_requests_total{outcome="accepted"} 1`) {
		t.Errorf("metrics app /metrics = %d, want 200 with the gateway's counters:\n%s", code, body)
	}
	for _, path := range []string{"/webhook", "/healthz", "/v1/conversations"} {
		if code, _ := m.do(t, httptest.NewRequest(http.MethodGet, path, nil)); code != 404 {
			t.Errorf("metrics app %s = %d, want 404", path, code)
		}
	}
}

func TestAPIRequiresToken(t *testing.T) {
	e := newEnv(t, nil)
	for _, h := range []string{"", "Bearer", "Bearer nope", "Basic " + adminToken} {
		req := httptest.NewRequest(http.MethodGet, "/v1/conversations", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		if code, body := e.do(t, req); code != 401 {
			t.Errorf("Authorization %q: %d %s, want 401", h, code, body)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/conversations", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if code, body := e.do(t, req); code != 200 || !strings.Contains(body, `"conversations":[]`) {
		t.Fatalf("admin token: %d %s", code, body)
	}
	for path, want := range map[string]int{"/v1/conversations/abc": 400, "/v1/conversations/999": 404, "/v1/contacts": 400, "/v1/contacts?wa_id=1": 404, "/v1/conversations?status=maybe": 400} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if code, body := e.do(t, req); code != want || !strings.Contains(body, `"code"`) {
			t.Errorf("GET %s: %d %s, want %d with an error code", path, code, body, want)
		}
	}
}

// messageWithStatus is a signed-ready webhook holding one text message and
// one status whose timestamp is statusTS.
func messageWithStatus(wamid, statusTS string) []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{` +
		`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
		`"contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],` +
		`"messages":[{"from":"16505551234","id":"` + wamid + `","timestamp":"1749416383","type":"text","text":{"body":"hi"}}],` +
		`"statuses":[{"id":"wamid.OUT1","status":"delivered","timestamp":"` + statusTS + `","recipient_id":"16505551235"}]}}]}]}`)
}

// TestWebhookEventThatCannotBeEncoded: a signed webhook is never refused
// for its content. A status whose timestamp is past the year 9999 cannot
// be written as an envelope; the message beside it is produced, the
// status is kept (produced, or dead-lettered with its reason), and the
// answer is 200 on the first try.
func TestWebhookEventThatCannotBeEncoded(t *testing.T) {
	e := newEnv(t, nil)
	code, resp := e.do(t, signed(messageWithStatus("wamid.KEEP1", "0700000000000"), secret))
	if code != 200 {
		t.Fatalf("webhook with a status of year > 9999: %d %s, want 200", code, resp)
	}
	var gotMessage, gotStatus int
	for _, r := range readAll(t, e.brokers, topic, -1) {
		var env event.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatalf("events topic: %v", err)
		}
		switch env.Kind {
		case event.KindMessage:
			gotMessage++
		case event.KindStatus:
			gotStatus++
		}
	}
	for _, r := range readAll(t, e.brokers, dlqTopic, -1) {
		if !bytes.Contains(r.Value, []byte("wamid.OUT1")) {
			t.Errorf("dead letter %s is not the status", r.Value)
		}
		if !strings.Contains(headerValue(r, "reason"), "encode") || headerValue(r, "source") != "gateway" {
			t.Errorf("dead letter headers %v", r.Headers)
		}
		gotStatus++
	}
	if gotMessage != 1 || gotStatus != 1 {
		t.Fatalf("message produced %d times, status kept %d times; want 1 and 1", gotMessage, gotStatus)
	}
}

func headerValue(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// bigWebhook is a parseable webhook of about size bytes: one contact's
// messages, each with a 2 KB text.
func bigWebhook(tag string, size int) ([]byte, int) {
	var msgs []string
	text := strings.Repeat("é", 1000)
	for i := 0; len(msgs)*2100 < size; i++ {
		msgs = append(msgs, fmt.Sprintf(`{"from":"16505551234","id":"wamid.%s.%d","timestamp":"1749416383","type":"text","text":{"body":"%s"}}`, tag, i, text))
	}
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{` +
		`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
		`"contacts":[{"profile":{"name":"Sheena"},"wa_id":"16505551234"}],"messages":[` + strings.Join(msgs, ",") + `]}}]}]}`), len(msgs)
}

// TestWebhookLargeBodies: 3 MB webhooks under the default 4 MiB limit are
// taken whole: a parseable one is produced event by event, an unparseable
// one is kept on the dead-letter topic; both are 200.
func TestWebhookLargeBodies(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.BodyLimit = 4 << 20 })
	body, n := bigWebhook("BIG", 3<<20)
	if code, resp := e.do(t, signed(body, secret)); code != 200 || !strings.Contains(resp, fmt.Sprintf(`"events":%d`, n)) {
		t.Fatalf("a parseable %d-byte webhook: %d %s, want 200 with %d events", len(body), code, short(resp), n)
	}
	readAll(t, e.brokers, topic, n)
	junk := noise(3 << 20)
	if code, resp := e.do(t, signed(junk, secret)); code != 200 || !strings.Contains(resp, "dead_lettered") {
		t.Fatalf("an unparseable %d-byte webhook: %d %s, want 200 dead_lettered", len(junk), code, short(resp))
	}
	dl := readAll(t, e.brokers, dlqTopic, 1)
	if !bytes.Equal(dl[0].Value, junk) {
		t.Errorf("the dead letter holds %d bytes, not the %d-byte body", len(dl[0].Value), len(junk))
	}
}

// noise is n bytes of letters and digits that do not compress much.
func noise(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for i := range b {
		b[i] = abc[r.IntN(len(abc))]
	}
	return b
}

// TestWebhookNotUTF8IsDeadLettered: JSON is UTF-8 and Meta escapes
// everything else; a signed body that is not UTF-8 is kept raw on the
// dead-letter topic rather than produced as events the store cannot keep.
func TestWebhookNotUTF8IsDeadLettered(t *testing.T) {
	e := newEnv(t, nil)
	body := bytes.Replace(corpus(t, "meta_text_message.json"), []byte("color"), []byte("col\xffor"), 1)
	if code, resp := e.do(t, signed(body, secret)); code != 200 || !strings.Contains(resp, "dead_lettered") {
		t.Fatalf("signed body with invalid UTF-8: %d %s, want 200 dead_lettered", code, resp)
	}
	dl := readAll(t, e.brokers, dlqTopic, 1)
	if !bytes.Equal(dl[0].Value, body) || !strings.Contains(headerValue(dl[0], "reason"), "UTF-8") {
		t.Errorf("dead letter %q with headers %v", dl[0].Value, dl[0].Headers)
	}
	readAll(t, e.brokers, topic, 0)
}

// A signed body that cannot be parsed is dead-lettered whatever it holds:
// the reason kept with it is bounded, so that a reason that quotes the
// body (an "object" of megabytes) cannot make the dead letter too large
// for Kafka and the webhook answered 503, retried by Meta for days.
func TestWebhookUnparseableWithALongReasonGoesToDeadLetters(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.BodyLimit = 4 << 20 })
	s := make([]byte, 3800<<10)
	for i := range s {
		s[i] = 'a' + byte(rand.IntN(26)) // random: snappy cannot shrink it under the limit
	}
	body := []byte(`{"object":"` + string(s) + `","entry":[]}`)
	code, resp := e.do(t, signed(body, secret))
	if code != 200 || !strings.Contains(resp, "dead_lettered") {
		t.Fatalf("signed body with an unknown object of %d bytes: %d %s, want 200 dead_lettered", len(s), code, resp)
	}
	recs := readAll(t, e.brokers, dlqTopic, 1)
	if !bytes.Equal(recs[0].Value, body) {
		t.Errorf("the dead letter holds %d bytes, want the body's %d", len(recs[0].Value), len(body))
	}
	readAll(t, e.brokers, topic, 0)
}
