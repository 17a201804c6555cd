package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// partitionLag is the group's progress on one partition: the first record
// it has not committed (the log start when it has committed nothing there,
// or less than what retention kept) and the log end.
type partitionLag struct {
	id        int
	from, end int64
}

func (p partitionLag) records() int64 { return max(0, p.end-p.from) }

// lag is how many records of the topic the group has not committed.
func (c *Consumer) lag(ctx context.Context) (int64, error) {
	_, parts, err := c.partitionLags(ctx)
	if err != nil {
		return 0, err
	}
	var lag int64
	for _, p := range parts {
		lag += p.records()
	}
	return lag, nil
}

// partitionLags asks the brokers for the group's committed offset and the
// log start and end of every partition of the topic; it returns the client
// it asked with, for further questions.
func (c *Consumer) partitionLags(ctx context.Context) (*kafka.Client, []partitionLag, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	parts, err := c.cfg.Security.Dialer(5*time.Second).LookupPartitions(ctx, "tcp", c.cfg.Brokers[0], c.cfg.Topic)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]int, len(parts))
	for i, p := range parts {
		ids[i] = p.ID
	}
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 5 * time.Second, Transport: c.conns}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: map[string][]int{c.cfg.Topic: ids}})
	if err != nil {
		return nil, nil, err
	}
	starts, err := c.offsets(ctx, client, ids, kafka.FirstOffsetOf)
	if err != nil {
		return nil, nil, err
	}
	ends, err := c.offsets(ctx, client, ids, kafka.LastOffsetOf)
	if err != nil {
		return nil, nil, err
	}
	done := map[int]int64{}
	for _, p := range committed.Topics[c.cfg.Topic] {
		done[p.Partition] = p.CommittedOffset // -1: nothing committed
	}
	out := make([]partitionLag, len(ids))
	for i, id := range ids {
		out[i] = partitionLag{id: id, from: starts[id], end: ends[id]}
		if off, ok := done[id]; ok && off > out[i].from {
			out[i].from = off
		}
	}
	return client, out, nil
}

// offsets asks for one offset (the log start or end) of each partition.
func (c *Consumer) offsets(ctx context.Context, client *kafka.Client, ids []int, which func(int) kafka.OffsetRequest) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = which(id)
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{c.cfg.Topic: reqs}})
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64, len(ids))
	for _, p := range resp.Topics[c.cfg.Topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", c.cfg.Topic, p.Partition, p.Error)
		}
		out[p.Partition] = max(p.FirstOffset, p.LastOffset) // the one asked for; the other is -1
	}
	if len(out) != len(ids) {
		return nil, fmt.Errorf("offsets of %s: %d of %d partitions answered", c.cfg.Topic, len(out), len(ids))
	}
	return out, nil
}

// measureLag exports the group's lag per partition every LagInterval
// until ctx ends: in records (log end minus committed offset) and in
// seconds (how long ago the gateway received the oldest record not yet
// committed; 0 when none waits). While the brokers do not answer, the
// series are removed rather than left at stale values (readiness reports
// the outage).
func (c *Consumer) measureLag(ctx context.Context) {
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		c.exportLag(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Consumer) exportLag(ctx context.Context) {
	client, parts, err := c.partitionLags(ctx)
	if err != nil {
		c.m.lagRecords.Reset()
		c.m.lagSeconds.Reset()
		c.log.Debug("consumer lag not measured", "err", err)
		return
	}
	now := c.cfg.Now()
	for _, p := range parts {
		label := strconv.Itoa(p.id)
		c.m.lagRecords.WithLabelValues(label).Set(float64(p.records()))
		if p.records() == 0 {
			c.m.lagSeconds.WithLabelValues(label).Set(0)
			continue
		}
		at, err := c.receivedAt(ctx, client, p)
		if err != nil {
			c.m.lagSeconds.DeleteLabelValues(label)
			c.log.Debug("consumer lag in seconds not measured", "partition", p.id, "err", err)
			continue
		}
		c.m.lagSeconds.WithLabelValues(label).Set(max(0, now.Sub(at).Seconds()))
	}
}

// receivedAt reads the first record the group has not committed on p and
// returns when the gateway received it (the envelope's received_at), or
// the record's own time when its value is not an envelope.
func (c *Consumer) receivedAt(ctx context.Context, client *kafka.Client, p partitionLag) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: c.cfg.Topic, Partition: p.id, Offset: p.from,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
	if err != nil {
		return time.Time{}, err
	}
	if resp.Error != nil {
		return time.Time{}, resp.Error
	}
	for {
		r, err := resp.Records.ReadRecord()
		if err != nil {
			return time.Time{}, fmt.Errorf("read record %d of partition %d: %w", p.from, p.id, err)
		}
		if r.Offset < p.from {
			continue // a batch may start before the offset asked for
		}
		var env struct {
			ReceivedAt time.Time `json:"received_at"`
		}
		if r.Value != nil {
			if err := json.NewDecoder(r.Value).Decode(&env); err == nil && !env.ReceivedAt.IsZero() {
				return env.ReceivedAt, nil
			}
		}
		if r.Time.Unix() <= 0 {
			return time.Time{}, fmt.Errorf("record %d of partition %d has no time", r.Offset, p.id)
		}
		return r.Time, nil
	}
}
