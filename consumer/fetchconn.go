package consumer

import (
	"context"
	"net"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/broker"
)

// answerGrace is how much longer than kafka-go asks a reader's connection
// waits for an answer. kafka-go's reader gives a fetch's answer until
// MaxWait after it sent it, and tells the broker to wait three quarters
// of that (MaxWait less a second from a second on): with a wait of 20 ms
// an answer had a few milliseconds to come back, and one later than that
// (a cluster a few milliseconds away, a busy broker) closed the
// connection, after which the next fetch waited as long again, so a
// partition with less than 64 KiB waiting was never read. A second is
// what kafka-go itself leaves an answer when the wait is long.
const answerGrace = time.Second

// readerDialer is sec's dialer for the group's readers: their
// connections give every read answerGrace beyond its deadline. The
// broker's wait is derived from the deadline kafka-go holds, not from
// the connection's, so it stays as configured.
func readerDialer(sec broker.Security, timeout time.Duration) *kafka.Dialer {
	d := sec.Dialer(timeout)
	dial := d.DialFunc
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: d.KeepAlive}).DialContext
	}
	d.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return graceConn{conn}, nil
	}
	return d
}

// graceConn moves its read deadlines answerGrace later.
type graceConn struct{ net.Conn }

func (c graceConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(later(t))
}

func (c graceConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(later(t))
}

// later is t plus answerGrace; the zero time (no deadline) stays zero.
func later(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Add(answerGrace)
}

// readerMaxWait is the kafka-go MaxWait under which a fetch asks the
// broker to wait d. kafka-go asks for its MaxWait less the second it
// leaves the answer from a second on, and for three quarters of it
// below.
func readerMaxWait(d time.Duration) time.Duration {
	if d < 750*time.Millisecond {
		return d * 4 / 3
	}
	return d + time.Second
}
