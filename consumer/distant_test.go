package consumer_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// distantListener delays every write of the connections it accepts: a
// broker whose answers take that long to come back.
type distantListener struct {
	net.Listener
	delay time.Duration
}

func (l distantListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return distantConn{c, l.delay}, nil
}

type distantConn struct {
	net.Conn
	delay time.Duration
}

func (c distantConn) Write(p []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(p)
}

// idStore notes the ids of the events it applied.
type idStore struct {
	mu  sync.Mutex
	ids []string
}

func (s *idStore) Apply(_ context.Context, events []event.Envelope, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		s.ids = append(s.ids, e.ID)
	}
	return nil
}

func (s *idStore) Block(context.Context, string, string) error { return nil }

func (s *idStore) applied() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// A broker whose answers take 8 ms to come back (a cluster a few
// milliseconds away, or a busy one) still delivers a lone record under
// the default fetch wait. The reader's connection gave up on a fetch's
// answer at 20 ms while the broker was told to wait 15 ms for 64 KiB: an
// answer later than 5 ms after that wait was dropped with the connection,
// and the next fetch waited again, so the record never arrived.
func TestFetchWaitWithADistantBroker(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, consTopic), kfake.GroupMinSessionTimeout(time.Second),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			l, err := net.Listen(network, "127.0.0.1:0")
			return distantListener{l, 8 * time.Millisecond}, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	addr := cluster.ListenAddrs()[0]
	store := &idStore{}
	c := consumer.New(consumer.Config{Brokers: []string{addr}, Topic: consTopic, Workers: 1,
		SessionTimeout: 2 * time.Second, Logger: wagwtest.QuietLogger()}, store, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	envs, err := event.ParseAndSplit(wagwtest.TextWebhook(consInbox, "4917000000301", "wamid.distant", time.Now().Add(-time.Minute), "hello"), time.Now())
	if err != nil || len(envs) != 1 {
		t.Fatalf("split: %d envelopes, %v", len(envs), err)
	}
	raw, err := event.Encode(&envs[0])
	if err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: consTopic, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(envs[0].Key()), Value: raw}); err != nil {
		t.Fatal(err)
	}
	wagwtest.WaitFor(t, 10*time.Second, "the record applied", func() (bool, string) { return store.applied() == 1, "" })
}

// A fetch asks the broker to wait FetchWait for 64 KiB (the default 20
// ms), or 250 ms for a byte when FetchWait is negative. kafka-go asks the
// broker for three quarters of its MaxWait: it asked for 14 ms and 187 ms.
func TestFetchesAskTheBrokerToWaitTheFetchWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		wait     time.Duration
		ms       int32 // MaxWaitMillis asked for
		minBytes int32
	}{{0, 20, 64 << 10}, {5 * time.Millisecond, 5, 64 << 10}, {time.Second, 1000, 64 << 10}, {-1, 250, 1}} {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, consTopic), kfake.GroupMinSessionTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		asked := make(chan *kmsg.FetchRequest, 1)
		cluster.ControlKey(int16(kmsg.Fetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
			cluster.KeepControl()
			select {
			case asked <- r.(*kmsg.FetchRequest):
			default:
			}
			return nil, nil, false
		})
		c := consumer.New(consumer.Config{Brokers: cluster.ListenAddrs(), Topic: consTopic, Workers: 1, FetchWait: tc.wait,
			SessionTimeout: 2 * time.Second, Logger: wagwtest.QuietLogger()}, &idStore{}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		select {
		case r := <-asked:
			// kafka-go asks for what is left of the wait when it sends the
			// request: less the time it took to get there, 3 ms once on a
			// busy machine. Up to 10 ms less (4 of the 5 ms case) still
			// tells each case from the others.
			slack := min(tc.ms*4/5, 10)
			if r.MaxWaitMillis < tc.ms-slack || r.MaxWaitMillis > tc.ms || r.MinBytes != tc.minBytes {
				t.Errorf("FetchWait %v: a fetch asked the broker to wait %d ms for %d bytes, want %d ms for %d",
					tc.wait, r.MaxWaitMillis, r.MinBytes, tc.ms, tc.minBytes)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("FetchWait %v: no fetch within 10 s", tc.wait)
		}
		cancel()
		<-done
		cluster.Close()
	}
}
