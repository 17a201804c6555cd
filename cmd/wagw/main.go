// Command wagw is the WhatsApp Cloud API webhook gateway: `wagw serve` runs
// every role in one process; `gateway`, `consumer`, `relay`, `migrate`,
// `simulate` and `loadtest` run one role each.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wagw:", err)
		os.Exit(1)
	}
}
