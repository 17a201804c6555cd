package gateway

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
)

// countingReader answers the live fan-out's reads with unassigned
// conversations (visible to every agent) and counts them.
type countingReader struct {
	Reader // the other reads are not used
	mu     sync.Mutex
	reads  int     // queries
	ids    []int64 // conversations read
}

func (r *countingReader) ListConversations(_ context.Context, f assigner.ConversationFilter) ([]assigner.ConversationView, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	r.ids = append(r.ids, f.IDs...)
	var out []assigner.ConversationView
	for _, id := range f.IDs {
		out = append(out, assigner.ConversationView{Conversation: assigner.Conversation{ID: id, Status: assigner.StatusOpen}})
	}
	return out, nil
}

func (r *countingReader) Conversation(_ context.Context, id int64) (assigner.ConversationView, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	r.ids = append(r.ids, id)
	return assigner.ConversationView{Conversation: assigner.Conversation{ID: id, Status: assigner.StatusOpen}}, nil
}

// liveWithAgents is a fan-out over r with n agents' streams open.
func liveWithAgents(r Reader, n int) (*live, []*stream) {
	l := newLive(r, &Server{log: slog.New(slog.DiscardHandler)}, prometheus.NewRegistry())
	var streams []*stream
	for i := range n {
		id := int64(i + 1)
		streams = append(streams, l.subscribe(principal{AgentID: id, Role: assigner.RoleAgent},
			assigner.Viewer{AgentID: id, Role: assigner.RoleAgent}))
	}
	return l, streams
}

// drained is what a stream holds: its events, and whether it must resync.
func drained(st *stream) (events []assigner.Change, resync bool) {
	for {
		select {
		case ch := <-st.events:
			events = append(events, ch)
		case <-st.behind:
			resync = true
		default:
			return events, resync
		}
	}
}

// Changes that arrive together are one batch: each conversation is read
// once, in one query shared by every stream, and each change is passed on
// once however often it was announced.
func TestLiveReadsABatchOnceForAllStreams(t *testing.T) {
	r := &countingReader{}
	l, streams := liveWithAgents(r, 10)
	changes := make(chan assigner.Change, 64)
	var sent []assigner.Change
	for range 5 {
		sent = append(sent, assigner.Change{Kind: assigner.ChangeMessage, ID: 1}, assigner.Change{Kind: assigner.ChangeConversation, ID: 1})
	}
	sent = append(sent, assigner.Change{Kind: assigner.ChangeConversation, ID: 2}, assigner.Change{Kind: assigner.ChangeAgent, ID: 7},
		assigner.Change{Kind: assigner.ChangeMessage, ID: 3})
	for _, ch := range sent {
		changes <- ch
	}
	close(changes)
	l.run(changes)

	slices.Sort(r.ids)
	if r.reads != 1 || !slices.Equal(r.ids, []int64{1, 2, 3}) {
		t.Errorf("%d changes for 3 conversations to %d streams: %d reads of %v; want one read of [1 2 3]", len(sent), len(streams), r.reads, r.ids)
	}
	want := []assigner.Change{{Kind: assigner.ChangeMessage, ID: 1}, {Kind: assigner.ChangeConversation, ID: 1},
		{Kind: assigner.ChangeConversation, ID: 2}, {Kind: assigner.ChangeAgent, ID: 7}, {Kind: assigner.ChangeMessage, ID: 3}}
	for i, st := range streams {
		if got, resync := drained(st); !slices.Equal(got, want) || resync {
			t.Errorf("stream %d got %v (resync %v), want %v", i, got, resync, want)
		}
	}
}

// A flood (more changes waiting than one batch takes) reads nothing: every
// stream is told to resync, and the changes waiting are dropped.
func TestLiveFloodResyncsWithoutReading(t *testing.T) {
	r := &countingReader{}
	l, streams := liveWithAgents(r, 3)
	changes := make(chan assigner.Change, 4*maxBatch)
	for i := range 4 * maxBatch {
		changes <- assigner.Change{Kind: assigner.ChangeConversation, ID: int64(i + 1)}
	}
	close(changes)
	l.run(changes)
	if r.reads != 0 {
		t.Errorf("a flood of %d changes made %d reads of %d conversations; want none", 4*maxBatch, r.reads, len(r.ids))
	}
	for i, st := range streams {
		if got, resync := drained(st); !resync || len(got) != 0 {
			t.Errorf("stream %d after a flood: %d events, resync %v; want only a resync", i, len(got), resync)
		}
	}
}

// A stream whose buffer is full gets resync instead of the changes that
// did not fit.
func TestLiveFullStreamResyncs(t *testing.T) {
	l, streams := liveWithAgents(&countingReader{}, 1)
	changes := make(chan assigner.Change, 2*streamBuffer)
	for i := range 2 * streamBuffer {
		changes <- assigner.Change{Kind: assigner.ChangeAgent, ID: int64(i + 1)}
	}
	close(changes)
	l.run(changes)
	if got, resync := drained(streams[0]); len(got) != streamBuffer || !resync {
		t.Errorf("%d changes to a stream that holds %d: it got %d and resync %v; want %d and a resync",
			2*streamBuffer, streamBuffer, len(got), resync, streamBuffer)
	}
}
