package db_test

import (
	"context"
	"testing"

	"github.com/wagw/wagw/assigner"
	"github.com/wagw/wagw/event"
)

// TestHoldKeepsARedeliveredEventOnce: Kafka delivers a record again after
// a rebalance or a commit that failed; a blocked contact's event held
// before is not held a second time, while another event that happens to
// share its id is. The release applies each once.
func TestHoldKeepsARedeliveredEventOnce(t *testing.T) {
	f := newApplyFixture(t)
	u := who{wa: "31633330009"}
	f.apply(f.message(u, "wamid.h1", "first"))
	id := f.contactOf("wamid.h1")
	key := f.key(id)
	if err := f.store.Block(context.Background(), key, "test: a poison event"); err != nil {
		t.Fatal(err)
	}
	held := f.message(u, "wamid.h2", "held")
	f.apply(held)
	f.apply(held)
	f.apply(held, f.message(u, "wamid.h3", "also held"))
	if n := f.count(`SELECT count(*) FROM held_events WHERE event_id = 'wamid.h2'`); n != 1 {
		t.Fatalf("the redelivered event is held %d times; want once", n)
	}
	f.apply(f.message(u, "wamid.h2", "another event with the same id"))
	if n := f.count(`SELECT count(*) FROM held_events WHERE contact_id = $1`, id); n != 3 {
		t.Fatalf("%d held events; want h2, h3 and the other event with h2's id", n)
	}
	kind, r := f.release(key, "cmd_release_h", event.ReleaseCommand{ContactID: id})
	if kind != assigner.OutcomeReleased || r.Released != 3 {
		t.Fatalf("release: %s, %+v", kind, r)
	}
	if got := f.inbound(id); len(got) != 3 || got[0] != "wamid.h1" || got[1] != "wamid.h2" || got[2] != "wamid.h3" {
		t.Fatalf("inbound after release %v; want h1, h2, h3 once each", got)
	}
}
