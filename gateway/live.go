package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/assigner"
)

// Live events: GET /v1/events is a Server-Sent Events stream of the
// store's committed changes (Config.Changes), for the console. An event
// names what changed (a conversation, a message of one, a contact's
// owners, an agent), never its content: the console reads that through
// the API, with the caller's rights. Each stream gets only the changes of
// conversations its caller may see (mayView). A stream that falls behind
// gets "resync" (read everything again) instead of the changes it missed,
// and so does every stream when the store's listener reconnected or a
// flood of changes arrived at once (maxBatch). Changes that arrive
// together are handled as one batch: each once, and the conversations
// they name read in one query shared by every stream.

// streamBuffer is how many events a stream holds before it falls behind.
const streamBuffer = 64

// DefaultLiveHeartbeat is how often an idle stream sends a comment, so
// that proxies and the browser see it alive.
const DefaultLiveHeartbeat = 15 * time.Second

// mayView decides whether the stream's caller may see a conversation: the
// visibility rules every /v1 route applies (assigner.Viewer), with the
// caller's role and teams as they were when the stream opened.
func mayView(v assigner.Viewer, conv assigner.ConversationView) bool {
	return v.MaySeeConversation(conv.Conversation)
}

// stream is one open event stream.
type stream struct {
	p      principal
	v      assigner.Viewer // what the caller may see (mayView)
	events chan assigner.Change
	behind chan struct{} // signalled when an event had to be dropped
}

// live fans the store's changes out to the open streams.
type live struct {
	reads   Reader
	log     *slog.Logger
	streams prometheus.Gauge

	mu   sync.Mutex
	open map[*stream]struct{}
}

func newLive(reads Reader, s *Server, reg prometheus.Registerer) *live {
	l := &live{reads: reads, log: s.log, open: map[*stream]struct{}{},
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wagw_live_streams",
			Help: "Open live event streams (GET /v1/events)."})}
	reg.MustRegister(l.streams)
	return l
}

func (l *live) subscribe(p principal, v assigner.Viewer) *stream {
	st := &stream{p: p, v: v, events: make(chan assigner.Change, streamBuffer), behind: make(chan struct{}, 1)}
	l.mu.Lock()
	l.open[st] = struct{}{}
	l.mu.Unlock()
	l.streams.Inc()
	return st
}

func (l *live) unsubscribe(st *stream) {
	l.mu.Lock()
	delete(l.open, st)
	l.mu.Unlock()
	l.streams.Dec()
}

// maxBatch is how many waiting changes run takes at once. A full batch
// means a flood (a bulk change, or the gateway fell behind): run reads
// nothing and tells every stream to resync instead, so that its work
// stays bounded and the listener is never held up for long.
const maxBatch = 256

// run hands every change to the streams that may see it, until changes
// is closed. It takes the changes that arrived together as one batch:
// each (kind, id) once, and the conversations the agents' streams must
// check read in one query shared by all the streams.
func (l *live) run(changes <-chan assigner.Change) {
	for ch := range changes {
		batch, open := collect(ch, changes)
		targets := l.targets()
		switch {
		case len(targets) == 0:
		case len(batch) >= maxBatch:
			l.flood(changes, targets)
		default:
			l.fanOut(dedupe(batch), targets)
		}
		if !open {
			return
		}
	}
}

// collect is first and the changes waiting after it, at most maxBatch;
// open is false once changes was closed.
func collect(first assigner.Change, changes <-chan assigner.Change) (batch []assigner.Change, open bool) {
	batch = append(batch, first)
	for len(batch) < maxBatch {
		select {
		case ch, ok := <-changes:
			if !ok {
				return batch, false
			}
			batch = append(batch, ch)
		default:
			return batch, true
		}
	}
	return batch, true
}

// dedupe keeps the first of each (kind, id), in order.
func dedupe(batch []assigner.Change) []assigner.Change {
	seen := make(map[assigner.Change]bool, len(batch))
	out := batch[:0]
	for _, ch := range batch {
		if !seen[ch] {
			seen[ch] = true
			out = append(out, ch)
		}
	}
	return out
}

