package gateway_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wagw/wagw/gateway"
)

// keptConn is a client connection that sent one keep-alive request and
// read its answer: the server holds it open.
func keptConn(t *testing.T, addr string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: wagw\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, r, resp.StatusCode
}

// TestLimitConnectionsRefusesBeyondMax: with 2 connections held open and
// a cap of 2, a third client that sends a 32 KiB webhook gets the whole
// 503 answer with Retry-After and the overloaded error (not a reset), and
// the connection ends; once one of the two closes, a new connection is
// served again.
func TestLimitConnectionsRefusesBeyondMax(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	limited := gateway.LimitConnections(ln, gateway.ConnLimits{Max: 2}, reg)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/ping", func(c *fiber.Ctx) error { return c.SendString("pong") })
	go func() { _ = app.Listener(limited) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	addr := ln.Addr().String()

	first, _, code1 := keptConn(t, addr)
	_, _, code2 := keptConn(t, addr)
	if code1 != 200 || code2 != 200 {
		t.Fatalf("held connections answered %d and %d, want 200", code1, code2)
	}

	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	body := strings.Repeat("x", 32<<10)
	if _, err := io.WriteString(c, "POST /webhook HTTP/1.1\r\nHost: wagw\r\nContent-Type: application/json\r\nContent-Length: 32768\r\n\r\n"+body); err != nil {
		t.Fatalf("writing the refused request: %v", err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the refusal's body: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!json.Valid(got) || !strings.Contains(string(got), `"code":"overloaded"`) {
		t.Fatalf("refusal: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), got)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the refusal: read %d, %v; want the connection closed (EOF)", n, err)
	}
	if v := gathered(t, reg, "wagw_http_connections_refused_total"); v != 1 {
		t.Fatalf("wagw_http_connections_refused_total = %v, want 1", v)
	}

	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for gathered(t, reg, "wagw_http_connections") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection's slot was never given back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, _, code := keptConn(t, addr); code != 200 {
		t.Fatalf("after a slot freed: %d, want 200", code)
	}
}

// serveLimited serves GET /ping, POST /echo and what routes adds behind
// LimitConnections(lim) on a loopback port; it returns the address and
// the registry of the listener's metrics.
func serveLimited(t *testing.T, lim gateway.ConnLimits, routes func(*fiber.App)) (string, *prometheus.Registry) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/ping", func(c *fiber.Ctx) error { return c.SendString("pong") })
	app.Post("/echo", func(c *fiber.Ctx) error { return c.Send(c.Body()) })
	if routes != nil {
		routes(app)
	}
	go func() { _ = app.Listener(gateway.LimitConnections(ln, lim, reg)) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String(), reg
}

// TestLimitConnectionsEvictsSilent: with the cap reached, a new connection
// takes the slot of the oldest connection that has sent nothing since it
// was accepted, once that one is IdleEvict old, and that one is answered
// 503 with Retry-After, even when its client sends its request after
// all; a connection that has
// sent a byte (one kept alive after its answer, one in the middle of a
// request) is never closed for another, and with no silent one old
// enough the new one is refused.
func TestLimitConnectionsEvictsSilent(t *testing.T) {
	const idle = time.Second
	addr, reg := serveLimited(t, gateway.ConnLimits{Max: 4, IdleEvict: idle}, nil)

	var silent []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second) // never sends a byte
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	kept, keptR, code := keptConn(t, addr) // one request, then nothing
	if code != 200 {
		t.Fatalf("kept connection: %d, want 200", code)
	}
	busy, err := net.DialTimeout("tcp", addr, 5*time.Second) // a request whose body is late
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "POST /echo HTTP/1.1\r\nHost: wagw\r\nContent-Length: 6\r\n\r\nabc")
	for gathered(t, reg, "wagw_http_connections") != 4 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(idle * 13 / 10)

	for i, old := range silent {
		if _, _, code := keptConn(t, addr); code != 200 {
			t.Fatalf("new connection %d at the cap: %d, want 200 in a silent one's slot", i+1, code)
		}
		if i == 1 { // its client sends its request at last: it reads the answer, not a reset
			io.WriteString(old, "POST /echo HTTP/1.1\r\nHost: wagw\r\nContent-Length: 32768\r\n\r\n"+strings.Repeat("x", 32<<10))
		}
		takenAnswer(t, fmt.Sprintf("silent connection %d after a new one took its slot", i+1), old, bufio.NewReader(old))
	}
	// Left: the kept one, idle for over IdleEvict, the one mid-request
	// and the two new ones: no room.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: wagw\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a connection with no silent one to replace: %v %v, want 503", resp, err)
	}
	io.WriteString(kept, "GET /ping HTTP/1.1\r\nHost: wagw\r\n\r\n")
	if resp, err := http.ReadResponse(keptR, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the kept-alive connection's next request at the cap: %v %v, want 200", resp, err)
	}
	io.WriteString(busy, "def")
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the request in progress at the cap: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(got) != "abcdef" {
		t.Errorf("the request in progress at the cap: %d %q, want 200 abcdef", resp.StatusCode, got)
	}
	if e, r := gathered(t, reg, "wagw_http_connections_evicted_total"), gathered(t, reg, "wagw_http_connections_refused_total"); e != 2 || r != 1 {
		t.Errorf("evicted %v and refused %v, want 2 and 1", e, r)
	}
	if n := gathered(t, reg, "wagw_http_connections"); n != 4 {
		t.Errorf("wagw_http_connections = %v, want 4", n)
	}
}

