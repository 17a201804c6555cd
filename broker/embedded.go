package broker

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedConfig configures the in-process broker.
type EmbeddedConfig struct {
	// Addr is where the broker listens. Default DefaultEmbeddedAddr.
	Addr string
	// DataDir keeps the log across restarts. Empty keeps it in memory.
	DataDir string
	// Topics to create with Partitions partitions when they do not exist.
	Topics []string
	// Partitions per topic. Default DefaultPartitions.
	Partitions int
	// MaxMessageBytes is the largest record producers write
	// (ProducerConfig.MaxMessageBytes). The broker takes batches up to a
	// quarter more, room for the batch framing and for compression that
	// grows incompressible data. Default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// NoSync skips the fsync of every write: an acknowledged event then
	// survives a crash of the process but not of the machine. Default false.
	NoSync bool
}

// Embedded is a running in-process Kafka-protocol broker.
type Embedded struct {
	cluster *kfake.Cluster
	addr    string
}

// StartEmbedded starts the broker. Every acknowledged write is fsynced to
// DataDir, so a restart on the same directory keeps it.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultEmbeddedAddr
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	addr := cfg.Addr
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.SeedTopics(int32(cfg.Partitions), cfg.Topics...),
		kfake.ClusterID("wagw-embedded"),
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(brokerMessageBytes(cfg.MaxMessageBytes))}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if !cfg.NoSync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on %s: %w", cfg.Addr, err)
	}
	for _, t := range cfg.Topics { // topics seeded only on a fresh data dir
		if c.TopicInfo(t) == nil {
			if err := c.CreateTopic(t, int32(cfg.Partitions), nil); err != nil {
				c.Close()
				return nil, fmt.Errorf("create topic %s: %w", t, err)
			}
		}
	}
	return &Embedded{cluster: c, addr: c.ListenAddrs()[0]}, nil
}

// brokerMessageBytes is the batch size a broker must take for producers
// that write records up to maxRecord bytes.
func brokerMessageBytes(maxRecord int) int { return maxRecord + maxRecord/4 }

// Addr is the address clients connect to.
func (e *Embedded) Addr() string { return e.addr }

// Close stops the broker and flushes its files.
func (e *Embedded) Close() { e.cluster.Close() }
