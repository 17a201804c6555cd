package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

// WAGW_CONSUMER_WORKERS=0 leaves the consumer out of serve (the topic fills
// up, for a replay), and the consumer command refuses it.
func TestNoConsumerWorkers(t *testing.T) {
	env := map[string]string{"WAGW_CONSUMER_WORKERS": "0", "KAFKA_BROKERS": "127.0.0.1:1", "WA_ACCESS_TOKEN": "t"}
	cfg, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || cfg.ConsumerWorkers != 0 {
		t.Fatalf("config: workers %d, err %v", cfg.ConsumerWorkers, err)
	}
	names := func(p *process) []string {
		var out []string
		for _, r := range p.roles() {
			out = append(out, r.name)
		}
		return out
	}
	serve := &process{cmd: "serve", cfg: cfg}
	if got := names(serve); slices.Contains(got, "consumer") || !slices.Contains(got, "gateway") || !slices.Contains(got, "relay") {
		t.Errorf("serve with 0 workers runs %v: want every role but the consumer", got)
	}
	cfg.ConsumerWorkers = 2
	if got := names(&process{cmd: "serve", cfg: cfg}); !slices.Contains(got, "consumer") {
		t.Errorf("serve with 2 workers runs %v: want the consumer", got)
	}
	cfg.ConsumerWorkers = 0
	if err := (&process{cmd: "consumer", cfg: cfg}).prepare(); err == nil || !strings.Contains(err.Error(), "WAGW_CONSUMER_WORKERS") {
		t.Errorf("consumer with 0 workers: %v, want a refusal naming WAGW_CONSUMER_WORKERS", err)
	}
	env["WAGW_CONSUMER_WORKERS"] = "-1"
	if _, err := loadConfig("serve", nil, func(k string) string { return env[k] }, io.Discard); err == nil {
		t.Error("WAGW_CONSUMER_WORKERS=-1 accepted")
	}
}
