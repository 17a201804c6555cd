package gateway

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConns is how many connections the HTTP listener keeps open at
// once unless configured (WAGW_HTTP_MAX_CONNS).
const DefaultMaxConns = 4096

// Each open connection costs the server its buffers and a goroutine (serve
// reached 587 and 638 MB of RSS while a load generator held up to 20,000
// connections: about 30 KB each), so their number is capped: a connection beyond the cap is answered at once, before
// a byte of it is read, with the same 503 and Retry-After as a webhook shed
// for want of room, and closed.
const (
	// refusedAnswer is the whole answer to a connection beyond the cap.
	refusedAnswer = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n" +
		"Content-Type: application/json\r\nContent-Length: 77\r\nConnection: close\r\n\r\n" +
		`{"error":{"code":"overloaded","message":"too many connections; retry later"}}`
	// refusedDrains bounds the refused connections read to their end at
	// once; beyond it a refused connection is closed at once.
	refusedDrains = 64
	// refusedLinger bounds how long a refused connection is read.
	refusedLinger = time.Second
	// refusedReadMax bounds what is read of a refused connection.
	refusedReadMax = 64 << 10
)

// LimitConnections returns ln with at most max connections open at once
// (DefaultMaxConns when max ≤ 0); wagw_http_connections counts them and
// wagw_http_connections_refused_total those answered 503 for want of room.
// A connection's first request must arrive whole within firstRequest of
// its accept (none when 0): the server's read timeout runs from a
// request's first byte once it gives its buffers back between requests
// (fasthttp's ReduceMemoryUsage), which would let a client that sends its
// first byte late hold a slot for twice the timeout.
func LimitConnections(ln net.Listener, max int, firstRequest time.Duration, reg prometheus.Registerer) net.Listener {
	if max <= 0 {
		max = DefaultMaxConns
	}
	l := &connLimiter{Listener: ln, firstRequest: firstRequest, slots: make(chan struct{}, max), drains: make(chan struct{}, refusedDrains),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wagw_http_connections",
			Help: "HTTP connections open (at most WAGW_HTTP_MAX_CONNS)."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_http_connections_refused_total",
			Help: "HTTP connections answered 503 with Retry-After at once because WAGW_HTTP_MAX_CONNS were open."})}
	if reg != nil {
		reg.MustRegister(l.open, l.refused)
	}
	return l
}

type connLimiter struct {
	net.Listener
	firstRequest time.Duration
	slots        chan struct{} // one per open connection
	drains       chan struct{} // one per refused connection being read
	open         prometheus.Gauge
	refused      prometheus.Counter
}

// Accept returns the next connection there is room for, refusing the
// others as they come.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.open.Inc()
			lc := &limitedConn{Conn: c, l: l}
			if l.firstRequest > 0 {
				lc.first.Store(time.Now().Add(l.firstRequest).UnixNano())
			}
			return lc, nil
		default:
			l.refused.Inc()
			go l.refuse(c) // the next Accept does not wait for it
		}
	}
}

// refuse answers c 503 and closes it. Closing a socket with unread bytes
// resets it, and a client may then lose the answer, so c's write side is
// shut first and, while fewer than refusedDrains are, what the client
// sends is read and dropped until it closes (at most refusedReadMax
// bytes, refusedLinger).
func (l *connLimiter) refuse(c net.Conn) {
	deadline := time.Now().Add(refusedLinger)
	_ = c.SetDeadline(deadline)
	if _, err := io.WriteString(c, refusedAnswer); err != nil {
		c.Close()
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	select {
	case l.drains <- struct{}{}:
		go func() {
			defer func() { <-l.drains }()
			_, _ = io.CopyN(io.Discard, c, refusedReadMax)
			c.Close()
		}()
	default:
		c.Close()
	}
}

// limitedConn gives its slot back when it is first closed, and keeps its
// read deadline within the first request's until it first writes (an
// answer, or the 100 Continue of a request that expects one).
type limitedConn struct {
	net.Conn
	l     *connLimiter
	once  sync.Once
	first atomic.Int64 // the first request's deadline in Unix ns; 0 once written to, or none
}

func (c *limitedConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.withinFirst(t))
}

func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.withinFirst(t))
}

// withinFirst is t, or the first request's deadline when that is sooner
// (a zero t is no deadline).
func (c *limitedConn) withinFirst(t time.Time) time.Time {
	if first := c.first.Load(); first != 0 && (t.IsZero() || t.UnixNano() > first) {
		return time.Unix(0, first)
	}
	return t
}

func (c *limitedConn) Write(p []byte) (int, error) {
	if c.first.Load() != 0 {
		c.first.Store(0)
	}
	return c.Conn.Write(p)
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		<-c.l.slots
		c.l.open.Dec()
	})
	return err
}
