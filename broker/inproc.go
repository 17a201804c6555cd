package broker

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wagw/wagw/outage"
)

// inprocListener is the embedded broker's listener: the connections of
// its TCP listener (other processes: wagw's other roles, tools) and the
// in-process connections of serve's own clients (dial), which reach kfake
// through a net.Pipe instead of the loopback interface. Both kinds go
// through the same Accept, so durableListener holds the Produce answers
// of both until their flush.
type inprocListener struct {
	net.Listener               // the TCP listener
	conns        chan net.Conn // accepted, of either kind
	tcpOpen      chan struct{} // closed once TCP connections may reach kfake
	openOnce     sync.Once
	closed       chan struct{}
	closeOnce    sync.Once
	dials        atomic.Int64 // in-process connections opened
}

func newInprocListener(tcp net.Listener) *inprocListener {
	l := &inprocListener{Listener: tcp, conns: make(chan net.Conn), tcpOpen: make(chan struct{}), closed: make(chan struct{})}
	go l.acceptTCP()
	return l
}

// acceptTCP hands the TCP listener's connections to Accept until the
// listener is closed (which closes l). Other errors (too many open
// files) are waited out, backing off up to a second, as net/http's server
// does: kfake stops listening at the first error Accept returns, and the
// broker must not become unreachable for good because the process ran
// short of file descriptors for a moment (in-process connections need
// none).
func (l *inprocListener) acceptTCP() {
	wait := outage.Backoff{Min: 5 * time.Millisecond, Max: time.Second}
	for {
		c, err := l.Listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			l.Close()
			return
		}
		if err != nil {
			time.Sleep(wait.Next())
			continue
		}
		wait.Reset()
		select {
		case <-l.tcpOpen:
		case <-l.closed:
			c.Close()
			return
		}
		select {
		case l.conns <- c:
		case <-l.closed:
			c.Close()
			return
		}
	}
}

// openTCP lets the TCP listener's connections reach kfake. Until then
// they wait (the broker replays its journal: a client of another process
// must not take the offsets of the records it gives back); in-process
// connections do not.
func (l *inprocListener) openTCP() {
	l.openOnce.Do(func() { close(l.tcpOpen) })
}

func (l *inprocListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *inprocListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closed)
		err = l.Listener.Close()
	})
	return err
}

// dial opens an in-process connection to the broker.
func (l *inprocListener) dial(ctx context.Context) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		l.dials.Add(1)
		return client, nil
	case <-l.closed:
		server.Close()
		client.Close()
		return nil, errors.New("the embedded broker is closed")
	case <-ctx.Done():
		server.Close()
		client.Close()
		return nil, ctx.Err()
	}
}
