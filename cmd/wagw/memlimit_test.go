package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestMemoryLimit: the long-running commands set Go's soft memory limit,
// by default from the connection cap; WAGW_MEMORY_LIMIT overrides it and
// -1 turns it off; GOMEMLIMIT wins; other commands and a malformed
// configuration leave the runtime's limit alone.
func TestMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	const unset = math.MaxInt64
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want int64
	}{
		{"serve, defaults", []string{"serve"}, nil, 256 << 20},
		{"gateway with 20,000 connections", []string{"gateway"}, map[string]string{"WAGW_HTTP_MAX_CONNS": "20000"}, 128<<20 + 20000*32<<10},
		{"consumer, set", []string{"consumer", "-h"}, map[string]string{"WAGW_MEMORY_LIMIT": "536870912"}, 512 << 20},
		{"relay, off", []string{"relay"}, map[string]string{"WAGW_MEMORY_LIMIT": "-1"}, unset},
		{"GOMEMLIMIT wins", []string{"serve"}, map[string]string{"GOMEMLIMIT": "1GiB", "WAGW_MEMORY_LIMIT": "536870912"}, unset},
		{"a cap beyond any memory", []string{"serve"}, map[string]string{"WAGW_HTTP_MAX_CONNS": "281474976710656"}, unset},
		{"loadtest", []string{"loadtest", "run"}, nil, unset},
		{"no command", nil, nil, unset},
		{"malformed", []string{"serve"}, map[string]string{"WAGW_MEMORY_LIMIT": "256MiB"}, unset},
		{"too small", []string{"serve"}, map[string]string{"WAGW_MEMORY_LIMIT": "1000"}, unset},
	}
	for _, c := range cases {
		debug.SetMemoryLimit(unset)
		got := setMemoryLimit(c.args, func(k string) string { return c.env[k] })
		if got != c.want {
			t.Errorf("%s: setMemoryLimit = %d, want %d", c.name, got, c.want)
		}
		if now := debug.SetMemoryLimit(-1); now != c.want {
			t.Errorf("%s: the runtime's limit is %d, want %d", c.name, now, c.want)
		}
	}
	if _, err := configOf("serve", map[string]string{"WAGW_MEMORY_LIMIT": "256MiB"}); err == nil {
		t.Error("WAGW_MEMORY_LIMIT=256MiB was taken; want an error naming it (bytes, as the other sizes)")
	}
}
