package db_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wagw/wagw/assigner"
)

// The console's list: newest first, paged by BeforeID, by inbox, each
// row with its latest message and when the service window closes.
func TestListConversationsNewestFirst(t *testing.T) {
	f := newApplyFixture(t)
	ctx := context.Background()
	var ids []int64
	for i := range 3 {
		w := fmt.Sprintf("wamid.NEWEST.%d", i)
		f.apply(f.message(who{wa: fmt.Sprintf("1555000100%d", i)}, w, fmt.Sprintf("hello %d", i)))
		ids = append(ids, f.conversationOf(w))
	}
	page, err := f.store.ListConversations(ctx, assigner.ConversationFilter{Scope: assigner.Scope{All: true}, Newest: true, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ID != ids[2] || page[1].ID != ids[1] {
		t.Fatalf("first page %v, want %d and %d", idsOf(page), ids[2], ids[1])
	}
	if lm := page[0].LastMessage; lm == nil || lm.Body != "hello 2" || lm.Direction != "in" || lm.Type != "text" {
		t.Errorf("last message %+v, want the inbound hello 2", lm)
	}
	if page[0].WindowClosesAt == nil {
		t.Error("no window_closes_at for a contact that wrote")
	}
	rest, err := f.store.ListConversations(ctx, assigner.ConversationFilter{Scope: assigner.Scope{All: true}, Newest: true, BeforeID: page[1].ID, Limit: 2})
	if err != nil || len(rest) != 1 || rest[0].ID != ids[0] {
		t.Fatalf("second page %v %v, want %d", idsOf(rest), err, ids[0])
	}
	for inbox, want := range map[string]int{applyInbox: 3, "999": 0} {
		got, err := f.store.ListConversations(ctx, assigner.ConversationFilter{Scope: assigner.Scope{All: true}, Inbox: inbox})
		if err != nil || len(got) != want {
			t.Errorf("inbox %s: %d conversations (%v), want %d", inbox, len(got), err, want)
		}
	}
}

func idsOf(list []assigner.ConversationView) []int64 {
	out := make([]int64, len(list))
	for i, c := range list {
		out[i] = c.ID
	}
	return out
}
