package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// trace records the starts and stops of test roles.
type trace struct{ events []string }

func (tr *trace) role(name string, startErr error) role {
	return role{name: name, start: func(context.Context) (func(context.Context) error, error) {
		if startErr != nil {
			return nil, startErr
		}
		tr.events = append(tr.events, "start "+name)
		return func(context.Context) error {
			tr.events = append(tr.events, "stop "+name)
			return nil
		}, nil
	}}
}

// TestSuperviseStopsInReverseOrder: roles start in order and, when the
// context ends, stop in the reverse order; run returns nil.
func TestSuperviseStopsInReverseOrder(t *testing.T) {
	var tr trace
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := supervise(ctx, []role{tr.role("kafka", nil), tr.role("database", nil), tr.role("http", nil)}, newFailures(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"start kafka", "start database", "start http", "stop http", "stop database", "stop kafka"}
	if !slices.Equal(tr.events, want) {
		t.Errorf("events %v, want %v", tr.events, want)
	}
}

// TestSuperviseStartFailure: a role that cannot start ends the command
// with its error, after the roles started before it are stopped.
func TestSuperviseStartFailure(t *testing.T) {
	var tr trace
	boom := errors.New("listen: address in use")
	err := supervise(context.Background(), []role{tr.role("kafka", nil), tr.role("http", boom), tr.role("never", nil)}, newFailures(), slog.New(slog.DiscardHandler))
	if !errors.Is(err, boom) {
		t.Fatalf("supervise = %v, want %v", err, boom)
	}
	want := []string{"start kafka", "stop kafka"}
	if !slices.Equal(tr.events, want) {
		t.Errorf("events %v, want %v", tr.events, want)
	}
}

// TestSuperviseRoleRunError: a role whose loop returns an error while
// running ends the command with that error; a loop that returns nothing
// when stopped does not.
func TestSuperviseRoleRunError(t *testing.T) {
	f := newFailures()
	boom := errors.New("lost the partition")
	stopped := make(chan struct{})
	roles := []role{
		{name: "quiet", start: func(ctx context.Context) (func(context.Context) error, error) {
			return f.loop(ctx, "quiet", func(ctx context.Context) error {
				<-ctx.Done()
				close(stopped)
				return ctx.Err()
			}), nil
		}},
		{name: "drainer", start: func(ctx context.Context) (func(context.Context) error, error) {
			return f.loop(ctx, "drainer", func(context.Context) error {
				time.Sleep(10 * time.Millisecond)
				return boom
			}), nil
		}},
	}
	err := supervise(context.Background(), roles, f, slog.New(slog.DiscardHandler))
	if !errors.Is(err, boom) || err.Error() != "drainer: lost the partition" {
		t.Fatalf("supervise = %v, want drainer: %v", err, boom)
	}
	select {
	case <-stopped:
	default:
		t.Error("the other role was not stopped")
	}
}

// TestSuperviseRoleEndsByItself: a loop that returns nil while nobody
// stopped it ends the command too.
func TestSuperviseRoleEndsByItself(t *testing.T) {
	f := newFailures()
	roles := []role{{name: "relay", start: func(ctx context.Context) (func(context.Context) error, error) {
		return f.loop(ctx, "relay", func(context.Context) error { return nil }), nil
	}}}
	err := supervise(context.Background(), roles, f, slog.New(slog.DiscardHandler))
	if err == nil || err.Error() != "relay: stopped by itself" {
		t.Fatalf("supervise = %v, want relay: stopped by itself", err)
	}
}
