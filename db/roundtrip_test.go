package db_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
)

// The bulk path's round trips to Postgres do not grow with the batch: a
// batch of 500 messages, a tenth of them opening conversations that round
// robin assigns with a welcome message and a first-response SLA in
// business hours, takes as many statements as a batch of 20.
func TestBulkRoundTripsDoNotGrowWithTheBatch(t *testing.T) {
	store, _, counter, now := countedRoundRobin(t)
	bulkTripsFlat(t, store, counter, now, func() {})
}

// So with the inbox's auto-resolve and sticky rules on: every message
// moves its conversation's deadline, and every opening of a known contact
// (whose conversations are resolved before each batch) looks for the
// contact's previous conversation, one statement each for the batch.
func TestBulkRoundTripsDoNotGrowWithAutoResolveAndSticky(t *testing.T) {
	store, conn, counter, now := countedRoundRobin(t)
	ctx := context.Background()
	in, err := store.GetInbox(ctx, "1065")
	if err != nil {
		t.Fatal(err)
	}
	hour, week := 3600, 7
	in.AutoResolveAfterSeconds, in.ClosingMessage, in.StickyDays = &hour, "Bye!", &week
	if _, err := store.PutInbox(ctx, in); err != nil {
		t.Fatal(err)
	}
	bulkTripsFlat(t, store, counter, now, func() {
		if _, err := conn.Exec(`UPDATE conversations SET status = 'resolved', resolved_at = now() WHERE status = 'open'`); err != nil {
			t.Fatal(err)
		}
	})
	if due, _, err := store.DueTimers(ctx, now.Add(2*time.Hour), 1000); err != nil || len(due) == 0 {
		t.Errorf("no auto-resolve deadline was set: %v", err)
	}
}

// bulkTripsFlat turns the inbox's first-response SLA on (in business
// hours), applies batches of 10, 20 and 500 messages, calling before ahead
// of each, and checks the last two took as many round trips and every
// opening has its deadline.
func bulkTripsFlat(t *testing.T, store *db.Store, counter *dbtest.Counter, now time.Time, before func()) {
	ctx := context.Background()
	in, err := store.GetInbox(ctx, "1065")
	if err != nil {
		t.Fatal(err)
	}
	sla := 300
	in.FirstResponseSLASeconds, in.BusinessHours = &sla, &assigner.Hours{TimeZone: "Europe/Lisbon", From: 0, To: 1440}
	if _, err := store.PutInbox(ctx, in); err != nil {
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
			events[i] = textMessage(fmt.Sprintf("wamid.rt%d", n), wa, now)
		}
		return events, known
	}
	var known []string
	trips := map[int]int{}
	for _, size := range []int{10, 20, 500} { // the first warms up: afterwards every batch has known contacts
		var events []event.Envelope
		events, known = batch(size, known)
		before()
		counter.Reset()
		out, err := store.ApplyOutcomes(ctx, events, now)
		if err != nil {
			t.Fatal(err)
		}
		var opens []int64
		for _, o := range out {
			if o.Opened {
				opens = append(opens, o.ConversationID)
			}
		}
		opened := len(opens)
		if opened == 0 || opened == size {
			t.Fatalf("batch of %d opened %d conversations: the test needs both openings and known conversations", size, opened)
		}
		trips[size] = counter.Trips()
		for _, id := range opens {
			if v, err := store.Conversation(ctx, id); err != nil || v.FirstResponseDueAt == nil {
				t.Fatalf("conversation %d: first_response_due_at %v, %v", id, v.FirstResponseDueAt, err)
			}
		}
		if testing.Verbose() {
			fmt.Fprintf(os.Stdout, "batch of %d (%d openings): %d round trips\n", size, opened, trips[size])
			counter.Print(os.Stdout, 1)
		}
	}
	if trips[500] != trips[20] {
		t.Errorf("round trips: %d for a batch of 20, %d for 500; want the same", trips[20], trips[500])
	}
}

// A command's result is stored with one statement: the API polls for it
// (gateway's await), so no notification follows it. The relay's report of
// each message it sends is such a command: 1,941 of about 32,000 events in
// 20 s at 1,000 webhooks/s with welcome messages on.
func TestACommandsResultIsOneStatement(t *testing.T) {
	store, conn, counter, now := countedRoundRobin(t)
	ctx := context.Background()
	if err := store.Apply(ctx, []event.Envelope{textMessage("wamid.cr1", "4917000001", now)}, now); err != nil {
		t.Fatal(err)
	}
	var contact int64
	var key string
	if err := conn.QueryRowx(`SELECT id, key FROM contacts WHERE wa_id = '4917000001'`).Scan(&contact, &key); err != nil {
		t.Fatal(err)
	}
	var agent int64
	if err := conn.Get(&agent, `SELECT min(id) FROM agents`); err != nil {
		t.Fatal(err)
	}
	cmd, err := event.NewCommand("cr-owners", key, event.SetOwnersCommand{ContactID: contact, AgentIDs: []int64{agent}}, now)
	if err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	if err := store.Apply(ctx, []event.Envelope{cmd}, now); err != nil {
		t.Fatal(err)
	}
	results := 0
	for _, s := range counter.Shapes() {
		if strings.Contains(s.SQL, "command_results") || strings.Contains(s.SQL, "wagw_result") {
			results += s.Count
		}
	}
	if results != 1 {
		counter.Print(os.Stdout, 1)
		t.Errorf("storing the command's result took %d statements, want 1", results)
	}
	var n int
	if err := conn.Get(&n, `SELECT count(*) FROM command_results WHERE command_id = 'cr-owners'`); err != nil || n != 1 {
		t.Errorf("results stored: %d (%v), want 1", n, err)
	}
}