// TestLimitConnectionsEvictsStalled: with the cap reached and no silent
// connection, a new connection takes the slot of the connection whose
// request began longest ago and still waits for its client's bytes, once
// that request is StalledEvict old (a client trickling its request a
// byte at a time); a connection whose request is being answered, or that
// waits between requests, is never closed for another.
func TestLimitConnectionsEvictsStalled(t *testing.T) {
	const stall = 500 * time.Millisecond
	addr, reg := serveLimited(t, gateway.ConnLimits{Max: 4, StalledEvict: stall}, func(app *fiber.App) {
		app.Get("/slow", func(c *fiber.Ctx) error {
			time.Sleep(4 * stall)
			return c.SendString("done")
		})
	})
	dial := func(req string) net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		io.WriteString(c, req)
		return c
	}

	kept, keptR, code := keptConn(t, addr) // one request, then nothing
	if code != 200 {
		t.Fatalf("kept connection: %d, want 200", code)
	}
	slow := dial("GET /slow HTTP/1.1\r\nHost: wagw\r\n\r\n") // being answered
	first := dial("POST /echo HTTP/1.1\r\nHost: wagw\r\nContent-Length: 6\r\n\r\nabc")
	time.Sleep(100 * time.Millisecond)
	second := dial("POST /echo HTTP/1.1\r\nHost: wagw\r\nContent-Length: 6\r\n\r\nab")
	for gathered(t, reg, "wagw_http_connections") != 4 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(stall * 13 / 10)

	for i, old := range []net.Conn{first, second} {
		if _, _, code := keptConn(t, addr); code != 200 {
			t.Fatalf("new connection %d at the cap: %d, want 200 in a stalled one's slot", i+1, code)
		}
		takenAnswer(t, fmt.Sprintf("stalled connection %d after a new one took its slot", i+1), old, bufio.NewReader(old))
		if i == 0 {
			_ = second.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := second.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("the later stalled request while the earlier one was taken: %v, want it still open", err)
			}
		}
	}
	// Left: the kept one, the one being answered and the two new ones.
	c := dial("GET /ping HTTP/1.1\r\nHost: wagw\r\n\r\n")
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a connection with no stalled one to replace: %v %v, want 503", resp, err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(slow), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the request being answered at the cap: %v %v, want 200", resp, err)
	}
	io.WriteString(kept, "GET /ping HTTP/1.1\r\nHost: wagw\r\n\r\n")
	if resp, err := http.ReadResponse(keptR, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the kept-alive connection's next request at the cap: %v %v, want 200", resp, err)
	}
	if e, r := gathered(t, reg, "wagw_http_connections_evicted_total"), gathered(t, reg, "wagw_http_connections_refused_total"); e != 2 || r != 1 {
		t.Errorf("evicted %v and refused %v, want 2 and 1", e, r)
	}
}