// targets are the streams open now.
func (l *live) targets() []*stream {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*stream, 0, len(l.open))
	for st := range l.open {
		out = append(out, st)
	}
	return out
}

// flood drops the changes waiting (at most what the channel holds, so
// that it ends under a steady flood too) and tells every stream to resync.
func (l *live) flood(changes <-chan assigner.Change, targets []*stream) {
drop:
	for range cap(changes) {
		select {
		case _, ok := <-changes:
			if !ok {
				break drop
			}
		default:
			break drop
		}
	}
	for _, st := range targets {
		st.fellBehind()
	}
}

// fanOut hands a batch to the streams that may see each change.
func (l *live) fanOut(batch []assigner.Change, targets []*stream) {
	convs := l.conversationsOf(batch, targets)
	for _, ch := range batch {
		conv, known := convs[ch.ID]
		for _, st := range targets {
			if ch.Kind == assigner.ChangeConversation || ch.Kind == assigner.ChangeMessage {
				if !st.p.Admin && (!known || !mayView(st.v, conv)) {
					continue
				}
			}
			select {
			case st.events <- ch:
			default:
				st.fellBehind()
			}
		}
	}
}

// fellBehind makes the stream send resync next instead of what it missed.
func (st *stream) fellBehind() {
	select {
	case st.behind <- struct{}{}:
	default:
	}
}

// conversationsOf reads the conversations a batch is about, in one query
// for all streams, when a stream that is not an admin's needs them for
// mayView. One that could not be read is missing: agents' streams skip it.
func (l *live) conversationsOf(batch []assigner.Change, targets []*stream) map[int64]assigner.ConversationView {
	if !slices.ContainsFunc(targets, func(st *stream) bool { return !st.p.Admin }) {
		return nil
	}
	var ids []int64
	for _, ch := range batch {
		if (ch.Kind == assigner.ChangeConversation || ch.Kind == assigner.ChangeMessage) && !slices.Contains(ids, ch.ID) {
			ids = append(ids, ch.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := l.reads.ListConversations(ctx, assigner.ConversationFilter{Scope: assigner.Scope{All: true}, IDs: ids, Limit: len(ids)})
	if err != nil {
		l.log.Warn("live events: could not read changed conversations; agents' streams skip them", "conversations", len(ids), "err", err)
		return nil
	}
	out := make(map[int64]assigner.ConversationView, len(list))
	for _, c := range list {
		out[c.ID] = c
	}
	return out
}

// events is GET /v1/events: the caller's stream of changes. It starts with
// "ready" (read what you show now), then sends each change as an event
// named by its kind with the change as JSON, and a comment every
// heartbeat while idle. It ends when the client goes away or the server
// shuts down; the console reconnects by itself.
func (s *Server) events(c *fiber.Ctx) error {
	if s.live == nil {
		return apiError(fiber.StatusServiceUnavailable, "live_unavailable", "this gateway has no live events (no change listener)")
	}
	v, err := s.viewer(c)
	if err != nil {
		return err
	}
	st := s.live.subscribe(who(c), v)
	done := c.Context().Done() // closed when the server shuts down
	conn := c.Context().Conn()
	heartbeat := s.cfg.LiveHeartbeat
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.live.unsubscribe(st)
		send := func(name string, v any) bool {
			// the server's write timeout was set once for the whole
			// response: move it along with each write
			conn.SetWriteDeadline(time.Now().Add(heartbeat + 30*time.Second))
			if name == "" {
				w.WriteString(": ping\n\n")
			} else {
				data, _ := json.Marshal(v)
				w.WriteString("event: " + name + "\ndata: ")
				w.Write(data)
				w.WriteString("\n\n")
			}
			return w.Flush() == nil
		}
		if !send("ready", fiber.Map{}) {
			return
		}
		tick := time.NewTicker(heartbeat)
		defer tick.Stop()
		for {
			var ok bool
			select {
			case <-done:
				return
			case <-tick.C:
				ok = send("", nil)
			case <-st.behind:
				ok = send(string(assigner.ChangeResync), assigner.Change{Kind: assigner.ChangeResync})
			case ch := <-st.events:
				ok = send(string(ch.Kind), ch)
			}
			if !ok {
				return
			}
		}
	})
	return nil
}
