package db_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
)

const (
	applyInbox = "106540352242922"
	applyWABA  = "102290129340398"
)

// applyFixture is a store on a fresh database, fed events the way the
// consumer feeds them: envelopes split from signed webhook bodies, and
// commands as the API produces them.
type applyFixture struct {
	t     *testing.T
	conn  *sqlx.DB
	store *db.Store
	seq   int
}

func newApplyFixture(t *testing.T) *applyFixture {
	t.Helper()
	conn, _ := dbtest.New(t)
	return &applyFixture{t: t, conn: conn, store: db.NewStore(conn)}
}

// who names a WhatsApp user as a webhook does: a wa_id, a business-scoped
// user id, or both.
type who struct{ wa, user string }

// webhook splits a webhook body whose value is v into envelopes.
func (f *applyFixture) webhook(v map[string]any) []event.Envelope {
	f.t.Helper()
	v["messaging_product"] = "whatsapp"
	v["metadata"] = map[string]any{"display_phone_number": "15550001111", "phone_number_id": applyInbox}
	body, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": applyWABA, "changes": []any{map[string]any{"field": "messages", "value": v}}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	envs, err := event.ParseAndSplit(body, time.Now())
	if err != nil {
		f.t.Fatalf("split: %v", err)
	}
	return envs
}

// message is one inbound text message from u, sent a minute ago.
func (f *applyFixture) message(u who, wamid, text string) event.Envelope {
	f.t.Helper()
	return f.messageAt(u, wamid, text, time.Now().Add(-time.Minute))
}

// messageAt is one inbound text message from u sent at at.
func (f *applyFixture) messageAt(u who, wamid, text string, at time.Time) event.Envelope {
	f.t.Helper()
	return f.messageAs(u, "Contact", wamid, text, at)
}

// messageAs is one inbound text message from u, under the profile name
// name ("": no profile), sent at at.
func (f *applyFixture) messageAs(u who, name, wamid, text string, at time.Time) event.Envelope {
	f.t.Helper()
	contact := map[string]any{}
	if name != "" {
		contact["profile"] = map[string]any{"name": name}
	}
	msg := map[string]any{"id": wamid, "timestamp": strconv.FormatInt(at.Unix(), 10),
		"type": "text", "text": map[string]any{"body": text}}
	if u.wa != "" {
		contact["wa_id"], msg["from"] = u.wa, u.wa
	}
	if u.user != "" {
		contact["user_id"], msg["from_user_id"] = u.user, u.user
	}
	envs := f.webhook(map[string]any{"contacts": []any{contact}, "messages": []any{msg}})
	if len(envs) != 1 {
		f.t.Fatalf("%d envelopes, want 1", len(envs))
	}
	return envs[0]
}

// command is an API command on the partition of key.
func (f *applyFixture) command(key, id, typ string, data any) event.Envelope {
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			f.t.Fatal(err)
		}
	}
	now := time.Now()
	return event.Envelope{Version: event.Version, ID: id, Kind: event.KindCommand, ContactKey: key,
		OccurredAt: now, ReceivedAt: now, Command: &event.Command{Type: typ, Data: raw}}
}

// apply applies one batch and fails the test on any error.
func (f *applyFixture) apply(events ...event.Envelope) {
	f.t.Helper()
	if err := f.store.Apply(context.Background(), events, time.Now()); err != nil {
		var ee *db.EventError
		if errors.As(err, &ee) {
			f.t.Fatalf("apply: event %d (%s %s) is poison: %v", ee.Index, events[ee.Index].Kind, events[ee.Index].ID, ee.Err)
		}
		f.t.Fatalf("apply: %v", err)
	}
}

