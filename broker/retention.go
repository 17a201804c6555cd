package broker

import (
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// retention enforces the retention.ms and retention.bytes of the embedded
// broker's topics, as Kafka does (the older records of a partition go
// first), with one difference that keeps the consumer's promise: on a
// protected topic no record is deleted that a protecting consumer group
// has not committed yet. Memory and disk are bounded by the limits plus
// the backlog the consumer has not caught up with; a consumer that stops
// keeps its backlog until it comes back, which is what at-least-once
// delivery needs.
//
// Each check trims a partition to the lowest of: the first offset the
// limits keep, and the committed offset of every protecting group.
// retention.ms keeps records written since now-retention.ms, by the write
// times the check sampled (the partition's end offset at each check), so
// after a restart the clock starts again for what was written before;
// retention.bytes keeps the newest records whose share of the
// partition's bytes, at its average record size, fits the limit. kfake
// deletes a segment file once every record in it is trimmed.
type retention struct {
	c       *kfake.Cluster
	topics  []string
	protect map[string][]string
	now     func() time.Time
	samples map[string][]endSample // per "topic/partition"
	quit    chan struct{}
	wg      sync.WaitGroup
}

// endSample is a partition's end offset at a time: every record below it
// was written before then.
type endSample struct {
	at  time.Time
	end int64
}

func startRetention(c *kfake.Cluster, topics []string, protect map[string][]string, every time.Duration) *retention {
	r := newRetention(c, topics, protect)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
				r.enforce()
			}
		}
	}()
	return r
}

func newRetention(c *kfake.Cluster, topics []string, protect map[string][]string) *retention {
	return &retention{c: c, topics: topics, protect: protect, now: time.Now,
		samples: map[string][]endSample{}, quit: make(chan struct{})}
}

func (r *retention) stop() {
	close(r.quit)
	r.wg.Wait()
}

// enforce checks every topic once and returns how many records it
// deleted.
func (r *retention) enforce() int64 {
	var deleted int64
	for _, topic := range r.topics {
		ti := r.c.TopicInfo(topic)
		if ti == nil {
			continue
		}
		retMs, retBytes := configInt(ti.Configs, "retention.ms"), configInt(ti.Configs, "retention.bytes")
		floors := r.committedFloors(topic)
		for _, p := range r.c.PartitionInfos(topic) {
			to := r.keepFrom(topic, p, retMs, retBytes)
			if floors != nil {
				to = min(to, floors(p.Partition))
			}
			if to <= p.LogStartOffset {
				continue
			}
			if err := r.c.DeleteRecords(topic, p.Partition, to); err == nil {
				deleted += to - p.LogStartOffset
			}
		}
	}
	return deleted
}

// keepFrom is the first offset of p that the limits keep (its log start
// offset when they keep everything).
func (r *retention) keepFrom(topic string, p *kfake.PartitionInfo, retMs, retBytes int64) int64 {
	now := r.now()
	key := topic + "/" + strconv.Itoa(int(p.Partition))
	s := append(r.samples[key], endSample{at: now, end: p.HighWatermark})
	to := p.LogStartOffset
	if retMs >= 0 {
		cut := now.Add(-time.Duration(retMs) * time.Millisecond)
		i := 0 // drop the samples older than the newest one at or before cut
		for i+1 < len(s) && !s[i+1].at.After(cut) {
			i++
		}
		s = s[i:]
		if !s[0].at.After(cut) {
			to = max(to, s[0].end)
		}
	} else {
		s = s[len(s)-1:]
	}
	r.samples[key] = s
	records := p.HighWatermark - p.LogStartOffset
	if retBytes >= 0 && p.NumBytes > retBytes && records > 0 {
		keep := int64(float64(retBytes) / (float64(p.NumBytes) / float64(records)))
		to = max(to, p.HighWatermark-keep)
	}
	return min(to, p.HighWatermark)
}

// committedFloors returns, for a protected topic, the offset below which
// every protecting group has committed on a partition (0 where one has
// not committed); nil for a topic no group protects.
func (r *retention) committedFloors(topic string) func(partition int32) int64 {
	groups := r.protect[topic]
	if len(groups) == 0 {
		return nil
	}
	commits := make([]map[int32]kfake.GroupCommit, 0, len(groups))
	for _, g := range groups {
		var byPart map[int32]kfake.GroupCommit
		if gi := r.c.GroupInfo(g); gi != nil {
			byPart = gi.Commits[topic]
		}
		commits = append(commits, byPart)
	}
	return func(partition int32) int64 {
		floor := int64(-1)
		for _, byPart := range commits {
			c, ok := byPart[partition]
			if !ok || c.Offset < 0 {
				return 0
			}
			if floor < 0 || c.Offset < floor {
				floor = c.Offset
			}
		}
		return max(floor, 0)
	}
}

// configInt reads an integer topic setting; -1 (no limit) when it is
// missing or not a number.
func configInt(cfgs map[string]*string, name string) int64 {
	v, ok := cfgs[name]
	if !ok || v == nil {
		return -1
	}
	n, err := strconv.ParseInt(*v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