// The contacts a batch's commands name are read with the batch's other
// contacts, in one statement, not one statement per command: the relay
// reports every message it sends as a command on the contact's partition,
// usually in a batch with none of that contact's messages.
func TestCommandContactsAreReadWithTheBatch(t *testing.T) {
	store, conn, counter, now := countedRoundRobin(t)
	ctx := context.Background()
	var known []event.Envelope
	for i := range 3 {
		known = append(known, textMessage(fmt.Sprintf("wamid.cc%d", i), fmt.Sprintf("491800000%d", i), now))
	}
	if err := store.Apply(ctx, known, now); err != nil {
		t.Fatal(err)
	}
	var agent int64
	if err := conn.Get(&agent, `SELECT min(id) FROM agents`); err != nil {
		t.Fatal(err)
	}
	batch := []event.Envelope{textMessage("wamid.cn1", "4918100001", now), textMessage("wamid.cn2", "4918100002", now)}
	for i := range 3 {
		var contact int64
		var key string
		if err := conn.QueryRowx(`SELECT id, key FROM contacts WHERE wa_id = $1`, fmt.Sprintf("491800000%d", i)).Scan(&contact, &key); err != nil {
			t.Fatal(err)
		}
		cmd, err := event.NewCommand(fmt.Sprintf("cc-owners-%d", i), key, event.SetOwnersCommand{ContactID: contact, AgentIDs: []int64{agent}}, now)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, cmd)
	}
	counter.Reset()
	if err := store.Apply(ctx, batch, now); err != nil {
		t.Fatal(err)
	}
	lookups := 0
	for _, s := range counter.Shapes() {
		if strings.HasPrefix(s.SQL, "SELECT id, blocked_at IS NOT NULL FROM contacts WHERE key = $1") {
			lookups += s.Count
		}
	}
	if lookups != 0 {
		counter.Print(os.Stdout, 1)
		t.Errorf("%d statements looked up one command's contact each, want none (one for the batch)", lookups)
	}
	var owned int
	if err := conn.Get(&owned, `SELECT count(*) FROM command_results WHERE command_id LIKE 'cc-owners-%' AND kind = 'owners_set'`); err != nil || owned != 3 {
		t.Errorf("%d of 3 commands set the owners (%v)", owned, err)
	}
}

// A batch of messages reads which rules a message may start (the away
// rule, snoozes, auto-resolve) with its inbox's row, not in a statement
// of its own, and still ends the snooze of a conversation its contact
// writes in.
func TestMessageRulesAreReadWithTheInbox(t *testing.T) {
	store, conn, counter, now := countedRoundRobin(t)
	ctx := context.Background()
	first := []event.Envelope{textMessage("wamid.mr1", "4918200001", now), textMessage("wamid.mr2", "4918200002", now)}
	out, err := store.ApplyOutcomes(ctx, first, now)
	if err != nil {
		t.Fatal(err)
	}
	conv := out[0].ConversationID
	due := now.Add(time.Hour)
	if _, err := conn.Exec(`INSERT INTO conversation_timers (conversation_id, kind, due_at) VALUES ($1, 'snooze', $2)`, conv, due); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	later := now.Add(time.Minute)
	batch := []event.Envelope{textMessage("wamid.mr3", "4918200001", later), textMessage("wamid.mr4", "4918200002", later)}
	if err := store.Apply(ctx, batch, later); err != nil {
		t.Fatal(err)
	}
	for _, s := range counter.Shapes() {
		if strings.HasPrefix(s.SQL, "SELECT EXISTS (SELECT 1 FROM teams WHERE reassign_on_away)") {
			counter.Print(os.Stdout, 1)
			t.Errorf("the batch read the message rules in a statement of their own (%d times)", s.Count)
		}
	}
	var moved time.Time
	if err := conn.Get(&moved, `SELECT due_at FROM conversation_timers WHERE conversation_id = $1 AND kind = 'snooze'`, conv); err != nil {
		t.Fatal(err)
	}
	if !moved.Before(due) {
		t.Errorf("the snooze's deadline is %v after the contact wrote, want it moved to the batch's time %v", moved, later)
	}
}

// A batch that opens conversations reads its inbox's settings with the
// inbox's row, not in a statement of their own, and its openings follow
// them (round robin, the welcome message).
func TestInboxSettingsAreReadWithTheInbox(t *testing.T) {
	store, conn, counter, now := countedRoundRobin(t)
	ctx := context.Background()
	if err := store.Apply(ctx, []event.Envelope{textMessage("wamid.is0", "4918300000", now)}, now); err != nil {
		t.Fatal(err) // the inbox is known from here on
	}
	counter.Reset()
	batch := []event.Envelope{textMessage("wamid.is1", "4918300001", now), textMessage("wamid.is2", "4918300002", now)}
	out, err := store.ApplyOutcomes(ctx, batch, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range counter.Shapes() {
		if strings.HasPrefix(s.SQL, "SELECT phone_number_id, name, welcome_message") {
			counter.Print(os.Stdout, 1)
			t.Errorf("the batch read its inbox's settings in a statement of their own (%d times)", s.Count)
		}
	}
	for i, o := range out {
		var assignees, welcomes int
		if err := conn.Get(&assignees, `SELECT count(*) FROM conversation_assignees WHERE conversation_id = $1 AND source = 'round_robin'`, o.ConversationID); err != nil {
			t.Fatal(err)
		}
		if err := conn.Get(&welcomes, `SELECT count(*) FROM outbox WHERE conversation_id = $1 AND kind = 'welcome'`, o.ConversationID); err != nil {
			t.Fatal(err)
		}
		if !o.Opened || assignees != 1 || welcomes != 1 {
			t.Errorf("message %d: opened %v, %d round-robin assignees, %d welcomes; want an opening with one of each", i, o.Opened, assignees, welcomes)
		}
	}
}
