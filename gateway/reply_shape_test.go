package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// A template or interactive object with a field the Cloud API client does
// not carry is refused with 400, like any unknown field of an API body:
// queuing it would send a message without that field.
func TestReplyWithAnUnknownTemplateFieldIsABadRequest(t *testing.T) {
	e, store, conn := newCommandEnv(t)
	envs, err := event.ParseAndSplit(wagwtest.TextWebhook("106540352242922", "31650000002", "wamid.SHAPE.1", time.Now(), "hello"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), envs, time.Now()); err != nil {
		t.Fatal(err)
	}
	var conv int64
	if err := conn.Get(&conv, `SELECT conversation_id FROM messages WHERE wamid = 'wamid.SHAPE.1'`); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/v1/conversations/%d/messages", conv)
	e.expect(t, "POST", path, adminTestToken, `{"template":{"name":"order_ready","language":{"code":"en"},"components":[{"type":"header",
		"parameters":[{"type":"location","location":{"latitude":"52.37","longitude":"4.89","name":"Shop","address":"Dam 1"}}]}]}}`, 400, "bad_message")
	e.expect(t, "POST", path, adminTestToken, `{"interactive":{"type":"product","body":{"text":"Look"},
		"action":{"catalog_id":"123","product_retailer_id":"sku-1"}}}`, 400, "bad_message")
}

// newCommandEnv serves the API over a fresh database and an embedded
// broker, with no consumer: commands wait briefly and answer 202.
func newCommandEnv(t *testing.T) (*adminEnv, *db.Store, *sqlx.DB) {
	t.Helper()
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: "127.0.0.1:0", Topics: []string{"wa.events", "wa.events.dlq"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	conn, _ := dbtest.New(t)
	prod := broker.NewProducer(broker.ProducerConfig{Brokers: []string{emb.Addr()}, Topic: "wa.events", WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { prod.Close() })
	store := db.NewStore(conn)
	cfg := Config{AppSecrets: [][]byte{[]byte("app-secret")}, VerifyToken: "verify", AdminToken: adminTestToken, DeadLetterTopic: "wa.events.dlq",
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), CommandWait: 100 * time.Millisecond}
	app, err := New(cfg, prod, StoresOf(store))
	if err != nil {
		t.Fatal(err)
	}
	return &adminEnv{app: app}, store, conn
}
