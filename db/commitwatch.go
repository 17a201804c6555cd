package db

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/assigner"
)

// CommitWatch hears the conversations announced on ChangesChannel, which
// Postgres delivers only after the commit that wrote them, and keeps when
// it first heard each: an upper bound of the commit that opened the
// conversation and decided its assignment (both are in one transaction).
// The decisions' own time is the consumer's clock when it began applying
// the batch, before the work and the commit; the load tester's verifier
// measures webhook → assignment committed with a watch started before
// its run.
type CommitWatch struct {
	l    *pq.Listener
	conn *sqlx.DB
	done chan struct{}
	once sync.Once
	seq  atomic.Int64
	// id tells this watch's Sync tokens from those of other watches on
	// the same database, which hear them too.
	id string

	mu    sync.Mutex
	heard map[int64]time.Time
	lost  bool                     // the listener reconnected: it may have missed notifications
	syncs map[string]chan struct{} // Sync's tokens not heard yet
}

// commitSyncChannel carries Sync's own notifications, on the watch's
// connection only.
const commitSyncChannel = "wagw_commit_watch_sync"

// WatchCommits starts a watch on the database of cfg, with its own
// connection; conn (a pool on the same database) sends Sync's
// notifications. Close stops it.
func WatchCommits(cfg Config, conn *sqlx.DB, log *slog.Logger) (*CommitWatch, error) {
	dsn, err := DriverURL(cfg)
	if err != nil {
		return nil, err
	}
	l, err := listen(dsn, ChangesChannel, "commit watch", log)
	if err != nil {
		return nil, err
	}
	if err := l.Listen(commitSyncChannel); err != nil {
		l.Close()
		return nil, err
	}
	w := &CommitWatch{l: l, conn: conn, done: make(chan struct{}), id: strconv.FormatUint(rand.Uint64(), 36),
		heard: map[int64]time.Time{}, syncs: map[string]chan struct{}{}}
	go w.run()
	return w, nil
}

func (w *CommitWatch) run() {
	ping := time.NewTicker(listenPing)
	defer ping.Stop()
	for {
		select {
		case <-w.done:
			return
		case n := <-w.l.Notify:
			w.note(n, time.Now())
		case <-ping.C:
			go w.l.Ping()
		}
	}
}

// note records one notification heard at t (nil: the listener
// reconnected).
func (w *CommitWatch) note(n *pq.Notification, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case n == nil:
		w.lost = true
	case n.Channel == commitSyncChannel:
		if ch, ok := w.syncs[n.Extra]; ok {
			close(ch)
			delete(w.syncs, n.Extra)
		}
	default:
		if c, ok := ParseChange(n.Extra); ok && c.Kind == assigner.ChangeConversation {
			if _, seen := w.heard[c.ID]; !seen {
				w.heard[c.ID] = t
			}
		}
	}
}

// Sync returns once the watch has heard every notification committed
// before it was called: it sends one of its own, which Postgres delivers
// after them (one queue, in commit order).
func (w *CommitWatch) Sync(ctx context.Context) error {
	token := w.token(w.seq.Add(1))
	ch := make(chan struct{})
	w.mu.Lock()
	w.syncs[token] = ch
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.syncs, token)
		w.mu.Unlock()
	}()
	if _, err := w.conn.ExecContext(ctx, `SELECT pg_notify($1, $2)`, commitSyncChannel, token); err != nil {
		return err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return errors.New("commit watch: closed")
	case <-t.C:
		return errors.New("commit watch: its own notification did not come back within 10 s")
	}
}

// token is the payload of the watch's n-th Sync.
func (w *CommitWatch) token(n int64) string { return w.id + "." + strconv.FormatInt(n, 10) }

// Heard returns when the watch first heard of conversation id (zero: not
// heard).
func (w *CommitWatch) Heard(id int64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heard[id]
}

// Lost reports whether the listener reconnected since the watch started,
// so that notifications may have been missed.
func (w *CommitWatch) Lost() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// Close stops the watch; more than once is fine.
func (w *CommitWatch) Close() {
	w.once.Do(func() {
		close(w.done)
		w.l.Close()
	})
}
