package gateway

import (
	"cmp"
	"container/list"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxConns is how many connections the HTTP listener keeps open at
// once unless configured (WAGW_HTTP_MAX_CONNS).
const DefaultMaxConns = 4096

// DefaultIdleEvict is how long a connection may stay silent after its
// accept before a new connection may take its slot while
// WAGW_HTTP_MAX_CONNS are open (ConnLimits.IdleEvict): a client sends its
// request as soon as it has connected.
const DefaultIdleEvict = time.Second

// DefaultStalledEvict is how long a request may have been arriving,
// waiting for its client's next bytes, before a new connection may take
// its slot while WAGW_HTTP_MAX_CONNS are open and no silent connection can
// be taken (ConnLimits.StalledEvict): Meta sends a webhook whole at once.
const DefaultStalledEvict = 2 * time.Second

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

// ConnLimits bounds the connections of a listener (LimitConnections).
type ConnLimits struct {
	// Max is how many connections are open at once (DefaultMaxConns when
	// ≤ 0).
	Max int
	// FirstRequest: a connection's first request must arrive whole within
	// it of its accept (none when 0). The server's read timeout runs from
	// a request's first byte once it gives its buffers back between
	// requests (fasthttp's ReduceMemoryUsage), which would let a client
	// that sends its first byte late hold a slot for twice the timeout.
	FirstRequest time.Duration
	// IdleEvict: with Max open, a new connection takes the slot of the
	// oldest connection that has sent nothing since it was accepted, when
	// that one is at least IdleEvict old (none when 0): connections opened
	// and left silent hold slots only while there is room, so they cannot
	// keep Meta out. A connection that has sent a byte is not taken by
	// this rule (only by StalledEvict's, while its request is still
	// arriving): its client may be sending its next request on it at that
	// moment, and would see a reset rather than an answer.
	IdleEvict time.Duration
	// StalledEvict: with Max open and no silent connection to take, a new
	// connection takes the slot of the connection whose request began
	// longest ago and is still arriving (the server waits for its
	// client's next bytes), when that request began at least StalledEvict
	// ago (none when 0): a client sending its requests a byte at a time
	// holds a slot only while there is room. A connection whose request
	// is being answered, or that waits between requests, is never taken.
	StalledEvict time.Duration
}

// LimitConnections returns ln with at most lim.Max connections open at
// once; wagw_http_connections counts them, wagw_http_connections_refused_total
// those answered 503 for want of room and wagw_http_connections_evicted_total
// the silent or stalled ones answered 503 and closed to make room (ConnLimits.IdleEvict,
// ConnLimits.StalledEvict).
func LimitConnections(ln net.Listener, lim ConnLimits, reg prometheus.Registerer) net.Listener {
	if lim.Max <= 0 {
		lim.Max = DefaultMaxConns
	}
	l := &connLimiter{Listener: ln, lim: lim, slots: make(chan struct{}, lim.Max), drains: make(chan struct{}, refusedDrains),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wagw_http_connections",
			Help: "HTTP connections open (at most WAGW_HTTP_MAX_CONNS)."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_http_connections_refused_total",
			Help: "HTTP connections answered 503 with Retry-After at once because WAGW_HTTP_MAX_CONNS were open."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_http_connections_evicted_total",
			Help: "HTTP connections that had sent nothing, or whose request had stalled arriving, answered 503 with Retry-After and closed to make room for a new one while WAGW_HTTP_MAX_CONNS were open."}),
		all: make(map[*limitedConn]struct{})}
	if reg != nil {
		reg.MustRegister(l.open, l.refused, l.evicted)
	}
	return l
}

type connLimiter struct {
	net.Listener
	lim     ConnLimits
	slots   chan struct{} // one per open connection
	drains  chan struct{} // one per refused connection being read
	open    prometheus.Gauge
	refused prometheus.Counter
	evicted prometheus.Counter

	mu     sync.Mutex
	silent list.List                 // *limitedConn that sent nothing yet, oldest first (IdleEvict)
	all    map[*limitedConn]struct{} // every open one (StalledEvict)
	// stalled are the stalled connections the last scan of all found,
	// most stalled first, each with the start of its request then; the
	// next scan is not before nextScan.
	stalled  []stalledConn
	nextScan time.Time
}

// stalledConn is a connection whose request began at began and stalled.
type stalledConn struct {
	c     *limitedConn
	began int64
}

// stalledScanEvery bounds how often the open connections are scanned for
// stalled ones: at the cap every new connection looks for one, and a
// scan of thousands per connection would cost more than the connection.
const stalledScanEvery = 100 * time.Millisecond

