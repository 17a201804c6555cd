package consumer_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/consumer"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/wagwtest"
)

// pacedStore counts the batches it takes and spends 20 ms on each, as a
// Postgres transaction would: it isolates the consumer's Kafka side (the
// store's own cost is db's BenchmarkApplySteady) while the readers wait
// on the store, as they do in a replay.
type pacedStore struct{ n atomic.Int64 }

func (s *pacedStore) Apply(_ context.Context, events []event.Envelope, _ time.Time) error {
	time.Sleep(20 * time.Millisecond)
	s.n.Add(int64(len(events)))
	return nil
}

func (s *pacedStore) Block(context.Context, string, string) error { return nil }

// BenchmarkConsumerFetch measures what consuming a filled topic costs on
// the Kafka side: the embedded broker (on disk, 12 partitions, written 20
// records at a time as the gateway writes a webhook's messages), the
// kafka-go readers and the consumer's decoding, all in this process, with
// a store that takes 20 ms a batch. It reports the process's CPU time per
// record, for the fetch sizes compared.
func BenchmarkConsumerFetch(b *testing.B) {
	for _, size := range []int{consumer.DefaultFetchMaxBytes, 10 << 20} {
		b.Run(fmt.Sprintf("fetch=%dKiB", size>>10), func(b *testing.B) {
			const records = 20000
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				addr := freeAddr(b)
				emb, err := broker.StartEmbedded(broker.EmbeddedConfig{Addr: addr, DataDir: b.TempDir(), NoSync: true,
					Topics: []string{consTopic, consDLQ}, Partitions: 12})
				if err != nil {
					b.Fatal(err)
				}
				p := broker.NewProducer(broker.ProducerConfig{Brokers: []string{addr}, Topic: consTopic})
				envs := make([]event.Envelope, 20)
				for n := 0; n < records; n += len(envs) {
					for j := range envs {
						wa := fmt.Sprintf("4917%07d", (n+j)%5000)
						envs[j] = benchMessage(b, wa, fmt.Sprintf("wamid.f%d", n+j))
					}
					if err := p.Publish(context.Background(), envs); err != nil {
						b.Fatal(err)
					}
				}
				store := &pacedStore{}
				c := consumer.New(consumer.Config{Brokers: []string{addr}, Topic: consTopic, DeadLetterTopic: consDLQ,
					FetchMaxBytes: size, Logger: wagwtest.QuietLogger()}, store, p)
				ctx, cancel := context.WithCancel(context.Background())
				cpu0 := processCPU()
				b.StartTimer()
				done := make(chan error, 1)
				go func() { done <- c.Run(ctx) }()
				for store.n.Load() < records {
					time.Sleep(5 * time.Millisecond)
				}
				b.StopTimer()
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/records, "cpu-µs/record")
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				p.Close()
				emb.Close()
			}
		})
	}
}

func benchMessage(b *testing.B, wa, wamid string) event.Envelope {
	envs, err := event.ParseAndSplit(wagwtest.TextWebhook(consInbox, wa, wamid, time.Now().Add(-time.Minute), "hello, is this in stock?"), time.Now())
	if err != nil || len(envs) != 1 {
		b.Fatalf("split: %d envelopes, %v", len(envs), err)
	}
	return envs[0]
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
