package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// The topic settings wagw applies to the topics it creates.
const (
	// DefaultReplicationFactor of the topics created on a real cluster:
	// with acks from all in-sync replicas and DefaultMinInsyncReplicas, an
	// acknowledged record is on two brokers and one broker can be down.
	// The embedded broker has one replica.
	DefaultReplicationFactor = 3
	// DefaultMinInsyncReplicas of the topics created on a real cluster,
	// never more than the replication factor less one (and at least 1).
	DefaultMinInsyncReplicas = 2
	// DefaultRetention keeps events for 7 days: as long as Meta retries a
	// webhook, so an event can be replayed for as long as a duplicate of
	// it can arrive.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultRetentionBytes caps each events partition at 1 GiB.
	DefaultRetentionBytes = 1 << 30
	// DefaultDeadLetterRetention keeps dead letters 30 days: long enough
	// for an operator to look at them after a holiday.
	DefaultDeadLetterRetention = 30 * 24 * time.Hour
	// DefaultDeadLetterRetentionBytes caps each dead-letter partition at
	// 256 MiB.
	DefaultDeadLetterRetentionBytes = 256 << 20
)

// TopicSettings are the settings of the events topic and its dead-letter
// topic when wagw creates them.
type TopicSettings struct {
	// Partitions of each topic. Default DefaultPartitions.
	Partitions int
	// ReplicationFactor of each topic. Default 1 (the embedded broker);
	// real clusters want DefaultReplicationFactor.
	ReplicationFactor int
	// MinInsyncReplicas (min.insync.replicas) of each topic. Default 1.
	MinInsyncReplicas int
	// Retention (retention.ms) and RetentionBytes (retention.bytes, per
	// partition; -1 for no cap) of the events topic. Defaults
	// DefaultRetention and DefaultRetentionBytes.
	Retention      time.Duration
	RetentionBytes int64
	// DeadLetterRetention and DeadLetterRetentionBytes are those of the
	// dead-letter topic. Defaults DefaultDeadLetterRetention and
	// DefaultDeadLetterRetentionBytes.
	DeadLetterRetention      time.Duration
	DeadLetterRetentionBytes int64
	// MaxMessageBytes is the largest record producers write; the topics
	// take batches a quarter larger (max.message.bytes). Default
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
}

// TopicSpec is one topic as wagw creates it.
type TopicSpec struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	// Configs are the topic's configuration entries (retention.ms, …).
	Configs map[string]string
}

// Specs are the events topic and its dead-letter topic with s's settings.
func (s TopicSettings) Specs(topic string) []TopicSpec {
	if s.Partitions <= 0 {
		s.Partitions = DefaultPartitions
	}
	if s.ReplicationFactor <= 0 {
		s.ReplicationFactor = 1
	}
	if s.MinInsyncReplicas <= 0 {
		s.MinInsyncReplicas = 1
	}
	if s.Retention <= 0 {
		s.Retention = DefaultRetention
	}
	if s.RetentionBytes == 0 {
		s.RetentionBytes = DefaultRetentionBytes
	}
	if s.DeadLetterRetention <= 0 {
		s.DeadLetterRetention = DefaultDeadLetterRetention
	}
	if s.DeadLetterRetentionBytes == 0 {
		s.DeadLetterRetentionBytes = DefaultDeadLetterRetentionBytes
	}
	if s.MaxMessageBytes <= 0 {
		s.MaxMessageBytes = DefaultMaxMessageBytes
	}
	spec := func(name string, keep time.Duration, bytes int64) TopicSpec {
		return TopicSpec{Name: name, Partitions: s.Partitions, ReplicationFactor: s.ReplicationFactor, Configs: map[string]string{
			"min.insync.replicas": strconv.Itoa(s.MinInsyncReplicas),
			"retention.ms":        strconv.FormatInt(keep.Milliseconds(), 10),
			"retention.bytes":     strconv.FormatInt(bytes, 10),
			"max.message.bytes":   strconv.Itoa(brokerMessageBytes(s.MaxMessageBytes)),
		}}
	}
	return []TopicSpec{
		spec(topic, s.Retention, s.RetentionBytes),
		spec(DeadLetterTopic(topic), s.DeadLetterRetention, s.DeadLetterRetentionBytes),
	}
}

// The settings of a topic that are not config entries, as TopicDiff
// names them.
const (
	settingPartitions  = "partitions"
	settingReplication = "replication factor"
)

// TopicDiff is a setting of an existing topic that differs from what wagw
// would have created.
type TopicDiff struct {
	Topic, Setting string
	Have, Want     string
}

func (d TopicDiff) String() string {
	return fmt.Sprintf("topic %s: %s is %s, wagw would create it with %s", d.Topic, d.Setting, d.Have, d.Want)
}

// TopicsReport says what SetupTopics did: the topics it created and the
// settings of the existing ones that differ from the specs.
type TopicsReport struct {
	Created []string
	Diffs   []TopicDiff
}

