package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/loadtest"
)

// loadStore is the verifier's read-only view of the gateway's Postgres:
// loadtest.Store over db.Audit, and, once watchCommits started it, a
// db.CommitWatch that gives the conversations' CommittedAt.
type loadStore struct {
	dsn   string
	conn  *sqlx.DB
	audit *db.Audit
	watch *db.CommitWatch
}

// openLoadStore connects to the gateway's Postgres, giving up after a few
// seconds (verification then falls back to the API); a Postgres with no
// free connection slot for now is waited for up to db.BusyWait, as the
// roles do.
func openLoadStore(ctx context.Context, dsn string) (*loadStore, error) {
	conn, err := db.Open(ctx, db.Config{URL: dsn, MaxOpenConns: 4, PingTimeout: 3 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("loadtest: %w", err)
	}
	return &loadStore{dsn: dsn, conn: conn, audit: db.NewAudit(conn)}, nil
}

// watchCommits starts listening for the commits of the conversations the
// run will open; call it before the run.
func (s *loadStore) watchCommits(log *slog.Logger) error {
	w, err := db.WatchCommits(db.Config{URL: s.dsn}, s.conn, log)
	if err != nil {
		return fmt.Errorf("loadtest: listen for commits: %w", err)
	}
	s.watch = w
	return nil
}

func (s *loadStore) Close() error {
	if s.watch != nil {
		s.watch.Close()
	}
	return s.conn.Close()
}

func (s *loadStore) Baseline(ctx context.Context) (loadtest.Baseline, error) {
	var b loadtest.Baseline
	var err error
	b.MessageID, b.ConversationID, err = s.audit.Baseline(ctx)
	return b, err
}

func (s *loadStore) CountInbound(ctx context.Context, after loadtest.Baseline) (int64, error) {
	return s.audit.CountInbound(ctx, after.MessageID)
}

func (s *loadStore) InboundMessages(ctx context.Context, after loadtest.Baseline) ([]loadtest.StoredMessage, error) {
	got, err := s.audit.InboundMessages(ctx, after.MessageID)
	out := make([]loadtest.StoredMessage, len(got))
	for i, m := range got {
		out[i] = loadtest.StoredMessage(m)
	}
	return out, err
}

// Conversations reads the conversations and, when commits are watched,
// when each was heard committed: after the read, a Sync makes sure that
// every commit the read saw has been heard. A Sync that fails (the watch's
// connection lost) fails only the measurement: what was not heard yet
// counts as not heard.
func (s *loadStore) Conversations(ctx context.Context, ids []int64) ([]loadtest.StoredConversation, error) {
	got, err := s.audit.Conversations(ctx, ids)
	if err == nil && s.watch != nil {
		if serr := s.watch.Sync(ctx); serr != nil && ctx.Err() != nil {
			err = serr
		}
	}
	out := make([]loadtest.StoredConversation, len(got))
	for i, c := range got {
		out[i] = loadtest.StoredConversation{ID: c.ID, ContactKey: c.ContactKey, Inbox: c.Inbox, Status: c.Status,
			OpenedBy: c.OpenedBy, CreatedAt: c.CreatedAt, Queued: c.Queued, OpenDecisions: c.OpenDecisions,
			Welcomes: c.Welcomes, WelcomeState: c.WelcomeState, WelcomeStatus: c.WelcomeStatus, InboxWelcome: c.InboxWelcome,
			Assignees: make([]loadtest.StoredAssignee, len(c.Assignees))}
		for j, a := range c.Assignees {
			out[i].Assignees[j] = loadtest.StoredAssignee(a)
		}
		if s.watch != nil {
			out[i].CommittedAt = s.watch.Heard(c.ID)
		}
	}
	return out, err
}

func (s *loadStore) Statuses(ctx context.Context, wamids []string) ([]loadtest.StoredStatus, error) {
	got, err := s.audit.Statuses(ctx, wamids)
	out := make([]loadtest.StoredStatus, len(got))
	for i, st := range got {
		out[i] = loadtest.StoredStatus(st)
	}
	return out, err
}

func (s *loadStore) Agents(ctx context.Context) ([]loadtest.StoredAgent, error) {
	got, err := s.audit.Agents(ctx)
	out := make([]loadtest.StoredAgent, len(got))
	for i, a := range got {
		out[i] = loadtest.StoredAgent(a)
	}
	return out, err
}

// watchCommits starts the store's commit watch when it is the SQL store,
// before the run, and reports whether it listens; when it cannot, the run
// goes on without measuring the assignment latency.
func watchCommits(st loadtest.Store, stdout io.Writer) bool {
	ls, ok := st.(*loadStore)
	if !ok {
		return false
	}
	if err := ls.watchCommits(slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
		fmt.Fprintf(stdout, "verify: %v: the assignment latency will not be measured\n", err)
		return false
	}
	return true
}

// keepHeard keeps, in a verification run again later (v), the assignment
// latency the run's own verification measured (old, nil: none): it is
// measured only from the commits heard while the run was sent, which a
// later verification cannot hear.
func keepHeard(old, v *loadtest.VerifyResult) *loadtest.VerifyResult {
	if old != nil && v.Assignment.Count == 0 && v.AssignmentUnheard == 0 {
		v.Assignment, v.AssignmentUnheard = old.Assignment, old.AssignmentUnheard
	}
	return v
}
