package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wagw/wagw/event"
)

// BenchmarkEmbeddedPublish is one event published and acknowledged by the
// durable embedded broker (group flush, fdatasync), from 16 concurrent
// writers, over TCP on the loopback interface (as another process
// connects) and over the in-process connections serve's own clients use.
// cpu-ns/op is the process's CPU per event: producer, broker and flush.
func BenchmarkEmbeddedPublish(b *testing.B) {
	for _, inproc := range []bool{false, true} {
		b.Run(map[bool]string{false: "conn=tcp", true: "conn=in-process"}[inproc], func(b *testing.B) {
			emb, err := StartEmbedded(EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Topics: []string{"wa.events"}, Partitions: 12})
			if err != nil {
				b.Fatal(err)
			}
			defer emb.Close()
			sec := Security{}
			if inproc {
				sec = emb.Security()
			}
			prod := NewProducer(ProducerConfig{Brokers: []string{emb.Addr()}, Security: sec, Topic: "wa.events", WriteTimeout: 5 * time.Second})
			defer prod.Close()
			publish := func(i int) error {
				return prod.Publish(context.Background(), []event.Envelope{{Version: 1, ID: fmt.Sprintf("wamid.%d", i), Kind: event.KindMessage,
					Contact: event.Contact{WaID: fmt.Sprintf("4917%08d", i%10000)}, OccurredAt: time.Now()}})
			}
			if err := publish(-1); err != nil { // metadata and connections
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			cpu0 := cpuTime()
			b.ResetTimer()
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := publish(int(next.Add(1))); err != nil {
						b.Error(err)
					}
				}
			})
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if inproc != (emb.inproc.dials.Load() > 0) {
				b.Fatalf("%d in-process connections", emb.inproc.dials.Load())
			}
		})
	}
}

// flakyListener fails its first Accepts as a process out of file
// descriptors does, then hands out one end of a pipe per Accept, conns in
// all, then waits for Close.
type flakyListener struct {
	fails  atomic.Int32
	conns  atomic.Int32
	closed chan struct{}
	once   sync.Once
}

func (f *flakyListener) Accept() (net.Conn, error) {
	select {
	case <-f.closed:
		return nil, net.ErrClosed
	default:
	}
	if f.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	if f.conns.Add(-1) < 0 {
		<-f.closed
		return nil, net.ErrClosed
	}
	c, _ := net.Pipe()
	return c, nil
}

func (f *flakyListener) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }

// A TCP listener that runs out of file descriptors for a moment keeps
// the broker listening (kfake stops at the first error Accept returns);
// in-process connections are accepted meanwhile; once closed, Accept says
// so and dial fails.
func TestInprocListenerOutlivesAcceptErrors(t *testing.T) {
	tcp := &flakyListener{closed: make(chan struct{})}
	tcp.fails.Store(3)
	tcp.conns.Store(2)
	l := newInprocListener(tcp)
	l.openTCP()
	for i := range 2 {
		if _, err := l.Accept(); err != nil {
			t.Fatalf("accept %d after EMFILE: %v", i, err)
		}
	}
	if tcp.fails.Load() >= 0 {
		t.Fatalf("the listener's errors were not all returned (%d left)", tcp.fails.Load())
	}
	got := make(chan error, 1)
	go func() { _, err := l.Accept(); got <- err }()
	if _, err := l.dial(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	if _, err := l.dial(context.Background()); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

// TestTCPWaitsUntilOpen: until openTCP (the journal's replay is done) a
// TCP connection does not reach kfake, an in-process one does.
func TestTCPWaitsUntilOpen(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newInprocListener(tcp)
	defer l.Close()
	c, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			got <- c
		}
	}()
	select {
	case <-got:
		t.Fatal("a TCP connection was accepted before openTCP")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := l.dial(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := <-got; c.RemoteAddr().Network() == "tcp" {
		t.Fatal("the connection accepted first was the TCP one")
	}
	l.openTCP()
	select {
	case c := <-got:
		if c.RemoteAddr().Network() != "tcp" {
			t.Fatalf("accepted a %s connection, want the TCP one", c.RemoteAddr().Network())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the TCP connection was not accepted after openTCP")
	}
}
