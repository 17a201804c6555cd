package db_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
)

// Migration 004 on a database written under the old identity rule (key:
// the wa_id when known): keys become user ids, unreported sends follow,
// and every held event belongs to a contact by id, including one held
// under the contact's other identity and one whose key names no contact.
func TestMigrationKeysByUserIDAndHoldsByContactID(t *testing.T) {
	ctx := context.Background()
	dsn := dbtest.URL(t)
	conn, err := db.Open(ctx, db.Config{URL: dsn, CreateDatabase: true})
	if err != nil {
		t.Fatalf("tests need a real Postgres: %v", err)
	}
	t.Cleanup(func() { conn.Close(); db.DropDatabase(context.Background(), dsn) })
	files, _ := filepath.Glob("migrations/*.sql")
	sort.Strings(files)
	if _, err := conn.Exec(`CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for i, f := range files[:3] { // the schema before 004
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
