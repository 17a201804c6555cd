package db

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Listen turns Postgres notifications on channel (QueueChannel,
// TimerChannel) into wake-ups of the scheduler's loops, and returns how to
// stop listening. The listener has its own connection to dsn and
// reconnects by itself; it logs when it loses the connection and when it
// has it again, not every attempt in between. A wake-up also comes after
// each reconnection, since notifications may have been missed.
func Listen(dsn, channel string, log *slog.Logger) (<-chan struct{}, func(), error) {
	var lost atomic.Bool
	l := pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			if lost.CompareAndSwap(false, true) {
				log.Warn("listener: lost its postgres connection; reconnecting (the scheduler looks every few seconds meanwhile)", "channel", channel, "err", err)
			}
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			if lost.CompareAndSwap(true, false) {
				log.Info("listener: connected again", "channel", channel)
			}
		}
	})
	if err := l.Listen(channel); err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-l.Notify: // nil after a reconnect: wake up anyway
			case <-time.After(90 * time.Second):
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
