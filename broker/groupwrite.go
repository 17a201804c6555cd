package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// groupWriter writes one group of records (coalescer) with one Produce
// request per partition leader, over kafka-go's Transport and wire
// protocol. kafka-go's Writer sends one request per partition: a group
// spread over the events topic's twelve partitions was twelve requests and
// twelve answers, and on the embedded broker twelve waits for a group
// flush that seldom all fell into the same one. Records keep the Writer's
// partitioning (kafka.Murmur2Balancer over the topic's partitions, as the
// Java client), acks from all in-sync replicas, snappy compression and a
// bounded time per request. A partition's records go in their order, in
// batches of at most maxBytes; its second batch goes only once its first
// was acknowledged.
type groupWriter struct {
	addr     net.Addr // the bootstrap brokers
	rt       *kafka.Transport
	timeout  time.Duration // one request
	maxBytes int           // one partition's batch
	attempts int           // per record, the first included
	backoff  [2]time.Duration

	requests atomic.Int64 // Produce requests sent
	records  atomic.Int64 // records acknowledged
}

// partKey is one partition of one topic.
type partKey struct {
	topic string
	part  int32
}

// write sends msgs and returns nil when every record was acknowledged,
// kafka.WriteErrors (one per record, nil where stored) when some were
// not, or one error for all when the topics' metadata could not be read.
// A record that failed with a retriable error is sent again, up to
// attempts times in all.
func (w *groupWriter) write(ctx context.Context, msgs []kafka.Message) error {
	meta, err := w.metadata(ctx, msgs)
	if err != nil {
		return err
	}
	parts, err := partitionsOf(meta, msgs)
	if err != nil {
		return err
	}
	errs := make(kafka.WriteErrors, len(msgs))
	todo := make([]int, len(msgs))
	for i := range todo {
		todo[i] = i
	}
	for attempt := 1; ; attempt++ {
		todo = w.send(ctx, msgs, parts, todo, leadersOf(meta), errs)
		if len(todo) == 0 || attempt >= w.attempts || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(min(w.backoff[0]<<(attempt-1), w.backoff[1])):
		case <-ctx.Done():
		}
		if meta, err = w.metadata(ctx, msgs); err != nil {
			for _, i := range todo {
				errs[i] = err
			}
			break
		}
	}
	for _, err := range errs {
		if err != nil {
			return errs
		}
	}
	return nil
}

// metadata reads the partitions and leaders of msgs' topics (the
// transport serves it from its cache, refreshed in the background).
func (w *groupWriter) metadata(ctx context.Context, msgs []kafka.Message) (*metadataAPI.Response, error) {
	var topics []string
	for i := range msgs {
		if !slices.Contains(topics, msgs[i].Topic) {
			topics = append(topics, msgs[i].Topic)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	r, err := w.rt.RoundTrip(ctx, w.addr, &metadataAPI.Request{TopicNames: topics})
	if err != nil {
		return nil, err
	}
	meta := r.(*metadataAPI.Response)
	for _, t := range meta.Topics {
		if t.ErrorCode != 0 {
			return nil, fmt.Errorf("topic %s: %w", t.Name, kafka.Error(t.ErrorCode))
		}
	}
	return meta, nil
}

// partitionsOf gives each record its partition: murmur2 of its key over
// the topic's partitions, as kafka.Writer with kafka.Murmur2Balancer.
func partitionsOf(meta *metadataAPI.Response, msgs []kafka.Message) ([]int32, error) {
	ids := map[string][]int{}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			ids[t.Name] = append(ids[t.Name], int(p.PartitionIndex))
		}
		slices.Sort(ids[t.Name])
	}
	var bal kafka.Murmur2Balancer
	parts := make([]int32, len(msgs))
	for i := range msgs {
		p := ids[msgs[i].Topic]
		if len(p) == 0 {
			return nil, fmt.Errorf("topic %s: %w", msgs[i].Topic, kafka.UnknownTopicOrPartition)
		}
		parts[i] = int32(bal.Balance(msgs[i], p...))
	}
	return parts, nil
}

// leadersOf maps each partition to the id of its leader.
func leadersOf(meta *metadataAPI.Response) map[partKey]int32 {
	leaders := map[partKey]int32{}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			leaders[partKey{t.Name, p.PartitionIndex}] = p.LeaderID
		}
	}
	return leaders
}

