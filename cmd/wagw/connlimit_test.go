package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeCapsConnections: serve with WAGW_HTTP_MAX_CONNS=3. Of four
// connections held open (the readiness check may hold one more), the
// first is served and at least one is answered 503 with Retry-After.
func TestServeCapsConnections(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	env["WAGW_HTTP_MAX_CONNS"] = "3"
	startServe(t, env)

	codes := map[int]int{}
	for i := range 4 {
		c, err := net.DialTimeout("tcp", env["WAGW_HTTP_ADDR"], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: wagw\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("connection %d: 503 without Retry-After: 1", i)
		}
		if i == 0 && resp.StatusCode != http.StatusOK {
			t.Fatalf("first connection: %d, want 200", resp.StatusCode)
		}
		codes[resp.StatusCode]++
	}
	if codes[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("answers %v: no connection refused with WAGW_HTTP_MAX_CONNS=3", codes)
	}
}
