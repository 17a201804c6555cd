package gateway_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/gateway"
)

// landsLatePublisher is Kafka when a write runs out of time but its
// record still lands (the broker stored it and its answer was lost, or
// the producer wrote it after the caller gave up): the first Publish
// keeps its envelopes and fails.
type landsLatePublisher struct {
	mu     sync.Mutex
	stored []event.Envelope
}

func (p *landsLatePublisher) Publish(_ context.Context, events []event.Envelope) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stored = append(p.stored, events...)
	if len(p.stored) == len(events) {
		return context.DeadlineExceeded
	}
	return nil
}

func (p *landsLatePublisher) PublishEach(context.Context, []event.Envelope, string, map[string]string) ([]error, error) {
	panic("not used")
}

func (p *landsLatePublisher) PublishRaw(context.Context, string, []byte, []byte, map[string]string) error {
	panic("not used")
}

// idemStore keeps idempotency keys as db.Store does; no command has a
// result yet.
type idemStore struct {
	mu   sync.Mutex
	keys map[string][2]string // caller/key: request hash, command id
}

func (s *idemStore) ConversationContactKey(context.Context, int64) (string, error) {
	return "", assigner.ErrNotFound
}
func (s *idemStore) ContactKey(context.Context, int64) (string, error) { return "US.1", nil }
func (s *idemStore) CommandResult(context.Context, string) (assigner.CommandResult, error) {
	return assigner.CommandResult{}, assigner.ErrNotFound
}

func (s *idemStore) ClaimIdempotencyKey(_ context.Context, caller, key string, hash []byte, id string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[caller+"/"+key]; ok {
		return k[1], k[0] == string(hash), nil
	}
	s.keys[caller+"/"+key] = [2]string{string(hash), id}
	return "", true, nil
}

func (s *idemStore) ReleaseIdempotencyKey(_ context.Context, caller, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, caller+"/"+key)
	return nil
}

// A command whose write failed may still be on Kafka: the same request
// sent again with its Idempotency-Key produces the same command (the same
// id, which the consumer applies once), never a second one.
func TestIdempotencyKeyRetryAfterAFailedWriteReusesTheCommand(t *testing.T) {
	pub := &landsLatePublisher{}
	app, err := gateway.New(gateway.Config{AppSecrets: [][]byte{[]byte(secret)}, VerifyToken: verifyToken, AdminToken: adminToken,
		DeadLetterTopic: dlqTopic, CommandWait: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()},
		pub, gateway.Stores{Commands: &idemStore{keys: map[string][2]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	send := func() int {
		req := httptest.NewRequest(http.MethodPut, "/v1/contacts/7/owners", strings.NewReader(`{"agent_ids":[]}`))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "owners-7-a")
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(); code != 503 {
		t.Fatalf("first attempt: %d, want 503 (the write failed)", code)
	}
	if code := send(); code != 202 {
		t.Fatalf("retry: %d, want 202 (queued, no result yet)", code)
	}
	if len(pub.stored) != 2 {
		t.Fatalf("%d commands written, want 2 (the failed write and the retry's)", len(pub.stored))
	}
	if a, b := pub.stored[0].ID, pub.stored[1].ID; a != b {
		t.Errorf("the retry with the same Idempotency-Key wrote command %s after %s: both are on Kafka and both are applied", b, a)
	}
}