// Accept returns the next connection there is room for, making room by
// closing a silent one when it may and refusing the others as they come.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			l.open.Inc()
		default:
			if !l.evict() {
				l.refused.Inc()
				go l.refuse(c) // the next Accept does not wait for it
				continue
			}
		}
		lc := &limitedConn{Conn: c, l: l}
		if l.lim.FirstRequest > 0 {
			lc.first.Store(time.Now().Add(l.lim.FirstRequest).UnixNano())
		}
		l.accepted(lc)
		return lc, nil
	}
}

// evict takes the oldest silent connection, when it is IdleEvict old,
// or else the most stalled one (StalledEvict): it answers that one 503
// and closes it (answerTaken), and gives its slot to the caller.
func (l *connLimiter) evict() bool {
	if l.lim.IdleEvict <= 0 && l.lim.StalledEvict <= 0 {
		return false
	}
	l.mu.Lock()
	victim := l.silentVictim()
	if victim == nil {
		victim = l.stalledVictim()
	}
	if victim == nil {
		l.mu.Unlock()
		return false
	}
	if victim.elem != nil {
		l.silent.Remove(victim.elem)
		victim.elem = nil
		// a Read that returns its first bytes now finds it taken
		victim.state.Store(connTaken)
	}
	victim.silent.Store(false)
	delete(l.all, victim)
	l.mu.Unlock()
	handed := false
	victim.once.Do(func() { handed = true }) // its Close gives no slot back
	l.evicted.Inc()
	if handed {
		answered := make(chan struct{})
		victim.taken.Store(&answered)
		go l.answerTaken(victim, answered) // the next Accept does not wait for it
		return true
	}
	select { // it closed meanwhile and gave its slot back: take one
	case l.slots <- struct{}{}:
		l.open.Inc()
		return true
	default:
		return false
	}
}

// silentVictim is the oldest silent connection when it is IdleEvict old;
// l.mu is held.
func (l *connLimiter) silentVictim() *limitedConn {
	front := l.silent.Front()
	if l.lim.IdleEvict <= 0 || front == nil || time.Since(front.Value.(*limitedConn).since) < l.lim.IdleEvict {
		return nil
	}
	return front.Value.(*limitedConn)
}

// stalledVictim is the connection whose request began longest ago among
// those still waiting for their request's next bytes, when it began at
// least StalledEvict ago, from the candidates of the last scan or a new
// one; l.mu is held.
func (l *connLimiter) stalledVictim() *limitedConn {
	if l.lim.StalledEvict <= 0 {
		return nil
	}
	if c := l.nextStalled(); c != nil {
		return c
	}
	now := time.Now()
	if now.Before(l.nextScan) {
		return nil
	}
	l.nextScan = now.Add(stalledScanEvery)
	cutoff := now.Add(-l.lim.StalledEvict).UnixNano()
	for c := range l.all {
		if began := c.began.Load(); began != 0 && began <= cutoff && c.state.Load() == connReading {
			l.stalled = append(l.stalled, stalledConn{c, began})
		}
	}
	slices.SortFunc(l.stalled, func(a, b stalledConn) int { return cmp.Compare(a.began, b.began) })
	return l.nextStalled()
}

// nextStalled takes the first candidate that is still open, in the same
// request and waiting for its bytes, and marks it taken; l.mu is held.
func (l *connLimiter) nextStalled() *limitedConn {
	for len(l.stalled) > 0 {
		s := l.stalled[0]
		l.stalled[0] = stalledConn{}
		l.stalled = l.stalled[1:]
		if _, open := l.all[s.c]; open && s.c.began.Load() == s.began && s.c.state.CompareAndSwap(connReading, connTaken) {
			return s.c
		}
	}
	l.stalled = nil
	return nil
}

// accepted notes c as silent, from now, and as open.
func (l *connLimiter) accepted(c *limitedConn) {
	if l.lim.IdleEvict <= 0 && l.lim.StalledEvict <= 0 {
		return
	}
	l.mu.Lock()
	if l.lim.StalledEvict > 0 {
		l.all[c] = struct{}{}
	}
	if l.lim.IdleEvict > 0 {
		c.since = time.Now()
		c.elem = l.silent.PushBack(c)
		c.silent.Store(true)
	}
	l.mu.Unlock()
}

// closed notes that c is closed: neither silent nor open.
func (l *connLimiter) closed(c *limitedConn) {
	l.spoke(c)
	if l.lim.StalledEvict <= 0 {
		return
	}
	l.mu.Lock()
	delete(l.all, c)
	l.mu.Unlock()
}

