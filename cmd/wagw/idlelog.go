package main

import (
	"bytes"
	"io"
	"sync/atomic"
)

// unsolicited is how Go's HTTP client logs an answer that arrived on a
// connection before it carried a request: wagw's connection cap answers
// 503 at once, and the load generator's client dials connections for its
// pool that it then keeps idle, so an overload run logs one line per such
// connection (about 100,000 in the bench's overload scenario).
const unsolicited = "Unsolicited response received on idle HTTP channel"

// idleAnswers is the standard logger's output during a load run: it
// counts and drops the client's unsolicited-answer lines, which the
// run's report sums up instead, and passes every other line to w.
type idleAnswers struct {
	w io.Writer
	n atomic.Int64
}

func (a *idleAnswers) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(unsolicited)) {
		a.n.Add(1)
		return len(p), nil
	}
	return a.w.Write(p)
}
