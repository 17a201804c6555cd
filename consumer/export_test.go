package consumer

import "context"

// Lag exposes the stall watchdog's measure to the tests.
func (c *Consumer) Lag(ctx context.Context) (int64, error) { return c.lag(ctx) }
