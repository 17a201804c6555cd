package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// BenchmarkApplyMessages measures the store applying batches of new inbound
// text messages (500 per transaction, 100 contacts), the consumer's hot path.
func BenchmarkApplyMessages(b *testing.B) {
	conn, _ := dbtest.New(b)
	store := db.NewStore(conn)
	ctx := context.Background()
	const batch, contacts = 500, 100
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		events := make([]event.Envelope, batch)
		for j := range events {
			n := i*batch + j
			wa := fmt.Sprintf("4917%07d", n%contacts)
			events[j] = event.Envelope{Version: 1, ID: fmt.Sprintf("wamid.b%d", n), Kind: event.KindMessage,
				PhoneNumberID: "1065", Contact: event.Contact{WaID: wa, Name: "C"}, OccurredAt: now, ReceivedAt: now,
				Message: &whatsapp.Message{ID: fmt.Sprintf("wamid.b%d", n), From: wa, Timestamp: fmt.Sprint(now.Unix()),
					Type: "text", Text: &whatsapp.Text{Body: "hello"}}}
		}
		if err := store.Apply(ctx, events, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkApplyOpenings measures batches in which every message opens a
// conversation that a round-robin team of five online agents takes, with a
// welcome message: the most expensive inbound path.
func BenchmarkApplyOpenings(b *testing.B) {
	conn, _ := dbtest.New(b)
	store := db.NewStore(conn)
	ctx := context.Background()
	now := time.Now()
	var members []int64
	for i := 0; i < 5; i++ {
		a, err := store.CreateAgent(ctx, assigner.Agent{Name: fmt.Sprint("A", i), Role: assigner.RoleAgent, Active: true},
			fmt.Sprintf("a%d@example.com", i), []byte(fmt.Sprint("token", i)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.SetPresence(ctx, a.ID, assigner.PresenceOnline, now); err != nil {
			b.Fatal(err)
		}
		members = append(members, a.ID)
	}
	team, err := store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true}, members)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: "1065", Name: "Main", WelcomeMessage: "Hi!",
		DefaultAssign: &assigner.Step{TeamID: &team.ID}}); err != nil {
		b.Fatal(err)
	}
	const batch = 200
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		events := make([]event.Envelope, batch)
		for j := range events {
			n := i*batch + j
			wa := fmt.Sprintf("5511%07d", n)
			events[j] = event.Envelope{Version: 1, ID: fmt.Sprintf("wamid.o%d", n), Kind: event.KindMessage,
				PhoneNumberID: "1065", Contact: event.Contact{WaID: wa, Name: "C"}, OccurredAt: now, ReceivedAt: now,
				Message: &whatsapp.Message{ID: fmt.Sprintf("wamid.o%d", n), From: wa, Timestamp: fmt.Sprint(now.Unix()),
					Type: "text", Text: &whatsapp.Text{Body: "hello"}}}
		}
		if err := store.Apply(ctx, events, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "conversations/s")
}
