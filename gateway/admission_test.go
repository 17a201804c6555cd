package gateway_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/gateway"
)

// heldPublisher is the real producer behind a gate: PublishEach waits
// until the test opens it, so that webhooks stay in flight.
type heldPublisher struct {
	*broker.Producer
	entered chan struct{}
	open    chan struct{}
}

func (h *heldPublisher) PublishEach(ctx context.Context, events []event.Envelope, dlq string, headers map[string]string) ([]error, error) {
	h.entered <- struct{}{}
	<-h.open
	return h.Producer.PublishEach(ctx, events, dlq, headers)
}

// newHeldPublisher is a heldPublisher in front of an embedded broker's
// producer, with room for entered and open signals, and the broker's
// address.
func newHeldPublisher(t *testing.T, entered, open int) (*heldPublisher, string) {
	t.Helper()
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{topic, dlqTopic}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{emb.Addr()}, Topic: topic})
	t.Cleanup(func() { prod.Close() })
	return &heldPublisher{Producer: prod, entered: make(chan struct{}, entered), open: make(chan struct{}, open)}, emb.Addr()
}

// TestWebhookShedsBeyondMaxInFlight: with 4 webhooks waiting on Kafka and
// MaxInFlight 4, the next is answered 503 with Retry-After at once and
// produces nothing; the 4 are answered 200 once Kafka acknowledges them,
// and a webhook after them is taken again.
func TestWebhookShedsBeyondMaxInFlight(t *testing.T) {
	pub, brokerAddr := newHeldPublisher(t, 16, 0)
	app, err := gateway.New(gateway.Config{AppSecrets: [][]byte{[]byte(secret)}, VerifyToken: verifyToken, DeadLetterTopic: dlqTopic,
		MaxInFlight: 4, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}, pub, gateway.Stores{})
	if err != nil {
		t.Fatal(err)
	}
	body := func(i int) []byte { return messageWithStatus(fmt.Sprintf("wamid.INFLIGHT.%d", i), "1749416400") }

	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := app.Test(signed(body(i), secret), 10000)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	for range 4 {
		select {
		case <-pub.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the 4 webhooks did not reach the publisher")
		}
	}
	start := time.Now()
	resp, err := app.Test(signed(body(99), secret), 10000)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("webhook beyond MaxInFlight: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the shed webhook took %v to answer", d)
	}
	close(pub.open)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("webhook %d in flight answered %d, want 200", i, c)
		}
	}
	resp, err = app.Test(signed(body(5), secret), 10000)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a webhook after the load answered %d, want 200", resp.StatusCode)
	}
	// Each body is a message and a status: 5 webhooks taken, 10 records;
	// nothing of the shed one.
	recs := readAll(t, []string{brokerAddr}, topic, 10)
	for _, r := range recs {
		if string(r.Key) == "" {
			t.Errorf("record without a key")
		}
	}
}