// SetupTopics creates the topics of specs that do not exist, with their
// settings, and compares the settings of those that exist with the specs:
// partitions, replication factor and every config entry of the spec.
// Existing topics are never changed. It speaks to brokers with sec.
func SetupTopics(ctx context.Context, brokers []string, sec Security, specs []TopicSpec) (TopicsReport, error) {
	var rep TopicsReport
	if len(brokers) == 0 {
		return rep, errors.New("no brokers configured")
	}
	conns := sec.Transport(10 * time.Second)
	defer conns.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: conns}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := describeTopics(ctx, client, names)
	if err != nil {
		return rep, err
	}
	var create []kafka.TopicConfig
	for _, s := range specs {
		if _, ok := existing[s.Name]; !ok {
			create = append(create, topicConfig(s))
		}
	}
	if len(create) > 0 {
		resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
		if err != nil {
			return rep, fmt.Errorf("create topics: %w", Explain(err))
		}
		raced := false
		for _, c := range create {
			switch err := resp.Errors[c.Topic]; {
			case err == nil:
				rep.Created = append(rep.Created, c.Topic)
			case errors.Is(err, kafka.TopicAlreadyExists):
				raced = true // another wagw created it a moment ago
			default:
				return rep, fmt.Errorf("create topic %s with %d partitions and replication factor %d: %w", c.Topic, c.NumPartitions, c.ReplicationFactor, err)
			}
		}
		if raced {
			if existing, err = describeTopics(ctx, client, names); err != nil {
				return rep, err
			}
		}
	}
	for _, s := range specs {
		if have, ok := existing[s.Name]; ok && !slices.Contains(rep.Created, s.Name) {
			rep.Diffs = append(rep.Diffs, compareTopic(s, have)...)
		}
	}
	return rep, nil
}

func topicConfig(s TopicSpec) kafka.TopicConfig {
	c := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor}
	for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
		c.ConfigEntries = append(c.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: s.Configs[k]})
	}
	return c
}

// topicState is what a cluster says of an existing topic.
type topicState struct {
	partitions, replicas int
	configs              map[string]string
}

// describeTopics reads the partitions, replication factor and configs of
// those of names that exist.
func describeTopics(ctx context.Context, client *kafka.Client, names []string) (map[string]topicState, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w", Explain(err))
	}
	out := map[string]topicState{}
	var res []kafka.DescribeConfigRequestResource
	for _, t := range md.Topics {
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("kafka metadata of %s: %w", t.Name, t.Error)
		}
		st := topicState{partitions: len(t.Partitions), configs: map[string]string{}}
		for i, p := range t.Partitions {
			if i == 0 || len(p.Replicas) < st.replicas {
				st.replicas = len(p.Replicas)
			}
		}
		out[t.Name] = st
		res = append(res, kafka.DescribeConfigRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: t.Name})
	}
	if len(res) == 0 {
		return out, nil
	}
	dc, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: res})
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	for _, r := range dc.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describe the configs of topic %s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			out[r.ResourceName].configs[e.ConfigName] = e.ConfigValue
		}
	}
	return out, nil
}

// compareTopic lists the settings of an existing topic that differ from
// its spec.
func compareTopic(s TopicSpec, have topicState) []TopicDiff {
	var diffs []TopicDiff
	if have.partitions != s.Partitions {
		diffs = append(diffs, TopicDiff{s.Name, settingPartitions, strconv.Itoa(have.partitions), strconv.Itoa(s.Partitions)})
	}
	if have.replicas != s.ReplicationFactor {
		diffs = append(diffs, TopicDiff{s.Name, settingReplication, strconv.Itoa(have.replicas), strconv.Itoa(s.ReplicationFactor)})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Configs)) {
		v, ok := have.configs[k]
		if !ok {
			v = "unknown"
		}
		if v != s.Configs[k] {
			diffs = append(diffs, TopicDiff{s.Name, k, v, s.Configs[k]})
		}
	}
	return diffs
}

// AlignTopicConfigs sets on existing topics the config entries that diffs
// found different (retention, min.insync.replicas, max.message.bytes),
// for a cluster wagw owns: the embedded broker. Partition counts and
// replication factors are left as they are. It returns the differences
// it resolved.
func AlignTopicConfigs(ctx context.Context, brokers []string, sec Security, diffs []TopicDiff) ([]TopicDiff, error) {
	var res []kafka.IncrementalAlterConfigsRequestResource
	var fixed []TopicDiff
	at := map[string]int{} // topic → index in res
	for _, d := range diffs {
		if d.Setting == settingPartitions || d.Setting == settingReplication {
			continue
		}
		i, ok := at[d.Topic]
		if !ok {
			i = len(res)
			at[d.Topic] = i
			res = append(res, kafka.IncrementalAlterConfigsRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: d.Topic})
		}
		res[i].Configs = append(res[i].Configs, kafka.IncrementalAlterConfigsRequestConfig{Name: d.Setting, Value: d.Want})
		fixed = append(fixed, d)
	}
	if len(res) == 0 {
		return nil, nil
	}
	conns := sec.Transport(10 * time.Second)
	defer conns.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: conns}
	resp, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: res})
	if err != nil {
		return nil, fmt.Errorf("alter topic configs: %w", Explain(err))
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("alter the configs of topic %s: %w", r.ResourceName, r.Error)
		}
	}
	return fixed, nil
}