func (f *applyFixture) count(query string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.conn.Get(&n, query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// contactOf returns the id of the contact that holds wamid.
func (f *applyFixture) contactOf(wamid string) int64 {
	f.t.Helper()
	var id int64
	if err := f.conn.Get(&id, `SELECT contact_id FROM messages WHERE wamid = $1`, wamid); err != nil {
		f.t.Fatalf("message %s: %v", wamid, err)
	}
	return id
}

// conversationOf returns the conversation that holds wamid.
// opened applies a message "hi" of u with wamid, which opens a
// conversation, and returns the conversation and the contact's key.
func (f *applyFixture) opened(u who, wamid string) (int64, string) {
	f.t.Helper()
	f.apply(f.message(u, wamid, "hi"))
	return f.conversationOf(wamid), f.key(f.contactOf(wamid))
}

func (f *applyFixture) conversationOf(wamid string) int64 {
	f.t.Helper()
	var id int64
	if err := f.conn.Get(&id, `SELECT conversation_id FROM messages WHERE wamid = $1`, wamid); err != nil {
		f.t.Fatalf("message %s has no conversation: %v", wamid, err)
	}
	return id
}

// key returns a contact's partition key as the API reads it.
func (f *applyFixture) key(contactID int64) string {
	f.t.Helper()
	k, err := f.store.ContactKey(context.Background(), contactID)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

// blocked reports whether a contact is blocked.
func (f *applyFixture) blocked(contactID int64) bool {
	f.t.Helper()
	return f.count(`SELECT count(*) FROM contacts WHERE id = $1 AND blocked_at IS NOT NULL`, contactID) == 1
}

// result returns a command's stored result: its outcome's kind and value,
// or its error code and message.
func (f *applyFixture) result(id string) (assigner.OutcomeKind, assigner.ErrorCode, string) {
	f.t.Helper()
	r, err := f.store.CommandResult(context.Background(), id)
	if err != nil {
		f.t.Fatalf("result of %s: %v", id, err)
	}
	if r.Err != nil {
		return "", r.Err.Code, r.Err.Message
	}
	return r.Kind, "", string(r.Value)
}

// agent creates an online agent.
func (f *applyFixture) agent(name string) int64 {
	f.t.Helper()
	ctx := context.Background()
	f.seq++
	a, err := f.store.CreateAgent(ctx, assigner.Agent{Name: name, Role: assigner.RoleAgent, Active: true},
		fmt.Sprintf("%s%d@example.com", name, f.seq), []byte(fmt.Sprint("token-", name, f.seq)))
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.SetPresence(ctx, a.ID, assigner.PresenceOnline, time.Now()); err != nil {
		f.t.Fatal(err)
	}
	return a.ID
}

// queueingInbox makes the inbox assign its conversations to an online-only
// round-robin team whose one member, an offline agent with the given
// capacity (nil: none), it returns: conversations queue until the agent
// comes online.
func (f *applyFixture) queueingInbox(capacity *int) db.AgentView {
	f.t.Helper()
	ctx := context.Background()
	a, err := f.store.CreateAgent(ctx, assigner.Agent{Name: "Ana", Role: assigner.RoleAgent, Active: true, Capacity: capacity},
		"ana@example.com", []byte("token-ana"))
	if err != nil {
		f.t.Fatal(err)
	}
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin, OnlineOnly: true}, []int64{a.ID})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, DefaultAssign: &assigner.Step{TeamID: &team.ID}}); err != nil {
		f.t.Fatal(err)
	}
	return a
}

// roundRobinInbox makes the inbox welcome with welcome and assign its
// conversations to a round-robin team whose one member, the online agent
// Ana, it returns with the team's id.
func (f *applyFixture) roundRobinInbox(welcome string) (agentID, teamID int64) {
	f.t.Helper()
	ctx := context.Background()
	ana := f.agent("Ana")
	team, err := f.store.CreateTeam(ctx, assigner.Team{Name: "Support", Strategy: assigner.StrategyRoundRobin}, []int64{ana})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.PutInbox(ctx, assigner.Inbox{PhoneNumberID: applyInbox, WelcomeMessage: welcome,
		DefaultAssign: &assigner.Step{TeamID: &team.ID}}); err != nil {
		f.t.Fatal(err)
	}
	return ana, team.ID
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// applyAtOnce applies the batches concurrently, as consumers of different
// partitions would, released together, and returns each batch's error.
func (f *applyFixture) applyAtOnce(ctx context.Context, batches ...[]event.Envelope) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, len(batches))
	for j, batch := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[j] = f.store.Apply(ctx, batch, time.Now())
		}()
	}
	close(start)
	wg.Wait()
	return errs
}
