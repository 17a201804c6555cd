package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
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
// and so does every stream when the store's listener reconnected.

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

// run hands every change to the streams that may see it, until changes
// is closed.
func (l *live) run(changes <-chan assigner.Change) {
	for ch := range changes {
		l.mu.Lock()
		targets := make([]*stream, 0, len(l.open))
		for st := range l.open {
			targets = append(targets, st)
		}
		l.mu.Unlock()
		if len(targets) == 0 {
			continue
		}
		conv, known := l.conversationOf(ch, targets)
		for _, st := range targets {
			if ch.Kind == assigner.ChangeConversation || ch.Kind == assigner.ChangeMessage {
				if !st.p.Admin && (!known || !mayView(st.v, conv)) {
					continue
				}
			}
			select {
			case st.events <- ch:
			default:
				select {
				case st.behind <- struct{}{}:
				default:
				}
			}
		}
	}
}

// conversationOf reads the conversation a change is about, once for all
// streams, when a stream that is not an admin's needs it for mayView.
func (l *live) conversationOf(ch assigner.Change, targets []*stream) (assigner.ConversationView, bool) {
	if ch.Kind != assigner.ChangeConversation && ch.Kind != assigner.ChangeMessage {
		return assigner.ConversationView{}, false
	}
	for _, st := range targets {
		if !st.p.Admin {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conv, err := l.reads.Conversation(ctx, ch.ID)
			if err != nil {
				l.log.Warn("live events: could not read a changed conversation; agents' streams skip it", "conversation", ch.ID, "err", err)
				return assigner.ConversationView{}, false
			}
			return conv, true
		}
	}
	return assigner.ConversationView{}, false
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