// TestLimitConnectionsEvictsStalledAfterContinue: a request that asked to
// go on (Expect: 100-continue), was told to and then sends nothing of its
// body is still arriving: at the cap its slot is taken once the request
// is StalledEvict old, as any other request that stalled; the 100
// Continue is no answer to it.
func TestLimitConnectionsEvictsStalledAfterContinue(t *testing.T) {
	const stall = 300 * time.Millisecond
	addr, reg := serveLimited(t, gateway.ConnLimits{Max: 2, StalledEvict: stall}, nil)

	kept, keptR, code := keptConn(t, addr) // one request, then nothing
	if code != 200 {
		t.Fatalf("kept connection: %d, want 200", code)
	}
	asked, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer asked.Close()
	_ = asked.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(asked, "POST /echo HTTP/1.1\r\nHost: wagw\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n")
	askedR := bufio.NewReader(asked)
	if line, err := askedR.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("a request with Expect: 100-continue: %q %v, want 100 Continue", line, err)
	}
	if _, err := askedR.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	for gathered(t, reg, "wagw_http_connections") != 2 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(stall * 13 / 10)

	if _, _, code := keptConn(t, addr); code != 200 {
		t.Fatalf("a new connection at the cap: %d, want 200 in the slot of the request whose body never came", code)
	}
	takenAnswer(t, "the request whose body never came after a new connection took its slot", asked, askedR)
	io.WriteString(kept, "GET /ping HTTP/1.1\r\nHost: wagw\r\n\r\n")
	if resp, err := http.ReadResponse(keptR, nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("the kept-alive connection's next request at the cap: %v %v, want 200", resp, err)
	}
	if e := gathered(t, reg, "wagw_http_connections_evicted_total"); e != 1 {
		t.Errorf("evicted %v, want 1", e)
	}
}

// takenAnswer reads, from c (read through r), the whole 503 with
// Retry-After of a connection whose slot a new one took, and then the
// end of the connection.
func takenAnswer(t *testing.T, what string, c net.Conn, r *bufio.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Errorf("%s: %v; want a 503 with Retry-After", what, err)
		return
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(string(got), `"code":"overloaded"`) {
		t.Errorf("%s: %d Retry-After %q %s %v; want 503 with Retry-After 1", what, resp.StatusCode, resp.Header.Get("Retry-After"), got, err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("%s, after its answer: read %d, %v; want it closed (EOF)", what, n, err)
	}
}

// gathered is the value of reg's metric name (a gauge or a counter).
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestFirstRequestWithinReadTimeoutOfAccept: behind LimitConnections, a
// connection whose first byte comes late is answered 408 within the read
// timeout of its accept, not of that byte (the server gives a
// connection's buffers back between requests, and its own timeout then
// runs from the first byte); a kept-alive connection's later request
// still has the whole timeout from its first byte.
func TestFirstRequestWithinReadTimeoutOfAccept(t *testing.T) {
	const timeout = time.Second
	e := newEnv(t, func(c *gateway.Config) { c.ReadTimeout = timeout })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = e.app.Listener(gateway.LimitConnections(ln, gateway.ConnLimits{Max: 16, FirstRequest: timeout}, nil))
	}()
	t.Cleanup(func() { _ = e.app.ShutdownWithTimeout(time.Second) })
	addr := ln.Addr().String()

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opened := time.Now()
	time.Sleep(timeout * 8 / 10)
	fmt.Fprintf(c, "POST /webhook HTTP/1.1\r\nHost: wagw\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat(" ", 20000))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c)
	if took := time.Since(opened); !strings.HasPrefix(string(got), "HTTP/1.1 408") || took > timeout*3/2 {
		t.Errorf("a first request begun %v after the accept: %q after %v, want 408 within %v of the accept",
			timeout*8/10, short(string(got)), took.Round(10*time.Millisecond), timeout)
	}

	kept, r, code := keptConn(t, addr) // answered at once: the bound is lifted
	if code != http.StatusNotFound {
		t.Fatalf("GET /ping: %d, want 404", code)
	}
	time.Sleep(timeout * 12 / 10)
	io.WriteString(kept, "GET /healthz HTTP/1.1\r\nHost: wagw\r\n")
	time.Sleep(timeout * 6 / 10)
	io.WriteString(kept, "\r\n")
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("a kept-alive connection's second request, sent over %v: %v", timeout*6/10, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a kept-alive connection's second request: %d, want 200", resp.StatusCode)
	}
}
