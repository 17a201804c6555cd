package loadtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagw/wagw/whatsapp"
)

// The run's HTTP client. The generator shares the machine with the
// gateway it measures, so what it spends on a request is taken from the
// gateway: net/http's client cost about 93 µs of CPU a request (two
// thirds of the generator's samples at 5,000 webhooks/s); fasthttp's,
// already in the build through Fiber, reuses its requests, responses and
// buffers.

// fdReserve is how many files the run keeps for other than connections
// (its reports, the target's database, the runtime).
const fdReserve = 256

// sender posts webhooks to one URL.
type sender struct {
	client  *fasthttp.Client
	conns   *connSet
	url     string
	secret  []byte
	timeout time.Duration
}

// newSender returns a sender for at most conns connections, fewer when the
// process may not open that many files (a request beyond them waits for
// a connection, within its timeout). A cancelled ctx closes every
// connection, so that requests in flight fail at once (fasthttp's client
// takes no context).
func newSender(ctx context.Context, cfg RunConfig, conns int) *sender {
	if limit := openFilesLimit(); limit > 0 {
		conns = min(conns, max(16, limit-fdReserve))
	}
	set := &connSet{open: map[*trackedConn]struct{}{}, slots: make(chan struct{}, conns),
		dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}}
	s := &sender{conns: set, url: cfg.URL, secret: cfg.Secret, timeout: cfg.Timeout,
		client: &fasthttp.Client{
			Name:            "wagw-loadtest",
			Dial:            set.dial,
			MaxConnsPerHost: conns,
			// A request waits for a connection when all are busy (more
			// senders than files, or one closing while another is
			// dialled), within its timeout.
			MaxConnWaitTimeout: cfg.Timeout,
			// One attempt: a request the target may have received is
			// never sent again behind the run's back (fasthttp retries
			// even a POST whose connection closed before the answer).
			MaxIdemponentCallAttempts: 1,
			// The most recently used connection first, as net/http does:
			// a slow run keeps a few connections warm, not all of them.
			ConnPoolStrategy: fasthttp.LIFO,
		}}
	set.stop = context.AfterFunc(ctx, set.closeAll)
	return s
}

// post sends one webhook and returns the status, and whether it was a 503
// without Retry-After.
func (s *sender) post(req Request) (code int, noRetry bool, err error) {
	hreq := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(hreq)
	defer fasthttp.ReleaseResponse(resp)
	hreq.SetRequestURI(s.url)
	hreq.Header.SetMethod(fasthttp.MethodPost)
	hreq.Header.SetContentType("application/json")
	for k, v := range req.Headers {
		hreq.Header.Set(k, v)
	}
	if len(s.secret) > 0 {
		hreq.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(s.secret, req.Body))
	}
	hreq.SetBodyRaw(req.Body)
	if err = s.client.DoTimeout(hreq, resp, s.timeout); err != nil {
		return 0, false, err
	}
	code = resp.StatusCode()
	return code, code == fasthttp.StatusServiceUnavailable && len(resp.Header.Peek("Retry-After")) == 0, nil
}

// close closes every connection.
func (s *sender) close() {
	s.conns.stop()
	s.conns.closeAll()
}

// connSet keeps the client's open connections, to close them all when the
// run is cancelled, and at most as many open as it has slots: fasthttp's
// client hands a closing connection's place to a waiting request before
// it closes the socket, so its own count lets more sockets be open than
// it allows for a moment (a run at 20,000 in flight, with the server
// closing thousands of refused connections a second, failed 8 dials with
// "too many open files").
type connSet struct {
	dialer net.Dialer
	stop   func() bool
	slots  chan struct{} // one per open connection

	mu     sync.Mutex
	open   map[*trackedConn]struct{}
	closed bool
}

// dial opens a connection once one of the set's slots is free (within
// the dialer's timeout).
func (s *connSet) dial(addr string) (net.Conn, error) {
	wait := time.NewTimer(s.dialer.Timeout)
	defer wait.Stop()
	select {
	case s.slots <- struct{}{}:
	case <-wait.C:
		return nil, fmt.Errorf("dial %s: %w: all %d connections open", addr, os.ErrDeadlineExceeded, cap(s.slots))
	}
	c, err := s.dialer.Dial("tcp", addr)
	if err != nil {
		<-s.slots
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		<-s.slots
		return nil, context.Canceled
	}
	tc := &trackedConn{Conn: c, set: s}
	s.open[tc] = struct{}{}
	return tc, nil
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	open := s.open
	s.open = map[*trackedConn]struct{}{}
	s.mu.Unlock()
	for c := range open {
		c.Conn.Close()
		<-s.slots // a dial after this one fails at once instead of waiting for a slot
	}
}

type trackedConn struct {
	net.Conn
	set *connSet
}

// Close closes the socket, then gives its slot back (once).
func (c *trackedConn) Close() error {
	c.set.mu.Lock()
	_, open := c.set.open[c]
	delete(c.set.open, c)
	c.set.mu.Unlock()
	err := c.Conn.Close()
	if open {
		<-c.set.slots
	}
	return err
}