// spoke notes that c sent a byte, or closed: it is silent no more.
func (l *connLimiter) spoke(c *limitedConn) {
	if !c.silent.Load() {
		return
	}
	l.mu.Lock()
	if c.elem != nil {
		l.silent.Remove(c.elem)
		c.elem = nil
	}
	c.silent.Store(false)
	l.mu.Unlock()
}

// refuse answers c, a connection beyond the cap, 503 and closes it.
func (l *connLimiter) refuse(c net.Conn) {
	if answer(c) {
		l.linger(c)
		return
	}
	c.Close()
}

// answerTaken answers c, whose slot a new connection took, 503 as if it
// had been refused, so that its client, perhaps about to send its
// request, is told to come back rather than reset. The server's Read
// under way on c then fails (c is taken), the server closes c, and c's
// Close waits for answered and lingers (linger).
func (l *connLimiter) answerTaken(c *limitedConn, answered chan struct{}) {
	defer close(answered)
	if !answer(c.Conn) {
		c.Conn.Close()
		return
	}
	_ = c.Conn.SetReadDeadline(time.Now()) // the server's Read returns
}

// answer writes the 503 to c, on which nothing was written, and shuts c's
// write side; it reports whether it could.
func answer(c net.Conn) bool {
	_ = c.SetWriteDeadline(time.Now().Add(refusedLinger))
	if _, err := io.WriteString(c, refusedAnswer); err != nil {
		return false
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	return true
}

// linger closes c, answered: closing a socket with unread bytes resets
// it, and a client may then lose the answer, so while fewer than
// refusedDrains are, what the client sends is read and dropped until it
// closes (at most refusedReadMax bytes, refusedLinger).
func (l *connLimiter) linger(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(refusedLinger))
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
	l      *connLimiter
	once   sync.Once
	first  atomic.Int64 // the first request's deadline in Unix ns; 0 once written to, or none
	silent atomic.Bool  // in l.silent
	// began is when the first byte read since the last write (other
	// than a 100 Continue) was read, in Unix ns: a request is arriving;
	// 0 when none is (StalledEvict).
	began atomic.Int64
	// state: whether the server waits in Read for the client's bytes
	// (connReading), or the connection was taken for a new one
	// (connTaken); a connection is taken from connReading, or while it
	// is silent, so that a Read under way when it is taken fails rather
	// than hand the server bytes of a connection it no longer holds.
	state atomic.Int32
	// taken, once its slot was taken for a new connection, is closed
	// when its 503 is written (answerTaken); lingered closes it once.
	taken    atomic.Pointer[chan struct{}]
	lingered sync.Once
	// guarded by l.mu
	elem  *list.Element // in l.silent
	since time.Time     // its accept
}

// limitedConn.state
const (
	connIdle    int32 = iota // not in Read
	connReading              // in Read
	connTaken                // closed for a new connection
)

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.l.lim.IdleEvict <= 0 && c.l.lim.StalledEvict <= 0 {
		return c.Conn.Read(p)
	}
	if !c.state.CompareAndSwap(connIdle, connReading) {
		if c.state.Load() == connTaken {
			return 0, net.ErrClosed
		}
		// another Read is under way (net.Conn allows it, though the
		// server reads from one goroutine): that one tracks the state
		n, err := c.Conn.Read(p)
		c.arrived(n)
		return n, err
	}
	n, err := c.Conn.Read(p)
	c.arrived(n) // before it leaves connReading: see state
	if !c.state.CompareAndSwap(connReading, connIdle) {
		return 0, net.ErrClosed // taken while its bytes arrived
	}
	return n, err
}

// arrived notes that a Read returned n bytes.
func (c *limitedConn) arrived(n int) {
	if n <= 0 {
		return
	}
	c.l.spoke(c)
	if c.l.lim.StalledEvict > 0 && c.began.Load() == 0 {
		c.began.Store(time.Now().UnixNano())
	}
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

// continueAnswer is what the server writes, alone, to a request that
// expects it before sending its body (Expect: 100-continue): the request
// is still arriving after it.
const continueAnswer = "HTTP/1.1 100 Continue\r\n\r\n"

func (c *limitedConn) Write(p []byte) (int, error) {
	if c.first.Load() != 0 {
		c.first.Store(0)
	}
	if c.began.Load() != 0 && string(p) != continueAnswer {
		c.began.Store(0)
	}
	return c.Conn.Write(p)
}

func (c *limitedConn) Close() error {
	c.l.closed(c)
	var err error
	if answered := c.taken.Load(); answered != nil {
		<-*answered
		c.lingered.Do(func() { c.l.linger(c.Conn) })
	} else {
		err = c.Conn.Close()
	}
	c.once.Do(func() {
		<-c.l.slots
		c.l.open.Dec()
	})
	return err
}
