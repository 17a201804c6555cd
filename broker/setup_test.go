package broker_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wagw/wagw/broker"
)

// TestSetupTopicsCreatesWithTheSettings: missing topics are created with
// their partitions, replication factor, min.insync.replicas, retention and
// record limit, the dead-letter topic with its own retention; a second
// run finds them as wanted and reports no difference.
func TestSetupTopicsCreatesWithTheSettings(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	settings := broker.TopicSettings{Partitions: 5, ReplicationFactor: 3, MinInsyncReplicas: 2,
		Retention: 48 * time.Hour, RetentionBytes: 64 << 20, DeadLetterRetention: 240 * time.Hour, DeadLetterRetentionBytes: -1,
		MaxMessageBytes: 2 << 20}
	specs := settings.Specs("orders")
	rep, err := broker.SetupTopics(ctx, c.ListenAddrs(), broker.Security{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Created, []string{"orders", "orders.dlq"}) || len(rep.Diffs) != 0 {
		t.Fatalf("first setup: %+v, want both topics created and no differences", rep)
	}
	want := map[string]map[string]string{
		"orders": {"retention.ms": strconv.Itoa(48 * 3600 * 1000), "retention.bytes": strconv.Itoa(64 << 20),
			"min.insync.replicas": "2", "max.message.bytes": strconv.Itoa(2<<20 + 2<<20/4)},
		"orders.dlq": {"retention.ms": strconv.Itoa(240 * 3600 * 1000), "retention.bytes": "-1",
			"min.insync.replicas": "2", "max.message.bytes": strconv.Itoa(2<<20 + 2<<20/4)},
	}
	for topic, configs := range want {
		info := c.TopicInfo(topic)
		if info == nil || info.NumReplicas != 3 {
			t.Fatalf("topic %s: %+v, want 3 replicas", topic, info)
		}
		for k, v := range configs {
			if got := info.Configs[k]; got == nil || *got != v {
				t.Errorf("topic %s: %s = %v, want %s", topic, k, got, v)
			}
		}
	}
	rep, err = broker.SetupTopics(ctx, c.ListenAddrs(), broker.Security{}, specs)
	if err != nil || len(rep.Created) != 0 || len(rep.Diffs) != 0 {
		t.Fatalf("second setup: %+v %v, want nothing created and no differences", rep, err)
	}
}

// TestSetupTopicsReportsDifferencesAndChangesNothing: topics that exist
// with other settings are reported setting by setting and left as they
// are.
func TestSetupTopicsReportsDifferencesAndChangesNothing(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateTopic("events", 2, map[string]string{"retention.ms": "3600000"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	specs := broker.TopicSettings{Partitions: 4, ReplicationFactor: 3, MinInsyncReplicas: 2}.Specs("events")
	rep, err := broker.SetupTopics(ctx, c.ListenAddrs(), broker.Security{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Created, []string{"events.dlq"}) {
		t.Errorf("created %v, want only the missing dead-letter topic", rep.Created)
	}
	got := map[string]broker.TopicDiff{}
	for _, d := range rep.Diffs {
		if d.Topic != "events" {
			t.Errorf("difference on %s, which wagw just created: %v", d.Topic, d)
		}
		got[d.Setting] = d
	}
	for setting, have := range map[string]string{"partitions": "2", "retention.ms": "3600000", "min.insync.replicas": "1",
		"retention.bytes": "-1", "max.message.bytes": "1048588"} {
		if d, ok := got[setting]; !ok || d.Have != have {
			t.Errorf("difference in %s: %+v, want it reported as %s (all: %v)", setting, d, have, rep.Diffs)
		}
	}
	if d, ok := got["replication factor"]; ok {
		t.Errorf("replication reported as different: %v (kfake's default is 3 replicas on 3 brokers)", d)
	}
	rep, err = broker.SetupTopics(ctx, c.ListenAddrs(), broker.Security{}, broker.TopicSettings{Partitions: 4, ReplicationFactor: 2}.Specs("events"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Diffs, broker.TopicDiff{Topic: "events.dlq", Setting: "replication factor", Have: "3", Want: "2"}) {
		t.Errorf("a replication factor of 3 where 2 is wanted is not reported: %v", rep.Diffs)
	}
	if info := c.TopicInfo("events"); *info.Configs["retention.ms"] != "3600000" {
		t.Errorf("the existing topic was changed: retention.ms %s", *info.Configs["retention.ms"])
	}
	if want := "topic events: partitions is 2, wagw would create it with 4"; got["partitions"].String() != want {
		t.Errorf("the log says %q, want %q", got["partitions"].String(), want)
	}
}

// TestAlignTopicConfigs: on a cluster wagw owns, the config entries that
// differ are set; partitions and replication stay as they are.
func TestAlignTopicConfigs(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, topic := range []string{"events", "events.dlq"} {
		if err := c.CreateTopic(topic, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	specs := broker.TopicSettings{Partitions: 4}.Specs("events")
	rep, err := broker.SetupTopics(ctx, c.ListenAddrs(), broker.Security{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	fixed, err := broker.AlignTopicConfigs(ctx, c.ListenAddrs(), broker.Security{}, rep.Diffs)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != len(rep.Diffs)-2 {
		t.Errorf("resolved %v of %v, want all but the two partition counts", fixed, rep.Diffs)
	}
	rep, err = broker.SetupTopics(ctx, c.ListenAddrs(), broker.Security{}, specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Diffs) != 2 || rep.Diffs[0].Setting != "partitions" || rep.Diffs[1].Setting != "partitions" {
		t.Errorf("after aligning: %v, want only the partition counts left", rep.Diffs)
	}
	if got := *c.TopicInfo("events.dlq").Configs["retention.ms"]; got != strconv.Itoa(30*24*3600*1000) {
		t.Errorf("dead-letter retention.ms %s after aligning", got)
	}
}

// TestSetupTopicsSaysWhyCreationFails: a replication factor the cluster
// cannot give is refused with the settings wagw asked for.
func TestSetupTopicsSaysWhyCreationFails(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = broker.SetupTopics(ctx, c.ListenAddrs(), broker.Security{}, broker.TopicSettings{Partitions: 3, ReplicationFactor: 3}.Specs("events"))
	if err == nil || !strings.Contains(err.Error(), "create topic events with 3 partitions and replication factor 3") ||
		!strings.Contains(err.Error(), "Replication Factor") {
		t.Fatalf("creating with 3 replicas on one broker: %v", err)
	}
}
