package wagwtest

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// ReadTopic reads every record of topic from the broker at addr, partition
// by partition in partition order, each up to its end offset at the time
// of the call.
func ReadTopic(t testing.TB, addr, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial the broker: %v", err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	ids := make([]int, 0, len(parts))
	for _, p := range parts {
		ids = append(ids, p.ID)
	}
	slices.Sort(ids)
	var out []kafka.Message
	for _, p := range ids {
		out = append(out, ReadPartition(t, addr, topic, p)...)
	}
	return out
}

// ReadPartition reads every record of one partition of topic, from its log
// start up to its end offset at the time of the call.
func ReadPartition(t testing.TB, addr, topic string, p int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
	if err != nil {
		t.Fatalf("dial %s/%d: %v", topic, p, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	first, last, err := conn.ReadOffsets()
	if err != nil {
		t.Fatalf("offsets of %s/%d: %v", topic, p, err)
	}
	var out []kafka.Message
	for next := first; next < last; {
		if _, err := conn.Seek(next, kafka.SeekAbsolute); err != nil {
			t.Fatalf("seek %s/%d to %d: %v", topic, p, next, err)
		}
		batch := conn.ReadBatch(1, 16<<20)
		read := 0
		for next < last {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
			next = m.Offset + 1
			read++
		}
		if err := batch.Close(); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		if read == 0 {
			t.Fatalf("%s/%d: no record at offset %d of %d", topic, p, next, last)
		}
	}
	return out
}
