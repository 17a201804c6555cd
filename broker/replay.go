package broker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
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

// GapHeader marks a gap filler: a record without key or value that the
// embedded broker writes at start-up in place of one the log lost in a
// crash that was never acknowledged, so that the records after it (those
// the journal gives back, and those the consumer group has yet to read)
// keep their offsets. Consumers skip it.
const GapHeader = "wagw-journal-gap"

// IsGapFiller reports whether a record with these headers is a gap filler.
func IsGapFiller(headers []kafka.Header) bool {
	for _, h := range headers {
		if h.Key == GapHeader {
			return true
		}
	}
	return false
}

// fillersPerBatch bounds the gap fillers of one Produce (a few tens of
// KiB).
const fillersPerBatch = 1000

// partitionFloor is a partition's end when a checkpoint's flush began:
// the log held every record under it durably once the flush returned.
type partitionFloor struct {
	Topic     string `json:"t"`
	Partition int32  `json:"p"`
	End       int64  `json:"e"`
}

// replayJournal produces again, through client, every batch of records
// whose acknowledgement the journal holds and the log lost: each goes to
// its partition when the partition ends at its base offset, so it gets
// the offsets it was acknowledged with. The journal holds answers in the
// order they were written, which several connections interleave, so each
// partition's batches are replayed in the order of their offsets. A
// batch the log holds is skipped.
//
// A batch past the log's end leaves a gap. Above the floor the journal's
// last mark gives, the gap's records were written after a flush that
// completed and are not in the journal: never acknowledged (a Produce
// with acks=0, one whose client left before the answer, one refused by
// the journal). Gap fillers take their offsets. Under the floor, or
// without a mark, records acknowledged before the batch are in neither
// the log nor the journal: the replay fails.
func replayJournal(ctx context.Context, recs []journalRecord, end partitionEnd, client *kafka.Client) (replayed, filled int, err error) {
	parts := map[partKey][]replayBatch{}
	floors := map[partKey]int64{}
	var order []partKey
	for _, rec := range recs {
		if len(rec.req) == 0 { // a mark: the later one wins
			var ends []partitionFloor
			if err := json.Unmarshal(rec.resp, &ends); err != nil {
				return 0, 0, fmt.Errorf("journal: read a mark: %w", err)
			}
			clear(floors)
			for _, f := range ends {
				floors[partKey{f.Topic, f.Partition}] = f.End
			}
			continue
		}
		batches, err := decodeJournalRecord(rec)
		if err != nil {
			return 0, 0, err
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
		floor, marked := floors[k]
		for _, b := range batches {
			n, fill, err := replayBatchAt(ctx, b, end, floor, marked, client)
			if err != nil {
				return replayed, filled, err
			}
			replayed, filled = replayed+n, filled+fill
		}
	}
	return replayed, filled, nil
}

// replayBatchAt produces b again unless the log holds it, after gap
// fillers up to its base when the log ends short of it at or above floor
// (marked: the journal gave one). It returns how many records and
// fillers it produced.
func replayBatchAt(ctx context.Context, b replayBatch, end partitionEnd, floor int64, marked bool, client *kafka.Client) (n, filled int, err error) {
	next, ok := end(b.topic, b.partition)
	switch {
	case !ok:
		return 0, 0, nil // the topic was deleted since
	case b.base+int64(len(b.records)) <= next:
		return 0, 0, nil // the log holds it
	case b.base < next:
		return 0, 0, fmt.Errorf("journal: %s/%d: acknowledged records from offset %d, but the log ends at %d, within them",
			b.topic, b.partition, b.base, next)
	case b.base > next && (!marked || next < floor):
		return 0, 0, fmt.Errorf("journal: %s/%d: acknowledged records from offset %d, but the log ends at %d; "+
			"records acknowledged before them are lost (remove the journal directory to start without them)",
			b.topic, b.partition, b.base, next)
	case b.base > next:
		if filled, err = fillTo(ctx, client, b.topic, b.partition, next, b.base); err != nil {
			return 0, filled, err
		}
	}
	if err := produceAt(ctx, client, b.topic, b.partition, b.base, b.compression, b.records); err != nil {
		return 0, filled, err
	}
	return len(b.records), filled, nil
}

// fillToCommits writes gap fillers up to each offset that a consumer
// group of groups (topic: groups, the groups EmbeddedConfig.Protect
// names) committed past its partition's end: after a crash of the
// machine the group's state can be newer on disk than the log files (it
// consumed records never acknowledged that the log then lost), and a new
// record stored under the committed offset would never reach the group.
func fillToCommits(ctx context.Context, groups map[string][]string, committed func(group, topic string) map[int32]int64,
	end partitionEnd, client *kafka.Client) (filled int, err error) {
	for topic, gs := range groups {
		for _, g := range gs {
			for p, off := range committed(g, topic) {
				if next, ok := end(topic, p); ok {
					n, err := fillTo(ctx, client, topic, p, next, off)
					if filled += n; err != nil {
						return filled, err
					}
				}
			}
		}
	}
	return filled, nil
}

// fillTo writes gap fillers to a partition that ends at next until it
// ends at to (nothing when it already does), fillersPerBatch a Produce;
// it returns how many it wrote.
func fillTo(ctx context.Context, client *kafka.Client, topic string, partition int32, next, to int64) (filled int, err error) {
	for next < to {
		fillers := make([]kafka.Record, min(to-next, fillersPerBatch))
		for i := range fillers {
			fillers[i] = kafka.Record{Headers: []kafka.Header{{Key: GapHeader, Value: []byte("1")}}}
		}
		if err := produceAt(ctx, client, topic, partition, next, 0, fillers); err != nil {
			return filled, err
		}
		next, filled = next+int64(len(fillers)), filled+len(fillers)
	}
	return filled, nil
}

// produceAt produces records to a partition that ends at base, and checks
// that they were stored there.
func produceAt(ctx context.Context, client *kafka.Client, topic string, partition int32, base int64, codec compress.Compression, records []kafka.Record) error {
	res, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: topic, Partition: int(partition),
		RequiredAcks: kafka.RequireAll, Compression: codec, Records: kafka.NewRecordReader(records...)})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return fmt.Errorf("journal: replay %s/%d at %d: %w", topic, partition, base, err)
	}
	if res.BaseOffset != base {
		return fmt.Errorf("journal: replay %s/%d: stored at %d, acknowledged at %d", topic, partition, res.BaseOffset, base)
	}
	return nil
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
