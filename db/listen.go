package db

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

// ChangesChannel is the LISTEN channel on which migration 013's triggers
// announce committed changes as "<kind>:<id>" (see ParseChange).
const ChangesChannel = "wagw_changes"

// listenPing is how often a listener pings its connection, so that a
// connection lost without a word is found (a ticker: a timer made for
// every notification cost the busy listeners one allocation each).
const listenPing = 90 * time.Second

// listen opens a listener on channel with its own connection to dsn; it
// reconnects by itself and logs (as what) when it loses the connection
// and when it has it again, not every attempt in between.
func listen(dsn, channel, what string, log *slog.Logger) (*pq.Listener, error) {
	var lost atomic.Bool
	l := pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			if lost.CompareAndSwap(false, true) {
				log.Warn(what+": lost its postgres connection; reconnecting", "err", err)
			}
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			if lost.CompareAndSwap(true, false) {
				log.Info(what + ": connected again")
			}
		}
	})
	if err := l.Listen(channel); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	return l, nil
}

// Listen turns Postgres notifications on channel (QueueChannel,
// TimerChannel) into wake-ups of the scheduler's loops (which also look
// every few seconds while the listener reconnects), and returns how to
// stop listening. A wake-up also comes after each reconnection, since
// notifications may have been missed.
func Listen(dsn, channel string, log *slog.Logger) (<-chan struct{}, func(), error) {
	l, err := listen(dsn, channel, "listener on "+channel, log)
	if err != nil {
		return nil, nil, err
	}
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		ping := time.NewTicker(listenPing)
		defer ping.Stop()
		for {
			select {
			case <-done:
				return
			case <-l.Notify: // nil after a reconnect: wake up anyway
			case <-ping.C:
				go l.Ping()
				continue
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	return wake, func() { close(done); l.Close() }, nil
}

// ListenChanges turns Postgres notifications on ChangesChannel into
// changes, and returns how to stop listening (more than once is fine); the
// channel is closed once stopped. After a reconnect (notifications may have been lost meanwhile)
// it sends a ChangeResync. A reader that falls behind blocks the
// listener, whose notifications Postgres queues meanwhile.
func ListenChanges(dsn string, log *slog.Logger) (<-chan assigner.Change, func(), error) {
	l, err := listen(dsn, ChangesChannel, "changes listener", log)
	if err != nil {
		return nil, nil, err
	}
	out := make(chan assigner.Change, 256)
	done := make(chan struct{})
	go func() {
		defer close(out)
		ping := time.NewTicker(listenPing)
		defer ping.Stop()
		for {
			var ch assigner.Change
			select {
			case <-done:
				return
			case n := <-l.Notify:
				if n == nil {
					ch = assigner.Change{Kind: assigner.ChangeResync}
				} else if c, ok := ParseChange(n.Extra); ok {
					ch = c
				} else {
					log.Warn("changes listener: a notification it does not understand", "payload", n.Extra)
					continue
				}
			case <-ping.C:
				go l.Ping()
				continue
			}
			select {
			case out <- ch:
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return out, func() { once.Do(func() { close(done); l.Close() }) }, nil
}

// changeKinds maps a notification's prefix to its kind.
var changeKinds = map[string]assigner.ChangeKind{
	"c": assigner.ChangeConversation, "m": assigner.ChangeMessage,
	"k": assigner.ChangeContact, "a": assigner.ChangeAgent,
}

// ParseChange reads a notification of ChangesChannel: "<kind>:<id>".
func ParseChange(payload string) (assigner.Change, bool) {
	k, v, ok := strings.Cut(payload, ":")
	kind, known := changeKinds[k]
	if !ok || !known {
		return assigner.Change{}, false
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return assigner.Change{}, false
	}
	return assigner.Change{Kind: kind, ID: id}, true
}
