package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// role is one part of a running command (the embedded broker, the
// database, the consumer, the gateway's HTTP server…). start brings it up
// and returns how to stop it; a nil stop means there is nothing to stop.
type role struct {
	name  string
	start func(ctx context.Context) (stop func(context.Context) error, err error)
}

// supervise starts roles in order and runs until ctx ends or a role fails
// (reports on failed); then it stops the started roles in reverse order,
// each after the ones that depend on it. It returns the first error: of a
// start, of a role that failed while running, or of a stop.
func supervise(ctx context.Context, roles []role, failed <-chan error, log *slog.Logger) error {
	type running struct {
		name string
		stop func(context.Context) error
	}
	var started []running
	err := func() error {
		for _, r := range roles {
			stop, err := r.start(ctx)
			if err != nil {
				return err
			}
			if stop != nil {
				started = append(started, running{r.name, stop})
			}
		}
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return nil
		case err := <-failed:
			return err
		}
	}()
	stopCtx := context.WithoutCancel(ctx)
	for i := len(started) - 1; i >= 0; i-- {
		if serr := started[i].stop(stopCtx); serr != nil && err == nil {
			err = fmt.Errorf("stop %s: %w", started[i].name, serr)
		}
	}
	return err
}

// failures keeps the first error of a role that stopped on its own.
type failures chan error

func newFailures() failures { return make(failures, 1) }

// report hands err to the supervisor unless another role failed first.
func (f failures) report(err error) {
	select {
	case f <- err:
	default:
	}
}

// background runs run in a goroutine; halt makes it return. A run that
// returns before its stop was called, with an error or without, ends the
// process (reported on f). The returned stop calls halt and waits for run,
// and returns the first error of the two.
func (f failures) background(name string, run func() error, halt func() error) func(context.Context) error {
	var halting atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := run()
		if !halting.Load() {
			if err == nil {
				err = errors.New("stopped by itself")
			}
			f.report(fmt.Errorf("%s: %w", name, err))
			err = nil
		}
		done <- err
	}()
	return func(ctx context.Context) error {
		halting.Store(true)
		herr := halt()
		select {
		case err := <-done:
			if herr != nil {
				return herr
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// loop runs a role's loop under a context of its own, which its stop
// cancels: the loop outlives ctx's cancellation until the supervisor
// stops it in its turn.
func (f failures) loop(ctx context.Context, name string, run func(context.Context) error) func(context.Context) error {
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return f.background(name, func() error {
		err := run(lctx)
		if lctx.Err() != nil && errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}, func() error { cancel(); return nil })
}
