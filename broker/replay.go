package broker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
)

// Produce versions whose requests the journal keeps: those kafka-go's
// protocol reads back (record batches of format 2). A Produce of another
// version waits for the log files' flush instead.
const (
	journalMinVersion = 3
	journalMaxVersion = 8
)

// journaled reports whether a Produce request of this version goes to the
// journal.
func journaled(version int16) bool {
	return version >= journalMinVersion && version <= journalMaxVersion
}

// partitionEnd is the offset after a partition's last record, or false
// when the partition does not exist.
type partitionEnd func(topic string, partition int32) (int64, bool)

// replayBatch is one partition's records of a journaled Produce, with the
// offset the broker gave the first.
type replayBatch struct {
	topic     string
	partition int32
	base      int64
	records   []kafka.Record
	// compression is the codec the producer compressed the batch with: the
	// replay compresses it alike, as the broker took it within its size
	// limit compressed.
	compression compress.Compression
}

// replayJournal produces again, through client, every batch of records
// whose acknowledgement the journal holds and the log lost: each goes to
// its partition when the partition ends at its base offset, so it gets
// the offsets it was acknowledged with. The journal holds answers in the
// order they were written, which several connections interleave, so each
// partition's batches are replayed in the order of their offsets. A
// batch the log holds is skipped; one that would leave a gap fails the
// replay: records acknowledged before it are in neither.
func replayJournal(ctx context.Context, recs []journalRecord, end partitionEnd, client *kafka.Client) (replayed int, err error) {
	parts := map[partKey][]replayBatch{}
	var order []partKey
	for _, rec := range recs {
		batches, err := decodeJournalRecord(rec)
		if err != nil {
			return 0, err
		}
		for _, b := range batches {
			k := partKey{b.topic, b.partition}
			if parts[k] == nil {
				order = append(order, k)
			}
			parts[k] = append(parts[k], b)
		}
	}
	for _, k := range order {
		batches := parts[k]
		slices.SortStableFunc(batches, func(a, b replayBatch) int { return cmp.Compare(a.base, b.base) })
		for _, b := range batches {
			n, err := replayBatchAt(ctx, b, end, client)
			if err != nil {
				return replayed, err
			}
			replayed += n
		}
	}
	return replayed, nil
}

// replayBatchAt produces b again unless the log holds it; it returns how
// many records it produced.
func replayBatchAt(ctx context.Context, b replayBatch, end partitionEnd, client *kafka.Client) (int, error) {
	next, ok := end(b.topic, b.partition)
	switch {
	case !ok:
		return 0, nil // the topic was deleted since
	case b.base+int64(len(b.records)) <= next:
		return 0, nil // the log holds it
	case b.base != next:
		return 0, fmt.Errorf("journal: %s/%d: acknowledged records from offset %d, but the log ends at %d; "+
			"records acknowledged before them are lost (remove the journal directory to start without them)",
			b.topic, b.partition, b.base, next)
	}
	res, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: b.topic, Partition: int(b.partition),
		RequiredAcks: kafka.RequireAll, Compression: b.compression, Records: kafka.NewRecordReader(b.records...)})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return 0, fmt.Errorf("journal: replay %s/%d at %d: %w", b.topic, b.partition, b.base, err)
	}
	if res.BaseOffset != b.base {
		return 0, fmt.Errorf("journal: replay %s/%d: stored at %d, acknowledged at %d", b.topic, b.partition, res.BaseOffset, b.base)
	}
	return len(b.records), nil
}

// decodeJournalRecord reads a journaled Produce request and its answer:
// the batches the broker stored, with their base offsets.
func decodeJournalRecord(rec journalRecord) ([]replayBatch, error) {
	if len(rec.req) < 8 {
		return nil, errors.New("journal: a record shorter than a request header")
	}
	version := int16(binary.BigEndian.Uint16(rec.req[6:8]))
	_, _, _, msg, err := protocol.ReadRequest(bytes.NewReader(rec.req))
	if err != nil {
		return nil, fmt.Errorf("journal: read request: %w", err)
	}
	req, ok := msg.(*produceAPI.Request)
	if !ok {
		return nil, fmt.Errorf("journal: a %T, not a Produce request", msg)
	}
	_, msg, err = protocol.ReadResponse(bytes.NewReader(rec.resp), protocol.Produce, version)
	if err != nil {
		return nil, fmt.Errorf("journal: read answer: %w", err)
	}
	resp, ok := msg.(*produceAPI.Response)
	if !ok {
		return nil, fmt.Errorf("journal: a %T, not a Produce answer", msg)
	}
	stored := map[partKey]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 {
				stored[partKey{t.Topic, p.Partition}] = p.BaseOffset
			}
		}
	}
	var out []replayBatch
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			base, ok := stored[partKey{t.Topic, p.Partition}]
			if !ok {
				continue // refused: never acknowledged
			}
			records, err := readRecords(p.RecordSet.Records)
			if err != nil {
				return nil, fmt.Errorf("journal: %s/%d: %w", t.Topic, p.Partition, err)
			}
			out = append(out, replayBatch{topic: t.Topic, partition: p.Partition, base: base, records: records,
				compression: p.RecordSet.Attributes.Compression()})
		}
	}
	return out, nil
}

// readRecords copies a record set's records.
func readRecords(rr protocol.RecordReader) ([]kafka.Record, error) {
	var out []kafka.Record
	if rr == nil {
		return nil, nil
	}
	for {
		r, err := rr.ReadRecord()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		key, err := protocol.ReadAll(r.Key)
		if err != nil {
			return nil, err
		}
		value, err := protocol.ReadAll(r.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, kafka.Record{Time: r.Time, Headers: r.Headers,
			Key: protocol.NewBytes(key), Value: protocol.NewBytes(value)})
	}
}

// replayTimeout bounds the replay at start-up.
const replayTimeout = 2 * time.Minute
