package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/gateway"
	"github.com/wagw/wagw/whatsapp"
)

// encodeOnly publishes by building every record exactly as PublishEach
// does, and stops before the write: what the handler path costs in the
// gateway, without kafka-go's batching and the broker.
type encodeOnly struct {
	p       *Producer
	records int
}

func (e *encodeOnly) Publish(context.Context, []event.Envelope) error { return nil }
func (e *encodeOnly) PublishRaw(context.Context, string, []byte, []byte, map[string]string) error {
	return nil
}

func (e *encodeOnly) PublishEach(_ context.Context, events []event.Envelope, dlq string, headers map[string]string) ([]error, error) {
	rejected := make([]error, len(events))
	for i := range events {
		if _, err := e.p.eventRecord(&events[i]); err != nil {
			rejected[i] = err
			e.p.deadLetterRecord(&events[i], dlq, err, headers)
		}
		e.records++
	}
	return rejected, nil
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWebhookHandler is the gateway's work per webhook: Fiber's
// routing and the body middleware, the signature check, parse and split,
// the encoding of every record, and the answer. Fiber is driven without
// a network. cpu-ns/op is the process's CPU time (user + system, GC
// included) per webhook, which a loaded machine does not inflate the way
// it inflates ns/op.
func BenchmarkWebhookHandler(b *testing.B) {
	secret := []byte("bench-app-secret")
	body, err := os.ReadFile(filepath.Join("..", "..", "shared", "conformance", "whatsapp", "meta_text_message.json"))
	if err != nil {
		b.Fatalf("conformance corpus missing (../shared must sit beside the repo): %v", err)
	}
	pub := &encodeOnly{p: NewProducer(ProducerConfig{Brokers: []string{"127.0.0.1:1"}})}
	defer pub.p.Close()
	app, err := gateway.New(gateway.Config{AppSecrets: [][]byte{secret}, VerifyToken: "v", DeadLetterTopic: "wa.events.dlq",
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}, pub, gateway.Stores{})
	if err != nil {
		b.Fatal(err)
	}
	handler := app.Handler()
	sig := whatsapp.Sign(secret, body)
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	var req fasthttp.Request
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	cpu0 := cpuTime()
	for b.Loop() {
		req.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI("/webhook")
		req.Header.SetContentType("application/json")
		req.Header.Set("X-Hub-Signature-256", sig)
		req.SetBody(body)
		ctx.Init(&req, remote, nil)
		handler(&ctx)
		if code := ctx.Response.StatusCode(); code != fasthttp.StatusOK {
			b.Fatalf("answered %d: %s", code, ctx.Response.Body())
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	if pub.records != b.N {
		b.Fatal(fmt.Sprintf("%d records for %d webhooks", pub.records, b.N))
	}
}
