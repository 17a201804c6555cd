package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/loadtest"
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
			events[j] = textMessage(fmt.Sprintf("wamid.b%d", n), fmt.Sprintf("4917%07d", n%contacts), now)
		}
		if err := store.Apply(ctx, events, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkApplyOpenings measures batches in which every message opens a
// conversation that a round-robin team of five online agents takes, with a
// welcome message: the most expensive inbound path. It reports what
// BenchmarkApplySteady reports, per opening; -v prints where a batch's
// time goes, by statement.
func BenchmarkApplyOpenings(b *testing.B) {
	store, conn, counter, now := countedRoundRobin(b)
	ctx := context.Background()
	const batch = 200
	cpu := dbtest.StartCPU(b, conn)
	counter.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		events := make([]event.Envelope, batch)
		for j := range events {
			n := i*batch + j
			events[j] = textMessage(fmt.Sprintf("wamid.o%d", n), fmt.Sprintf("5511%07d", n), now)
		}
		if err := store.Apply(ctx, events, now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	pg, client := cpu.Since(b)
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "conversations/s")
	b.ReportMetric(float64(counter.Trips())/float64(b.N), "trips/batch")
	b.ReportMetric(float64(pg.Microseconds())/float64(b.N*batch), "pg-cpu-µs/opening")
	b.ReportMetric(float64(client.Microseconds())/float64(b.N*batch), "go-cpu-µs/opening")
	if testing.Verbose() {
		counter.Print(os.Stdout, b.N)
	}
}

// BenchmarkApplySteady measures what a replay of realistic inbound traffic
// costs the store once contacts are known: batches of 500 messages from
// 2,000 contacts who mostly have an open conversation (one message in 25
// is from a new contact and opens one, assigned by round robin over five
// agents with a welcome message), 1,000 messages a second of Meta's time,
// each with its payload as received. It reports the Postgres round trips
// per batch and the CPU time per message of the Postgres backend and of
// the store's process (both robust on a loaded machine, unlike msgs/s);
// -v also prints where a batch's time goes, by statement.
func BenchmarkApplySteady(b *testing.B) {
	store, conn, counter, now := countedRoundRobin(b)
	ctx := context.Background()
	const batch, known = 500, 2000
	msg := func(n, contact int) event.Envelope {
		return steadyMessage(n, contact, now)
	}
	for i := 0; i < known; i += batch { // every known contact has an open conversation
		events := make([]event.Envelope, batch)
		for j := range events {
			events[j] = msg(-1-i-j, i+j)
		}
		if err := store.Apply(ctx, events, now); err != nil {
			b.Fatal(err)
		}
	}
	fresh := known
	cpu := dbtest.StartCPU(b, conn)
	counter.Reset()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		events := make([]event.Envelope, batch)
		for j := range events {
			n := i*batch + j
			contact := (n * 7919) % known
			if n%25 == 0 {
				contact = fresh
				fresh++
			}
			events[j] = msg(n, contact)
		}
		if err := store.Apply(ctx, events, now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	pg, client := cpu.Since(b)
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(counter.Trips())/float64(b.N), "trips/batch")
	b.ReportMetric(float64(pg.Microseconds())/float64(b.N*batch), "pg-cpu-µs/msg")
	b.ReportMetric(float64(client.Microseconds())/float64(b.N*batch), "go-cpu-µs/msg")
	if testing.Verbose() {
		counter.Print(os.Stdout, b.N)
	}
}

// BenchmarkApplyReplay replays the load generator's realistic traffic
// (10,000 contacts, bursts, statuses of earlier outbound messages,
// redeliveries, Meta-style multi-message webhooks) through the store the
// way the consumer does: the events split over four partitions by
// contact, each partition applied in order in batches of up to 500. The
// first third of every partition is applied before measuring, so most
// contacts are known. It reports per event what BenchmarkApplySteady
// reports per message; b.N is ignored (run it with -benchtime 1x).
func BenchmarkApplyReplay(b *testing.B) {
	store, conn, counter, now := countedRoundRobin(b)
	ctx := context.Background()
	const parts, batch, total = 4, 500, 60000
	g := loadtest.NewGenerator(loadtest.GenConfig{Contacts: 10000, Rate: 800, Inboxes: []string{"1065"}, Start: now})
	var streams [parts][]event.Envelope
	for n := 0; n < total; {
		r, ok := g.Next()
		if !ok {
			break
		}
		envs, err := event.ParseAndSplit(r.Body, now)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range envs {
			h := fnv.New32a()
			h.Write([]byte(e.Contact.Key()))
			streams[h.Sum32()%parts] = append(streams[h.Sum32()%parts], e)
			n++
		}
	}
	apply := func(from func(s []event.Envelope) int, to func(s []event.Envelope) int) (applied int) {
		for _, s := range streams {
			for i := from(s); i < to(s); i += batch {
				j := min(i+batch, to(s))
				if err := store.Apply(ctx, s[i:j], now); err != nil {
					b.Fatal(err)
				}
				applied += j - i
			}
		}
		return applied
	}
	third := func(s []event.Envelope) int { return len(s) / 3 }
	apply(func([]event.Envelope) int { return 0 }, third)
	cpu := dbtest.StartCPU(b, conn)
	counter.Reset()
	b.ResetTimer()
	n := apply(third, func(s []event.Envelope) int { return len(s) })
	b.StopTimer()
	pg, client := cpu.Since(b)
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(counter.Trips())*batch/float64(n), "trips/500-events")
	b.ReportMetric(float64(pg.Microseconds())/float64(n), "pg-cpu-µs/event")
	b.ReportMetric(float64(client.Microseconds())/float64(n), "go-cpu-µs/event")
	if testing.Verbose() {
		counter.Print(os.Stdout, (n+batch-1)/batch)
	}
}

// steadyMessage is the n-th message of BenchmarkApplySteady, from contact
// number contact, sent n ms after start, with its payload as received.
func steadyMessage(n, contact int, start time.Time) event.Envelope {
	e := textMessage(fmt.Sprintf("wamid.s%d", n), fmt.Sprintf("4915%07d", contact), start.Add(time.Duration(n)*time.Millisecond))
	raw, err := json.Marshal(e.Message)
	if err != nil {
		panic(err)
	}
	e.Message.Raw = raw
	return e
}

// textMessage is the envelope of a new inbound text message on inbox 1065.
func textMessage(wamid, wa string, now time.Time) event.Envelope {
	return event.Envelope{Version: 1, ID: wamid, Kind: event.KindMessage,
		PhoneNumberID: "1065", Contact: event.Contact{WaID: wa, Name: "C"}, OccurredAt: now, ReceivedAt: now,
		Message: &whatsapp.Message{ID: wamid, From: wa, Timestamp: fmt.Sprint(now.Unix()),
			Type: "text", Text: &whatsapp.Text{Body: "hello"}}}
}

// countedRoundRobin is a store on a fresh database whose round trips are
// counted, with roundRobinInbox set up.
func countedRoundRobin(tb testing.TB) (*db.Store, *sqlx.DB, *dbtest.Counter, time.Time) {
	_, dsn := dbtest.New(tb)
	conn, counter := dbtest.Counting(tb, dsn)
	store := db.NewStore(conn)
	now := time.Now()
	roundRobinInbox(tb, store, now)
	return store, conn, counter, now
}

// roundRobinInbox sets up inbox 1065 with a welcome message and a round
// robin team of five online agents.
func roundRobinInbox(b testing.TB, store *db.Store, now time.Time) {
	b.Helper()
	ctx := context.Background()
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
}
