package db_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

type releaseResult struct {
	Released  int `json:"released_events"`
	Discarded int `json:"discarded_events"`
	Failed    []struct {
		EventID string `json:"event_id"`
		Reason  string `json:"reason"`
	} `json:"failed_events"`
}

func (f *applyFixture) release(key, id string, cmd event.ReleaseCommand) (assigner.OutcomeKind, releaseResult) {
	f.t.Helper()
	f.apply(f.command(key, id, event.CmdRelease, cmd))
	kind, _, body := f.result(id)
	var r releaseResult
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		f.t.Fatalf("release result %s: %v", body, err)
	}
	return kind, r
}

func (f *applyFixture) inbound(contactID int64) []string {
	f.t.Helper()
	var out []string
	if err := f.conn.Select(&out, `SELECT wamid FROM messages WHERE contact_id = $1 AND direction = 'in' ORDER BY id`, contactID); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// Release replays each held event on its own: one that fails is kept,
// marked failed with its reason, and the release goes on with the next;
// a held command that the store refuses gets its failed result. The
// contact is released and its later events flow.
func TestReleaseGoesPastAFailingHeldEvent(t *testing.T) {
	f := newApplyFixture(t)
	u := who{wa: "31633330001", user: "NL.8000000000000000001"}
	f.apply(f.message(u, "wamid.1", "first"))
	id := f.contactOf("wamid.1")
	conv := f.conversationOf("wamid.1")
	key := f.key(id)
	if err := f.store.Block(context.Background(), key, "test: a poison event"); err != nil {
		t.Fatal(err)
	}
	f.apply(f.message(u, "wamid.2", "held"))
	// A held event Postgres refuses: the parser replaces NUL by U+FFFD, but
	// a record written past it (another producer, or a gateway from before
	// that rule whose events were held across the upgrade) still holds one.
	// held_events keeps envelopes as bytes, so it is held; replaying it
	// fails with a data error (22021).
	nul := f.message(u, "wamid.3", "NUL")
	nul.Message.Text.Body = "NUL \x00 cannot be stored"
	f.apply(nul)
	f.apply(f.command(key, "cmd_bad_reply", event.CmdReply, event.ReplyCommand{ConversationID: conv, Text: "\x00"}))
	f.apply(f.message(u, "wamid.4", "held too"))
	if n := f.count(`SELECT count(*) FROM held_events WHERE contact_id = $1`, id); n != 4 {
		t.Fatalf("%d held, want 4", n)
	}

	kind, r := f.release(key, "cmd_release", event.ReleaseCommand{ContactID: id})
	if kind != assigner.OutcomeReleased || r.Released != 3 || len(r.Failed) != 1 || r.Failed[0].EventID != "wamid.3" || r.Failed[0].Reason == "" {
		t.Fatalf("release %q %+v, want released with 3 released and wamid.3 failed with its reason", kind, r)
	}
	t.Logf("failed held event: %s", r.Failed[0].Reason)
	if !strings.Contains(r.Failed[0].Reason, "22021") {
		t.Errorf("wamid.3 failed with %q, want Postgres refusing the NUL (22021)", r.Failed[0].Reason)
	}
	if got := f.inbound(id); !slices.Equal(got, []string{"wamid.1", "wamid.2", "wamid.4"}) {
		t.Errorf("contact's messages %v, want 1 2 4", got)
	}
	if f.blocked(id) {
		t.Error("contact still blocked")
	}
	if _, code, _ := f.result("cmd_bad_reply"); code != assigner.ErrCodeInvalidText {
		t.Errorf("held command's result %q, want invalid_text", code)
	}
	var failed []string
	if err := f.conn.Select(&failed, `SELECT event_id FROM held_events WHERE contact_id = $1 AND failed_at IS NOT NULL AND failed_reason <> ''`, id); err != nil || !slices.Equal(failed, []string{"wamid.3"}) {
		t.Errorf("held events marked failed %v (%v), want wamid.3", failed, err)
	}
	f.apply(f.message(u, "wamid.5", "after"))
	if got := f.inbound(id); !slices.Equal(got, []string{"wamid.1", "wamid.2", "wamid.4", "wamid.5"}) {
		t.Errorf("contact's messages after release %v, want 1 2 4 5", got)
	}

	// A second release does not replay the failed event; discarding
	// deletes it.
	if _, r := f.release(key, "cmd_release_2", event.ReleaseCommand{ContactID: id}); r.Released != 0 || len(r.Failed) != 0 {
		t.Errorf("second release %+v, want nothing replayed", r)
	}
	if _, r := f.release(key, "cmd_discard", event.ReleaseCommand{ContactID: id, Discard: true}); r.Discarded != 1 {
		t.Errorf("discard %+v, want the failed event discarded", r)
	}
	if n := f.count(`SELECT count(*) FROM held_events`); n != 0 {
		t.Errorf("%d held events left", n)
	}
}

// Discarding releases a blocked contact without applying its held events.
func TestReleaseDiscardsHeldEvents(t *testing.T) {
	f := newApplyFixture(t)
	u := who{user: "NL.8000000000000000002"}
	f.apply(f.message(u, "wamid.1", "first"))
	id := f.contactOf("wamid.1")
	if err := f.store.Block(context.Background(), u.user, "test"); err != nil {
		t.Fatal(err)
	}
	f.apply(f.message(u, "wamid.2", "held"), f.message(u, "wamid.3", "held"))
	kind, r := f.release(u.user, "cmd_discard", event.ReleaseCommand{ContactID: id, Discard: true})
	if kind != assigner.OutcomeDiscarded || r.Discarded != 2 || r.Released != 0 {
		t.Errorf("discard %q %+v, want 2 discarded", kind, r)
	}
	if f.blocked(id) || f.count(`SELECT count(*) FROM held_events`) != 0 {
		t.Error("contact still blocked or events still held")
	}
	if got := f.inbound(id); !slices.Equal(got, []string{"wamid.1"}) {
		t.Errorf("discarded events were applied: %v", got)
	}
	f.apply(f.message(u, "wamid.4", "after"))
	if got := f.inbound(id); !slices.Equal(got, []string{"wamid.1", "wamid.4"}) {
		t.Errorf("later message not applied: %v", got)
	}
}
