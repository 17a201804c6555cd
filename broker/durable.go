package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// produceKey is the Kafka API key of Produce requests.
const produceKey = 0

// durableListener hands kfake connections whose Produce answers wait
// until the batches they acknowledge are durable: in the journal
// (journal.go), or in the log files (groupSync) for a Produce the journal
// does not take. Before the journal opens, only its replay produces, and
// one flush at the end covers it (Embedded.openJournal). It works for
// every client of the embedded broker, in this process or not.
type durableListener struct {
	net.Listener
	logs    *groupSync
	wal     *atomic.Pointer[journal] // nil until the journal is open
	timeout time.Duration            // bound on one answer's wait for its flush
}

func (l *durableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &durableConn{Conn: c, logs: l.logs, wal: l.wal, timeout: l.timeout}, nil
}

// durableConn reads the header of every request that comes in (its API
// key, version and correlation id) and keeps a copy of each Produce
// request the journal takes. It holds the answer to a Produce until the
// request and the answer are appended to the journal and a journal flush
// that started after the append returns; or, for a Produce the journal
// does not take, until a flush of the log files that started after the
// answer was ready returns (kfake writes a batch to its segment file
// before it builds the answer, so that flush covers the batch). If the
// flush fails, the answer is never sent: the connection is closed and the
// client retries (Kafka's producers may duplicate on retry; the consumer
// removes duplicates).
//
// kfake reads requests on one goroutine and writes each answer with one
// Write call on another, in the order of the requests; an acks=0 Produce
// has no answer, so the pending list is searched by correlation id.
type durableConn struct {
	net.Conn
	logs    *groupSync
	wal     *atomic.Pointer[journal]
	timeout time.Duration

	hdr  [12]byte // size, api key, api version, correlation id
	nhdr int
	skip int64  // bytes of the current request's body still to come
	body []byte // the current request, when the journal takes it (its last skip bytes still to come)

	mu      sync.Mutex
	pending []pendingReq // requests read and not yet answered, in order
}

type pendingReq struct {
	corr    int32
	produce bool
	req     []byte // a Produce request for the journal, whole
}

func (c *durableConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.scan(p[:n])
	return n, err
}

// scan follows the request stream: for each request it records the
// correlation id and whether it is a Produce, and copies a Produce the
// journal takes.
func (c *durableConn) scan(p []byte) {
	for len(p) > 0 {
		if c.skip > 0 {
			k := min(int64(len(p)), c.skip)
			if c.body != nil {
				copy(c.body[int64(len(c.body))-c.skip:], p[:k])
			}
			p, c.skip = p[k:], c.skip-k
			if c.skip == 0 && c.body != nil {
				r := pendingReq{corr: int32(binary.BigEndian.Uint32(c.body[8:12])), produce: true}
				if acks, ok := produceAcks(c.body); ok && acks != 0 { // acks=0 has no answer: nothing to keep
					r.req = c.body
				}
				c.push(r)
				c.body = nil
			}
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
		version := int16(binary.BigEndian.Uint16(c.hdr[6:8]))
		corr := int32(binary.BigEndian.Uint32(c.hdr[8:12]))
		c.skip, c.nhdr = max(0, int64(size)-8), 0
		if key == produceKey && journaled(version) && c.skip > 0 {
			if j := c.wal.Load(); j != nil && int64(size) <= j.size/2 { // larger: not journaled, nothing allocated
				c.body = make([]byte, 4+int64(size))
				copy(c.body, c.hdr[:])
				continue
			}
		}
		c.push(pendingReq{corr: corr, produce: key == produceKey})
	}
}

// produceAcks reads the acks of a Produce request of version 3 to 8
// (size, api key, version, correlation id, client id, transactional id,
// acks); false when the request is too short to hold them.
func produceAcks(req []byte) (int16, bool) {
	pos := 12
	for range 2 { // client id, transactional id: nullable strings
		if pos+2 > len(req) {
			return 0, false
		}
		n := int(int16(binary.BigEndian.Uint16(req[pos:])))
		pos += 2 + max(n, 0)
	}
	if pos+2 > len(req) {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(req[pos:])), true
}

func (c *durableConn) push(r pendingReq) {
	c.mu.Lock()
	c.pending = append(c.pending, r)
	c.mu.Unlock()
}

// Write sends one answer (kfake writes each in one call), after the flush
// when it answers a Produce.
func (c *durableConn) Write(b []byte) (int, error) {
	if len(b) < 8 {
		return c.Conn.Write(b)
	}
	if r := c.answered(int32(binary.BigEndian.Uint32(b[4:8]))); r.produce {
		if err := c.durable(r.req, b); err != nil {
			c.Conn.Close()
			return 0, err
		}
	}
	return c.Conn.Write(b)
}

// durable returns once the Produce answered by resp is durable: in the
// journal when req was kept for it, else in the log files.
func (c *durableConn) durable(req, resp []byte) error {
	j := c.wal.Load()
	if j == nil {
		return nil // the journal's replay (Embedded.openJournal): flushed once at its end
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if req != nil {
		if err := j.durable(ctx, req, resp); !errors.Is(err, errRecordTooLarge) {
			return err
		}
	}
	return c.logs.Sync(ctx)
}

// answered returns the request this answer (by its correlation id)
// answers, and forgets the requests answered up to it. An answer to a
// request not seen is held as a Produce's: it costs one flush.
func (c *durableConn) answered(corr int32) pendingReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, r := range c.pending {
		if r.corr == corr {
			c.pending = c.pending[i+1:]
			return r
		}
	}
	return pendingReq{corr: corr, produce: true}
}
