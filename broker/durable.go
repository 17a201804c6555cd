package broker

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// produceKey is the Kafka API key of Produce requests.
const produceKey = 0

// durableListener hands kfake connections whose Produce answers wait for
// a group flush (groupSync) that covers the batches they acknowledge. It
// works for every client of the embedded broker, in this process or not.
type durableListener struct {
	net.Listener
	sync    *groupSync
	timeout time.Duration // bound on one answer's wait for its flush
}

func (l *durableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &durableConn{Conn: c, sync: l.sync, timeout: l.timeout}, nil
}

// durableConn reads the header of every request that comes in (its API
// key and correlation id) and holds the answer to a Produce request until
// a flush that started after the answer was ready returns. kfake writes a
// batch to its segment file before it builds the answer, so that flush
// covers the batch. If the flush fails, the answer is never sent: the
// connection is closed and the client retries (Kafka's producers may
// duplicate on retry; the consumer removes duplicates).
//
// kfake reads requests on one goroutine and writes each answer with one
// Write call on another, in the order of the requests; an acks=0 Produce
// has no answer, so the pending list is searched by correlation id.
type durableConn struct {
	net.Conn
	sync    *groupSync
	timeout time.Duration

	hdr  [12]byte // size, api key, api version, correlation id
	nhdr int
	skip int64 // bytes of the current request's body still to come

	mu      sync.Mutex
	pending []pendingReq // requests read and not yet answered, in order
}

type pendingReq struct {
	corr    int32
	produce bool
}

func (c *durableConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.scan(p[:n])
	return n, err
}

// scan follows the request stream: for each request it records the
// correlation id and whether it is a Produce.
func (c *durableConn) scan(p []byte) {
	for len(p) > 0 {
		if c.skip > 0 {
			k := min(int64(len(p)), c.skip)
			p, c.skip = p[k:], c.skip-k
			continue
		}
		k := copy(c.hdr[c.nhdr:], p)
		c.nhdr += k
		p = p[k:]
		if c.nhdr < len(c.hdr) {
			return
		}
		size := int32(binary.BigEndian.Uint32(c.hdr[0:4]))
		key := int16(binary.BigEndian.Uint16(c.hdr[4:6]))
		corr := int32(binary.BigEndian.Uint32(c.hdr[8:12]))
		c.skip, c.nhdr = max(0, int64(size)-8), 0
		c.mu.Lock()
		c.pending = append(c.pending, pendingReq{corr: corr, produce: key == produceKey})
		c.mu.Unlock()
	}
}

// Write sends one answer (kfake writes each in one call), after the flush
// when it answers a Produce.
func (c *durableConn) Write(b []byte) (int, error) {
	if len(b) >= 8 && c.answersProduce(int32(binary.BigEndian.Uint32(b[4:8]))) {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		err := c.sync.Sync(ctx)
		cancel()
		if err != nil {
			c.Conn.Close()
			return 0, err
		}
	}
	return c.Conn.Write(b)
}

// answersProduce reports whether the answer with this correlation id is
// a Produce's, and forgets the requests answered up to it.
func (c *durableConn) answersProduce(corr int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.pending {
		if r.corr == corr {
			c.pending = c.pending[i+1:]
			return r.produce
		}
	}
	// Not a request we saw: hold it anyway, it costs one flush.
	return true
}
