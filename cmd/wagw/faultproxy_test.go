package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proxyMode is what a faultProxy does with the traffic between a role and
// one of its dependencies.
type proxyMode int

const (
	// proxyPass forwards every byte both ways.
	proxyPass proxyMode = iota
	// proxyCut closes every connection (FIN) and every new one at once:
	// the dependency is gone, as when its host refuses connections.
	proxyCut
	// proxyReset aborts every connection and every new one with a TCP
	// reset (RST), as a crashed peer or a middlebox does.
	proxyReset
	// proxyBlackhole forwards nothing and answers nothing: bytes wait (as
	// TCP retransmits them) until the mode changes back to proxyPass, new
	// connections are accepted but reach the dependency only then. Clients
	// see nothing but their own timeouts.
	proxyBlackhole
)

func (m proxyMode) String() string {
	return [...]string{"pass", "cut", "reset", "blackhole"}[m]
}

// faultProxy is a TCP proxy between the roles and a dependency (Postgres,
// Kafka) that can cut, reset or blackhole the traffic on demand.
type faultProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  proxyMode
	open  chan struct{} // closed while the mode is proxyPass
	conns map[*proxyConn]struct{}
	wg    sync.WaitGroup
}

// proxyConn is one client connection and its upstream.
type proxyConn struct {
	client, upstream net.Conn
	once             sync.Once
	killed           chan struct{}
}

// newFaultProxy listens on a free loopback port and forwards to target
// until the test ends.
func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, open: make(chan struct{}), conns: map[*proxyConn]struct{}{}}
	close(p.open)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is where clients connect.
func (p *faultProxy) Addr() string { return p.ln.Addr().String() }

// set switches the mode; cut and reset end the connections that exist.
func (p *faultProxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.mode {
		return
	}
	was := p.mode
	p.mode = m
	switch {
	case m == proxyPass:
		close(p.open)
	case was == proxyPass:
		p.open = make(chan struct{})
	}
	if m == proxyCut || m == proxyReset {
		for c := range p.conns {
			c.kill(m == proxyReset)
		}
	}
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.kill(false)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		c := &proxyConn{client: conn, killed: make(chan struct{})}
		p.mu.Lock()
		mode := p.mode
		if mode == proxyCut || mode == proxyReset {
			p.mu.Unlock()
			c.kill(mode == proxyReset)
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// serve connects c upstream once traffic may pass and copies both ways.
func (p *faultProxy) serve(c *proxyConn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.kill(false)
	}()
	if !p.wait(c) {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	c.upstream = up
	p.mu.Unlock()
	select {
	case <-c.killed: // killed while dialling
		up.Close()
		return
	default:
	}
	done := make(chan struct{}, 2)
	go func() { p.pipe(c, up, c.client); done <- struct{}{} }()
	go func() { p.pipe(c, c.client, up); done <- struct{}{} }()
	<-done
	c.kill(false)
	<-done
}

// pipe copies src to dst, holding the bytes while the proxy blackholes.
func (p *faultProxy) pipe(c *proxyConn, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(c) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or an error: serve closes both sides
			return
		}
	}
}

// wait blocks while traffic may not pass; false when c was killed.
func (p *faultProxy) wait(c *proxyConn) bool {
	for {
		p.mu.Lock()
		open, mode := p.open, p.mode
		p.mu.Unlock()
		if mode == proxyCut || mode == proxyReset {
			return false
		}
		select {
		case <-open:
			return true
		case <-c.killed:
			return false
		}
	}
}

// kill closes both sides once; with reset, the client side gets an RST.
func (c *proxyConn) kill(reset bool) {
	c.once.Do(func() {
		close(c.killed)
		if tc, ok := c.client.(*net.TCPConn); ok && reset {
			tc.SetLinger(0)
		}
		c.client.Close()
		if c.upstream != nil {
			c.upstream.Close()
		}
	})
}

// TestFaultProxyModes: the proxy passes bytes, holds them in a blackhole
// until it passes again, resets and cuts connections old and new.
func TestFaultProxyModes(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	p := newFaultProxy(t, echo.Addr().String())
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	roundTrip := func(c net.Conn, msg string, wait time.Duration) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		return string(buf), err
	}
	c := dial()
	if got, err := roundTrip(c, "pass", time.Second); err != nil || got != "pass" {
		t.Fatalf("pass: %q %v", got, err)
	}
	p.set(proxyBlackhole)
	held := dial() // accepted, but reaches the target only after the blackhole
	if got, err := roundTrip(c, "hole", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blackhole answered: %q %v", got, err)
	}
	p.set(proxyPass)
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hole" {
		t.Fatalf("bytes held in the blackhole not delivered after it: %q %v", buf, err)
	}
	if got, err := roundTrip(held, "late", time.Second); err != nil || got != "late" {
		t.Fatalf("connection opened during the blackhole: %q %v", got, err)
	}
	// A refused connection: the dial itself may see the reset, or the
	// first read or write.
	refused := func(msg string) error {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = roundTrip(c, msg, time.Second)
		return err
	}
	p.set(proxyReset)
	if _, err := roundTrip(c, "x", time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset: existing connection got %v, want ECONNRESET", err)
	}
	if err := refused("x"); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reset: new connection got %v, want ECONNRESET", err)
	}
	p.set(proxyCut)
	if err := refused("x"); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("cut: new connection got %v, want it closed", err)
	}
	p.set(proxyPass)
	if got, err := roundTrip(dial(), "back", time.Second); err != nil || got != "back" {
		t.Fatalf("pass again: %q %v", got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
