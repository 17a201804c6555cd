package scheduler_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/db"
	"github.com/wagw/wagw/db/dbtest"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/scheduler"
	"github.com/wagw/wagw/wagwtest"
)

// storePublisher applies what the drainer publishes straight to the store,
// as the consumer would after reading it from the contact's partition.
type storePublisher struct{ store *db.Store }

func (p storePublisher) Publish(ctx context.Context, events []event.Envelope) error {
	return p.store.Apply(ctx, events, time.Now())
}

// The queue drainer rides out a Postgres outage: it backs off, reports
// itself unhealthy, logs the outage once (not once per retry), and works
// again by itself once Postgres is back.
func TestDrainerRidesOutPostgresOutage(t *testing.T) {
	t.Parallel()
	_, dsn := dbtest.New(t)
	proxy, url := dbtest.ProxyURL(t, dsn)
	conn, err := db.Open(context.Background(), db.Config{URL: url, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	store := db.NewStore(conn)
	var logs wagwtest.SyncBuffer
	var calls, failures int
	var mu sync.Mutex
	candidates := func(ctx context.Context, limit int, now time.Time) ([]scheduler.QueueRef, error) {
		_, err := store.DrainCandidates(ctx, limit, now)
		mu.Lock()
		calls++
		if err != nil {
			failures++
		}
		mu.Unlock()
		return nil, err
	}
	d := scheduler.NewDrainer(scheduler.DrainerConfig{Interval: 200 * time.Millisecond, RetryMin: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: prometheus.NewRegistry()}, candidates, storePublisher{store})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	proxy.Cut()
	wagwtest.WaitFor(t, 10*time.Second, "several failed tries while Postgres is cut", func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return failures >= 5 && d.Health() != nil, fmt.Sprintf("%d failures, health %v", failures, d.Health())
	})
	select {
	case err := <-done:
		t.Fatalf("drainer Run returned %v during the outage", err)
	default:
	}
	proxy.Restore()
	wagwtest.WaitFor(t, 10*time.Second, "drainer healthy again", func() (bool, string) {
		return d.Health() == nil, fmt.Sprint(d.Health())
	})
	mu.Lock()
	n := failures
	mu.Unlock()
	if warns := strings.Count(logs.String(), "level=WARN"); warns != 1 {
		t.Errorf("%d warnings for one outage of %d failed tries, want 1:\n%s", warns, n, logs.String())
	}
	if !strings.Contains(logs.String(), "postgres calls work again") {
		t.Errorf("the end of the outage was not logged:\n%s", logs.String())
	}
}
