package scheduler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/scheduler"
	"github.com/wagw/wagw/wagwtest"
)

const timersInbox = "106540352242999"

// countingPublisher applies what it is given, like storePublisher, and
// counts the records.
type countingPublisher struct {
	store *db.Store
	mu    sync.Mutex
	ids   []string
}

func (p *countingPublisher) Publish(ctx context.Context, events []event.Envelope) error {
	p.mu.Lock()
	for _, e := range events {
		p.ids = append(p.ids, e.ID)
	}
	p.mu.Unlock()
	return p.store.Apply(ctx, events, time.Now())
}

func (p *countingPublisher) published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ids...)
}

// timersSetup is a store with two online agents in a round-robin team
// that reassigns after window seconds, its inbox routed to the team.
func timersSetup(t *testing.T, window int) (*sqlx.DB, string, *db.Store) {
	t.Helper()
	conn, dsn := dbtest.New(t)
	store := db.NewStore(conn)
	ctx := context.Background()
	var ids [2]int64
	for i, name := range []string{"Ana", "Bob"} {
		a, err := store.CreateAgent(ctx, assigner.Agent{Name: name, Role: assigner.RoleAgent, Active: true}, name+"@example.com", []byte("token-"+name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.SetPresence(ctx, a.ID, assigner.PresenceOnline, time.Now()); err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
	}
	team, err := store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true,
		ReassignAfterSeconds: &window, ReassignMax: 1}, ids[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: timersInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID}}); err != nil {
		t.Fatal(err)
	}
	return conn, dsn, store
}

// openConversation applies one inbound message of a new contact and
// returns its conversation.
func openConversation(t *testing.T, conn *sqlx.DB, store *db.Store, user string) int64 {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": "102290129340398", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550001111", "phone_number_id": timersInbox},
			"contacts":          []any{map[string]any{"user_id": user, "profile": map[string]any{"name": "C"}}},
			"messages": []any{map[string]any{"from_user_id": user, "id": "wamid.T." + user, "type": "text",
				"timestamp": strconv.FormatInt(time.Now().Unix(), 10), "text": map[string]any{"body": "hi"}}},
		}}}}}})
	envs, err := event.ParseAndSplit(body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(context.Background(), envs, time.Now()); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := conn.Get(&id, `SELECT conversation_id FROM messages WHERE wamid = $1`, "wamid.T."+user); err != nil {
		t.Fatal(err)
	}
	return id
}

func dueTimers(store *db.Store) scheduler.DueTimers {
	return func(ctx context.Context, now time.Time, limit int) ([]scheduler.TimerRef, *time.Time, error) {
		refs, next, err := store.DueTimers(ctx, now, limit)
		out := make([]scheduler.TimerRef, len(refs))
		for i, r := range refs {
			out[i] = scheduler.TimerRef{ConversationID: r.ConversationID, Kind: r.Kind, DueAt: r.DueAt, ContactKey: r.ContactKey}
		}
		return out, next, err
	}
}

func assigneeOf(t *testing.T, conn *sqlx.DB, convID int64) []int64 {
	t.Helper()
	var ids []int64
	if err := conn.Select(&ids, `SELECT agent_id FROM conversation_assignees WHERE conversation_id = $1 ORDER BY agent_id`, convID); err != nil {
		t.Fatal(err)
	}
	return ids
}

// The loop sleeps until the next deadline, not until its safety interval
// (an hour here), and wakes early on the timer channel when a nearer
// deadline is set while it sleeps with nothing to wait for. Each deadline
// is published once while the consumer keeps up.
func TestTimersWakeAtTheDeadlineAndOnNotify(t *testing.T) {
	t.Parallel()
	conn, dsn, store := timersSetup(t, 1)
	wake, stop, err := db.Listen(dsn, db.TimerChannel, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	pub := &countingPublisher{store: store}
	reg := prometheus.NewRegistry()
	timers := scheduler.NewTimers(scheduler.TimersConfig{Wake: wake, Interval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg}, dueTimers(store), pub)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- timers.Run(ctx) }()
	stopped := false
	stopLoop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	defer stopLoop()

	time.Sleep(200 * time.Millisecond) // the loop found nothing due and sleeps for an hour
	for i, user := range []string{"NL.9200000000000000001", "NL.9200000000000000002"} {
		opened := time.Now() // the deadline is 1 s after the store's now, taken after this
		conv := openConversation(t, conn, store, user)
		first := assigneeOf(t, conn, conv)
		wagwtest.WaitFor(t, 10*time.Second, fmt.Sprintf("conversation %d reassigned after its 1 s window", i+1), func() (bool, string) {
			got := assigneeOf(t, conn, conv)
			return len(got) == 1 && len(first) == 1 && got[0] != first[0], fmt.Sprintf("assignees %v, first %v", got, first)
		})
		took := time.Since(opened)
		t.Logf("conversation %d: reassigned %v after opening (window 1 s)", i+1, took.Round(time.Millisecond))
		if took < time.Second {
			t.Errorf("reassigned after %v, before its 1 s window", took)
		}
	}
	// Each deadline published once (the new assignees' windows may have
	// fallen due meanwhile too), and counted.
	stopLoop()
	ids := pub.published()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("deadline %s published twice: %v", id, ids)
		}
		seen[id] = true
	}
	if len(ids) < 2 {
		t.Errorf("published %v, want at least the two first deadlines", ids)
	}
	if got := timersFired(t, reg); got != float64(len(ids)) {
		t.Errorf("wagw_timers_fired_total = %v, want %d", got, len(ids))
	}
}

// timersFired sums wagw_timers_fired_total over its kinds.
func timersFired(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "wagw_timers_fired_total" {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	t.Fatal("wagw_timers_fired_total is not registered")
	return 0
}
