package db_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// The bulk path's round trips to Postgres do not grow with the batch: a
// batch of 500 messages, a tenth of them opening conversations that round
// robin assigns with a welcome message, takes as many statements as a
// batch of 20.
func TestBulkRoundTripsDoNotGrowWithTheBatch(t *testing.T) {
	_, dsn := dbtest.New(t)
	conn, counter := dbtest.Counting(t, dsn)
	store := db.NewStore(conn)
	ctx := context.Background()
	now := time.Now()
	var members []int64
	for _, name := range []string{"ana", "bob"} {
		a, err := store.CreateAgent(ctx, assigner.Agent{Name: name, Role: assigner.RoleAgent, Active: true}, name+"@example.com", []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.SetPresence(ctx, a.ID, assigner.PresenceOnline, now); err != nil {
			t.Fatal(err)
		}
		members = append(members, a.ID)
	}
	team, err := store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true}, members)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: "1065", WelcomeMessage: "Hi!", DefaultAssign: &assigner.Step{TeamID: &team.ID}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	// batch: size messages, one in ten from a new contact (opening a
	// conversation), the others from the known contacts, which have one open.
	batch := func(size int, known []string) ([]event.Envelope, []string) {
		events := make([]event.Envelope, size)
		for i := range events {
			n++
			wa := fmt.Sprintf("4916%07d", n)
			if i%10 != 0 && len(known) > 0 {
				wa = known[n%len(known)]
			} else {
				known = append(known, wa)
			}
			id := fmt.Sprintf("wamid.rt%d", n)
			events[i] = event.Envelope{Version: 1, ID: id, Kind: event.KindMessage, PhoneNumberID: "1065",
				Contact: event.Contact{WaID: wa, Name: "C"}, OccurredAt: now, ReceivedAt: now,
				Message: &whatsapp.Message{ID: id, From: wa, Timestamp: fmt.Sprint(now.Unix()), Type: "text", Text: &whatsapp.Text{Body: "hi"}}}
		}
		return events, known
	}
	var known []string
	trips := map[int]int{}
	for _, size := range []int{20, 500} {
		var events []event.Envelope
		events, known = batch(size, known)
		counter.Reset()
		out, err := store.ApplyOutcomes(ctx, events, now)
		if err != nil {
			t.Fatal(err)
		}
		opened := 0
		for _, o := range out {
			if o.Opened {
				opened++
			}
		}
		if opened == 0 || opened == size {
			t.Fatalf("batch of %d opened %d conversations: the test needs both openings and known conversations", size, opened)
		}
		trips[size] = counter.Trips()
		if testing.Verbose() {
			fmt.Fprintf(os.Stdout, "batch of %d (%d openings): %d round trips\n", size, opened, trips[size])
			counter.Print(os.Stdout, 1)
		}
	}
	if trips[500] != trips[20] {
		t.Errorf("round trips: %d for a batch of 20, %d for 500; want the same", trips[20], trips[500])
	}
}
