package gateway

import (
	"io"
	"net"
	"testing"
	"time"
)

// lateConn is a connection whose Read waits for what the test hands it
// and returns it even once the connection is closed: the bytes had
// arrived, and the read returned them, just as the connection was closed.
type lateConn struct {
	net.Conn             // nil: only what is below is called
	data     chan []byte // closed: the client closed
	closed   chan struct{}
	written  chan string
}

func newLateConn() *lateConn {
	return &lateConn{data: make(chan []byte, 1), closed: make(chan struct{}), written: make(chan string, 1)}
}

func (c *lateConn) Read(p []byte) (int, error) {
	b, ok := <-c.data
	if !ok {
		return 0, io.EOF
	}
	return copy(p, b), nil
}
func (c *lateConn) Write(p []byte) (int, error)      { c.written <- string(p); return len(p), nil }
func (c *lateConn) SetReadDeadline(time.Time) error  { return nil }
func (c *lateConn) SetWriteDeadline(time.Time) error { return nil }
func (c *lateConn) SetDeadline(time.Time) error      { return nil }
func (c *lateConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *lateConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *lateConn) Close() error                     { close(c.closed); return nil }
func (c *lateConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// connsListener accepts the connections sent on its channel.
type connsListener struct {
	net.Listener // nil: only Accept is called
	conns        chan net.Conn
}

func (l connsListener) Accept() (net.Conn, error) { return <-l.conns, nil }

// TestTakenConnectionReadsNoMore: a connection whose slot a new one takes
// while it waits in Read is answered 503 and closed, and what that Read
// then returns (its client's bytes arrived as it was taken) is not handed
// to the server:
// the Read fails, so the server never serves a request on a connection it
// no longer holds (whose answer the client could never get, while what
// the request does would be done). For a silent connection (IdleEvict)
// and for a stalled request (StalledEvict).
func TestTakenConnectionReadsNoMore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lim   ConnLimits
		begun bool // the request's first bytes were read before
	}{
		{"silent", ConnLimits{Max: 1, IdleEvict: time.Millisecond}, false},
		{"stalled", ConnLimits{Max: 1, StalledEvict: time.Millisecond}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := connsListener{conns: make(chan net.Conn, 1)}
			l := LimitConnections(ln, tc.lim, nil)
			victim := newLateConn()
			ln.conns <- victim
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if tc.begun {
				victim.data <- []byte("POST /webhook HTTP/1.1\r\n")
				if _, err := c.Read(make([]byte, 4096)); err != nil {
					t.Fatal(err)
				}
			}
			type read struct {
				n   int
				err error
			}
			got := make(chan read, 1)
			go func() {
				n, err := c.Read(make([]byte, 4096))
				got <- read{n, err}
			}()
			time.Sleep(100 * time.Millisecond) // the Read waits, and the connection is old enough

			ln.conns <- newLateConn()
			if _, err := l.Accept(); err != nil {
				t.Fatal(err)
			}
			select {
			case w := <-victim.written:
				if w != refusedAnswer {
					t.Fatalf("the taken connection was written %q, want the 503 of a refused one", w)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the new connection did not take the waiting one's slot: it was not answered")
			}
			victim.data <- []byte("Host: wagw\r\n\r\n")
			if r := <-got; r.err == nil {
				t.Errorf("the Read of a connection taken while it waited: %d bytes and no error, want it to fail", r.n)
			}
			closed := make(chan error, 1)
			go func() { closed <- c.Close() }() // as the server does when its Read fails
			close(victim.data)                  // the client closes once answered
			<-closed
			for deadline := time.Now().Add(5 * time.Second); !victim.isClosed(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the taken connection was never closed")
				}
			}
		})
	}
}
