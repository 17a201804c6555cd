package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
)

// changesUntil collects changes until want are all seen or 10 s pass,
// and returns how often each change arrived.
func changesUntil(t *testing.T, ch <-chan assigner.Change, want ...assigner.Change) map[assigner.Change]int {
	t.Helper()
	seen := map[assigner.Change]int{}
	missing := func() []assigner.Change {
		var m []assigner.Change
		for _, w := range want {
			if seen[w] == 0 {
				m = append(m, w)
			}
		}
		return m
	}
	deadline := time.After(10 * time.Second)
	for len(missing()) > 0 {
		select {
		case c := <-ch:
			seen[c]++
		case <-deadline:
			t.Fatalf("changes never announced: %v (seen %v)", missing(), seen)
		}
	}
	// what else this transaction announced arrives with it
	for {
		select {
		case c := <-ch:
			seen[c]++
		case <-time.After(200 * time.Millisecond):
			return seen
		}
	}
}

// listening is a fresh database with its changes listened to.
func listening(t *testing.T) (*applyFixture, <-chan assigner.Change, func()) {
	conn, dsn := dbtest.New(t)
	changes, stop, err := db.ListenChanges(dsn, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return &applyFixture{t: t, conn: conn, store: db.NewStore(conn)}, changes, stop
}

// A committed batch announces each conversation it touched, the
// conversation's messages, and the agents whose state changed, once per
// transaction however many rows changed.
func TestListenChangesAnnouncesCommittedChanges(t *testing.T) {
	f, changes, stop := listening(t)
	defer stop()

	agent := f.agent("ana")
	changesUntil(t, changes, assigner.Change{Kind: assigner.ChangeAgent, ID: agent})

	u := who{wa: "15551230001"}
	f.apply(f.message(u, "wamid.LISTEN.1", "hello"), f.message(u, "wamid.LISTEN.2", "again"))
	conv := f.conversationOf("wamid.LISTEN.1")
	seen := changesUntil(t, changes, assigner.Change{Kind: assigner.ChangeConversation, ID: conv},
		assigner.Change{Kind: assigner.ChangeMessage, ID: conv})
	if n := seen[assigner.Change{Kind: assigner.ChangeMessage, ID: conv}]; n != 1 {
		t.Errorf("two messages in one batch announced %d times, want once", n)
	}

	f.apply(f.command(f.key(f.contactOf("wamid.LISTEN.1")), "cmd-listen-assign", event.CmdAssign,
		event.AssignCommand{ConversationID: conv, AgentIDs: []int64{agent}, By: assigner.Actor{Admin: true}}))
	if k, code, v := f.result("cmd-listen-assign"); code != "" {
		t.Fatalf("assign: %s %s %s", k, code, v)
	}
	changesUntil(t, changes, assigner.Change{Kind: assigner.ChangeConversation, ID: conv},
		assigner.Change{Kind: assigner.ChangeAgent, ID: agent})

	stop()
	for range changes { // closed once stopped
	}
}

func TestParseChange(t *testing.T) {
	for payload, want := range map[string]assigner.Change{
		"c:12": {Kind: assigner.ChangeConversation, ID: 12},
		"m:7":  {Kind: assigner.ChangeMessage, ID: 7},
		"k:3":  {Kind: assigner.ChangeContact, ID: 3},
		"a:1":  {Kind: assigner.ChangeAgent, ID: 1},
	} {
		if got, ok := db.ParseChange(payload); !ok || got != want {
			t.Errorf("ParseChange(%q) = %v %v, want %v", payload, got, ok, want)
		}
	}
	for _, bad := range []string{"", "c", "c:", "c:x", "c:-1", "c:0", "z:1", "c1"} {
		if got, ok := db.ParseChange(bad); ok {
			t.Errorf("ParseChange(%q) = %v, want refused", bad, got)
		}
	}
}

// A heartbeat (only the last-seen columns change) announces nothing; a
// change of presence, of the lapse or of anything else still does.
func TestListenChangesHeartbeatIsQuiet(t *testing.T) {
	f, changes, stop := listening(t)
	defer stop()
	conn := f.conn
	ctx := context.Background()
	agent := f.agent("ana") // online, with a first heartbeat
	changesUntil(t, changes, assigner.Change{Kind: assigner.ChangeAgent, ID: agent})

	for range 3 {
		if _, err := f.store.SetPresence(ctx, agent, assigner.PresenceOnline, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// a marker commits after the heartbeats: once it arrives, any
	// announcement of theirs would have arrived before it
	other := f.agent("bea")
	seen := changesUntil(t, changes, assigner.Change{Kind: assigner.ChangeAgent, ID: other})
	if n := seen[assigner.Change{Kind: assigner.ChangeAgent, ID: agent}]; n != 0 {
		t.Errorf("three heartbeats announced the agent %d times, want never", n)
	}

	if _, err := f.store.SetPresence(ctx, agent, assigner.PresenceAway, time.Now()); err != nil {
		t.Fatal(err)
	}
	changesUntil(t, changes, assigner.Change{Kind: assigner.ChangeAgent, ID: agent})
	if _, err := conn.ExecContext(ctx, `UPDATE agents SET lapsed_at = now(), heartbeat_at = now() WHERE id = $1`, agent); err != nil {
		t.Fatal(err)
	}
	changesUntil(t, changes, assigner.Change{Kind: assigner.ChangeAgent, ID: agent})
}