// send writes the records todo (indexes into msgs, in order), each
// leader's at once, sets errs for each, and returns those to send again.
func (w *groupWriter) send(ctx context.Context, msgs []kafka.Message, parts []int32, todo []int, leaders map[partKey]int32, errs kafka.WriteErrors) []int {
	byLeader := map[int32]map[partKey][]int{}
	for _, i := range todo {
		k := partKey{msgs[i].Topic, parts[i]}
		l := leaders[k]
		if byLeader[l] == nil {
			byLeader[l] = map[partKey][]int{}
		}
		byLeader[l][k] = append(byLeader[l][k], i)
	}
	var mu sync.Mutex
	var again []int
	var wg sync.WaitGroup
	for _, byPart := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			retry := w.sendLeader(ctx, msgs, byPart, errs)
			mu.Lock()
			again = append(again, retry...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(again) // a partition's records stay in their order
	return again
}

// sendLeader writes one leader's partitions in rounds: a round is one
// request with the next batch of every partition that has one left. A
// partition whose batch failed sends nothing more in this attempt.
func (w *groupWriter) sendLeader(ctx context.Context, msgs []kafka.Message, byPart map[partKey][]int, errs kafka.WriteErrors) (retry []int) {
	for len(byPart) > 0 {
		req := &produceAPI.Request{Acks: int16(kafka.RequireAll), Timeout: int32(w.timeout.Milliseconds())}
		batches := map[partKey][]int{}
		for k, idx := range byPart {
			n := w.batchLen(msgs, idx)
			batches[k], byPart[k] = idx[:n], idx[n:]
			if len(byPart[k]) == 0 {
				delete(byPart, k)
			}
			addBatch(req, k, msgs, idx[:n])
		}
		answers, err := w.roundTrip(ctx, req)
		for k, idx := range batches {
			perr := err
			if perr == nil {
				perr = answers[k]
			}
			for _, i := range idx {
				errs[i] = perr
			}
			if perr == nil {
				w.records.Add(int64(len(idx)))
				continue
			}
			if retriable(perr) {
				retry = append(retry, idx...)
				retry = append(retry, byPart[k]...)
			}
			for _, i := range byPart[k] {
				errs[i] = perr
			}
			delete(byPart, k)
		}
	}
	return retry
}

// batchLen is how many of the records idx, from the first, fit in one
// batch of maxBytes (at least one).
func (w *groupWriter) batchLen(msgs []kafka.Message, idx []int) int {
	size := 0
	for n, i := range idx {
		size += recordSize(msgs[i])
		if n > 0 && size > w.maxBytes {
			return n
		}
	}
	return len(idx)
}

// addBatch adds the records idx as k's batch of the request.
func addBatch(req *produceAPI.Request, k partKey, msgs []kafka.Message, idx []int) {
	recs := make([]protocol.Record, len(idx))
	for j, i := range idx {
		m := &msgs[i]
		recs[j] = protocol.Record{Time: m.Time, Key: bytesOrNil(m.Key), Value: bytesOrNil(m.Value), Headers: m.Headers}
	}
	t := slices.IndexFunc(req.Topics, func(t produceAPI.RequestTopic) bool { return t.Topic == k.topic })
	if t < 0 {
		t = len(req.Topics)
		req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: k.topic})
	}
	req.Topics[t].Partitions = append(req.Topics[t].Partitions, produceAPI.RequestPartition{Partition: k.part,
		RecordSet: protocol.RecordSet{Attributes: protocol.Attributes(kafka.Snappy), Records: protocol.NewRecordReader(recs...)}})
}

// bytesOrNil keeps a nil key or value null on the wire.
func bytesOrNil(b []byte) protocol.Bytes {
	if b == nil {
		return nil
	}
	return protocol.NewBytes(b)
}

// roundTrip sends one request and returns each partition's outcome
// (nil: stored), or the error that left all of them unknown.
func (w *groupWriter) roundTrip(ctx context.Context, req *produceAPI.Request) (map[partKey]error, error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	w.requests.Add(1)
	r, err := w.rt.RoundTrip(ctx, w.addr, req)
	if err != nil {
		return nil, err
	}
	answers := map[partKey]error{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			answers[partKey{t.Topic, p.Partition}] = errNoAnswer
		}
	}
	for _, t := range r.(*produceAPI.Response).Topics {
		for _, p := range t.Partitions {
			var err error
			if p.ErrorCode != 0 {
				err = kafka.Error(p.ErrorCode)
			}
			answers[partKey{t.Topic, p.Partition}] = err
		}
	}
	return answers, nil
}

// errNoAnswer is a partition the broker's answer left out.
var errNoAnswer = errors.New("kafka: the produce answer has no result for the partition")

// retriable reports whether a failed write may succeed if sent again: a
// temporary Kafka error (a leader moving, not enough replicas for now), a
// connection that broke, or a request routed with stale metadata.
func retriable(err error) bool {
	var temp interface{ Temporary() bool }
	var routing *produceAPI.Error
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &temp) && temp.Temporary(), errors.As(err, &routing), errors.Is(err, errNoAnswer):
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded)
}
