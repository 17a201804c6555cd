package main

import (
	"math"
	"runtime/debug"
	"slices"
)

// Go's soft memory limit for the long-running commands. Without one the
// heap may grow to twice what was live at the last collection, and under
// overload most of what is live is the HTTP connections': a goroutine's
// stack and buffers each, with every connection busy. With the limit the
// collector runs sooner as the process nears it, instead of letting the
// heap double. The default follows the connection cap, so raising
// WAGW_HTTP_MAX_CONNS raises it too.
const (
	// memoryBase is the default limit's share for all but the
	// connections: the broker, the consumer's batches, the pools.
	memoryBase = 128 << 20
	// memoryPerConn is its share for each connection of
	// WAGW_HTTP_MAX_CONNS.
	memoryPerConn = 32 << 10
)

// memoryLimit is the soft memory limit in bytes: WAGW_MEMORY_LIMIT, by
// default memoryBase plus memoryPerConn for each connection the HTTP
// listener may keep open; -1 for none.
func (c config) memoryLimit() int64 {
	if c.MemoryLimit != 0 {
		return c.MemoryLimit
	}
	if int64(c.HTTPMaxConns) > (math.MaxInt64-memoryBase)/memoryPerConn {
		return -1 // a cap beyond any memory: no limit either
	}
	return memoryBase + memoryPerConn*int64(c.HTTPMaxConns)
}

// setMemoryLimit gives the runtime the soft memory limit of a
// long-running command (serve, gateway, consumer, relay) and returns it,
// or math.MaxInt64 when it sets none: for other commands, when GOMEMLIMIT
// is set (the runtime has read it already), with WAGW_MEMORY_LIMIT=-1,
// or when the configuration is malformed (run reports that).
func setMemoryLimit(args []string, getenv func(string) string) int64 {
	if len(args) == 0 || !slices.Contains([]string{"serve", "gateway", "consumer", "relay"}, args[0]) || getenv("GOMEMLIMIT") != "" {
		return math.MaxInt64
	}
	cfg, err := configFromEnv(getenv)
	if err != nil {
		return math.MaxInt64
	}
	limit := cfg.memoryLimit()
	if limit < 0 {
		return math.MaxInt64
	}
	debug.SetMemoryLimit(limit)
	return limit
}
