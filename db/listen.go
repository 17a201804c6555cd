package db

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// ListenQueue turns Postgres notifications on QueueChannel into wake-ups
// of the queue drainer, and returns how to stop listening. The listener
// has its own connection to dsn and reconnects by itself; it logs when it
// loses the connection and when it has it again, not every attempt in
// between.
func ListenQueue(dsn string, log *slog.Logger) (<-chan struct{}, func(), error) {
	var lost atomic.Bool
	l := pq.NewListener(dsn, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			if lost.CompareAndSwap(false, true) {
				log.Warn("queue listener: lost its postgres connection; reconnecting (the queue is drained every few seconds meanwhile)", "err", err)
			}
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			if lost.CompareAndSwap(true, false) {
				log.Info("queue listener: connected again")
			}
		}
	})
	if err := l.Listen(QueueChannel); err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("listen on %s: %w", QueueChannel, err)
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
