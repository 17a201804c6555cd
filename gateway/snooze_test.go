package gateway

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// A snooze time RFC 3339 accepts but no command can carry (its UTC year
// is past 9999, through a large negative offset) is a bad request, not a
// server error.
func TestSnoozeUntilPastYear9999IsABadRequest(t *testing.T) {
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
	e := &adminEnv{app: app}

	envs, err := event.ParseAndSplit(wagwtest.TextWebhook("106540352242922", "31650000001", "wamid.SNOOZE.1", time.Now(), "hello"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), envs, time.Now()); err != nil {
		t.Fatal(err)
	}
	var conv int64
	if err := conn.Get(&conv, `SELECT conversation_id FROM messages WHERE wamid = 'wamid.SNOOZE.1'`); err != nil {
		t.Fatal(err)
	}
	path := "/v1/conversations/" + itoa(conv) + "/snooze"
	e.expect(t, "POST", path, adminTestToken, `{"until":"9999-12-31T23:59:59-23:59"}`, 400, "bad_json")
}
