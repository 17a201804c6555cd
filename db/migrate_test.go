package db_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// Migration 004 on a database written under the old identity rule (key:
// the wa_id when known): keys become user ids, unreported sends follow,
// and every held event belongs to a contact by id, including one held
// under the contact's other identity and one whose key names no contact.
func TestMigrationKeysByUserIDAndHoldsByContactID(t *testing.T) {
	ctx := context.Background()
	conn, files := migratedTo(t, 3) // the schema before 004
	for _, q := range []string{
		`INSERT INTO contacts (id, key, wa_id, user_id, blocked_at) VALUES
			(1, '31600000001', '31600000001', 'NL.1', now()),
			(2, 'NL.2', NULL, 'NL.2', NULL),
			(3, '31600000003', '31600000003', NULL, NULL),
			(4, '31600000004', NULL, NULL, now())`,
		`SELECT setval('contacts_id_seq', 4)`,
		`INSERT INTO held_events (contact_key, event_id, envelope) VALUES
			('31600000001', 'held-by-wa', '\x7b7d'), ('NL.1', 'held-by-user', '\x7b7d'),
			('31600000004', 'held-key-only', '\x7b7d'), ('ghost', 'held-no-contact', '\x7b7d')`,
		`INSERT INTO inboxes (phone_number_id) VALUES ('pn')`,
		`INSERT INTO messages (id, direction, contact_id, inbox, type, sent_at, received_at) VALUES (1, 'out', 1, 'pn', 'text', now(), now())`,
		`INSERT INTO outbox (contact_id, contact_key, message_id, phone_number_id, recipient, kind, payload)
			VALUES (1, '31600000001', 1, 'pn', '31600000001', 'reply', '{}')`,
	} {
		if _, err := conn.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	applied, err := db.Migrate(ctx, conn)
	if err != nil || len(applied) != len(files)-3 {
		t.Fatalf("migrate: applied %v, %v", applied, err)
	}

	keys := map[int64]string{}
	rows, err := conn.Query(`SELECT id, key FROM contacts`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var k string
		rows.Scan(&id, &k)
		keys[id] = k
	}
	rows.Close()
	for id, want := range map[int64]string{1: "NL.1", 2: "NL.2", 3: "31600000003", 4: "31600000004"} {
		if keys[id] != want {
			t.Errorf("contact %d key %q, want %q", id, keys[id], want)
		}
	}
	var outboxKey string
	if err := conn.Get(&outboxKey, `SELECT contact_key FROM outbox`); err != nil || outboxKey != "NL.1" {
		t.Errorf("unreported send keyed %q (%v), want NL.1", outboxKey, err)
	}
	var held []struct {
		Event   string `db:"event_id"`
		Contact int64  `db:"contact_id"`
		Key     string `db:"key"`
		Blocked bool   `db:"blocked"`
	}
	if err := conn.Select(&held, `SELECT h.event_id, h.contact_id, c.key, c.blocked_at IS NOT NULL AS blocked
		FROM held_events h JOIN contacts c ON c.id = h.contact_id ORDER BY h.id`); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"held-by-wa": 1, "held-by-user": 1, "held-key-only": 4}
	if len(held) != 4 {
		t.Fatalf("held events %+v, want 4", held)
	}
	for _, h := range held {
		if id, ok := want[h.Event]; ok && h.Contact != id {
			t.Errorf("%s belongs to contact %d, want %d", h.Event, h.Contact, id)
		}
		if h.Event == "held-no-contact" && (h.Key != "ghost" || !h.Blocked) {
			t.Errorf("held event without a contact: got contact %q blocked %v, want a blocked contact keyed ghost", h.Key, h.Blocked)
		}
	}
}

// migratedTo creates a database with the schema of the first n migrations
// (recorded as applied), and returns it and every migration file.
func migratedTo(t *testing.T, n int) (*sqlx.DB, []string) {
	t.Helper()
	dsn := dbtest.URL(t)
	conn, err := db.Open(context.Background(), db.Config{URL: dsn, CreateDatabase: true})
	if err != nil {
		t.Fatalf("tests need a real Postgres: %v", err)
	}
	t.Cleanup(func() { conn.Close(); db.DropDatabase(context.Background(), dsn) })
	files, _ := filepath.Glob("migrations/*.sql")
	sort.Strings(files)
	if _, err := conn.Exec(`CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for i, f := range files[:n] {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := conn.Exec(`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, i+1, filepath.Base(f)); err != nil {
			t.Fatal(err)
		}
	}
	return conn, files
}

// Migration 005 on results stored as HTTP answers: each becomes its
// outcome's kind and value, or its error's code and message, and reads
// back as it was.
func TestMigrationCommandResultsBecomeData(t *testing.T) {
	ctx := context.Background()
	conn, _ := migratedTo(t, 4)
	old := []struct {
		id     string
		status int
		body   string
		kind   assigner.OutcomeKind
		code   assigner.ErrorCode
	}{
		{"assign", 200, `{"conversation": {"id": 7}, "decision": {"rule": "manual"}}`, assigner.OutcomeDecided, ""},
		{"owners", 200, `{"contact_id": 3, "owner_ids": [1]}`, assigner.OutcomeOwnersSet, ""},
		{"drain", 200, `{"changed": false}`, assigner.OutcomeUnchanged, ""},
		{"release", 200, `{"contact_id": 3, "released_events": 2, "failed_events": []}`, assigner.OutcomeReleased, ""},
		{"discard", 200, `{"contact_id": 3, "released_events": 0, "discarded_events": 1}`, assigner.OutcomeDiscarded, ""},
		{"send_result", 200, `{}`, assigner.OutcomeRecorded, ""},
		{"reply", 201, `{"message_id": 9, "conversation_id": 7, "status": "pending"}`, assigner.OutcomeReplyQueued, ""},
		{"read", 202, `{"message_id": 9, "wamid": "wamid.X"}`, assigner.OutcomeReadQueued, ""},
		{"claim", 409, `{"error": {"code": "already_claimed", "message": "taken"}}`, "", assigner.ErrCodeAlreadyClaimed},
		{"reply_late", 422, `{"error": {"code": "outside_customer_service_window", "message": "too late"}}`, "", assigner.ErrCodeOutsideServiceWindow},
	}
	for _, r := range old {
		if _, err := conn.Exec(`INSERT INTO command_results (command_id, status, body) VALUES ($1, $2, $3)`, r.id, r.status, r.body); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Migrate(ctx, conn); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s := db.NewStore(conn)
	for _, r := range old {
		got, err := s.CommandResult(ctx, r.id)
		switch {
		case err != nil:
			t.Errorf("%s: %v", r.id, err)
		case r.code != "" && (got.Err == nil || got.Err.Code != r.code || got.Err.Message == ""):
			t.Errorf("%s: %+v, want error %q with its message", r.id, got, r.code)
		case r.code == "" && (got.Err != nil || got.Kind != r.kind || !sameJSON(got.Value, r.body)):
			t.Errorf("%s: %+v %s, want %q %s", r.id, got, got.Value, r.kind, r.body)
		}
	}
}

func sameJSON(a []byte, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}
