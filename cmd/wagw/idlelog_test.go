package main

import (
	"bytes"
	"log"
	"testing"
)

// The load run's logger drops and counts Go's client lines about answers
// on idle connections, and passes every other line through.
func TestIdleAnswersCountsTheClientsUnsolicitedLines(t *testing.T) {
	var out bytes.Buffer
	idle := &idleAnswers{w: &out}
	l := log.New(idle, "", 0)
	for range 3 {
		l.Printf("Unsolicited response received on idle HTTP channel starting with %q; err=%v", "HTTP/1.1 503 Service Unavailable\r\n", nil)
	}
	l.Printf("something else")
	if got := idle.n.Load(); got != 3 {
		t.Errorf("counted %d, want 3", got)
	}
	if out.String() != "something else\n" {
		t.Errorf("passed through %q, want only the other line", out.String())
	}
}
