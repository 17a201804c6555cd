package broker

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
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
	// NoSync answers a Produce as soon as its batches are written to the
	// page cache, without waiting for the group flush: an acknowledged
	// event then survives a crash of the process but not of the machine.
	// Default false.
	NoSync bool
	// FlushTimeout bounds how long a Produce answer waits for its flush;
	// past it the connection is closed and the client retries. Default 10 s.
	FlushTimeout time.Duration
	// TopicConfigs are set on every topic the broker creates (Kafka topic
	// settings such as retention.ms, retention.bytes, segment.bytes).
	// Topics that exist keep the settings they were created with.
	// retention.ms and retention.bytes are enforced by the broker every
	// RetentionInterval, within the limits of Protect.
	TopicConfigs map[string]string
	// RetentionInterval is how often retention is enforced. Default 1 min.
	RetentionInterval time.Duration
	// Protect names, per topic, the consumer groups whose uncommitted
	// records retention never deletes: a partition is trimmed at most up
	// to the lowest offset these groups committed on it, and not at all
	// while one of them has committed nothing there. Topics not named
	// here are trimmed by their limits alone.
	Protect map[string][]string

	journalBytes    int64         // each journal file's size; default journalBytes (tests make it small)
	checkpointEvery time.Duration // default checkpointEvery (tests change it)
}

// Embedded is a running in-process Kafka-protocol broker.
type Embedded struct {
	cluster  *kfake.Cluster
	addr     string
	sync     *groupSync              // the log files' flush; nil without a data dir, or with NoSync
	wal      atomic.Pointer[journal] // the journal, once open (not with NoSync)
	replayed int                     // records the journal gave back at start-up
	filled   int                     // gap fillers the replay wrote in place of records never acknowledged
	// clusterMu guards clusterClosed: kfake's admin calls (partitionEnd)
	// would wait forever on a closed cluster.
	clusterMu     sync.RWMutex
	clusterClosed bool
	inproc        *inprocListener
	retention     *retention
	closeOnce     sync.Once
}

// neverClean is the broker's log.cleaner.backoff.ms: kfake's own
// retention ticker would delete records no consumer has committed, so it
// is pushed out of reach and retention.go enforces the limits instead.
const neverClean = 100 * 365 * 24 * time.Hour

// StartEmbedded starts the broker. With a DataDir and without NoSync,
// every Produce is answered only once its batches are durable (in the
// journal, journal.go), so a restart on the same directory keeps every
// acknowledged record, after a kill -9 or a power cut alike: it first
// replays from the journal what the log files lost.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	return startEmbedded(cfg, nil)
}

// startEmbedded starts the broker; syncFile replaces (*os.File).Sync in
// the group flush (a test's hook).
func startEmbedded(cfg EmbeddedConfig, syncFile func(*os.File) error) (*Embedded, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultEmbeddedAddr
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = DefaultPartitions
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 10 * time.Second
	}
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = time.Minute
	}
	e := &Embedded{}
	if cfg.DataDir != "" && !cfg.NoSync {
		e.sync = newGroupSync(cfg.DataDir, syncFile)
	}
	addr := cfg.Addr
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			l, err := net.Listen(network, addr)
			if err != nil {
				return nil, err
			}
			e.inproc = newInprocListener(l)
			if e.sync == nil {
				return e.inproc, nil
			}
			return &durableListener{Listener: e.inproc, logs: e.sync, wal: &e.wal, timeout: cfg.FlushTimeout}, nil
		}),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.ClusterID("wagw-embedded"),
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.BrokerConfigs(map[string]string{
			"message.max.bytes":      strconv.Itoa(brokerMessageBytes(cfg.MaxMessageBytes)),
			"log.cleaner.backoff.ms": strconv.FormatInt(neverClean.Milliseconds(), 10),
		}),
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if e.sync != nil {
			e.sync.close()
		}
		return nil, fmt.Errorf("start embedded kafka on %s: %w", cfg.Addr, err)
	}
	e.cluster, e.addr = c, c.ListenAddrs()[0]
	for _, t := range cfg.Topics { // topics that exist keep their settings
		if c.TopicInfo(t) == nil {
			if err := c.CreateTopic(t, int32(cfg.Partitions), maps.Clone(cfg.TopicConfigs)); err != nil {
				e.Close()
				return nil, fmt.Errorf("create topic %s: %w", t, err)
			}
		}
	}
	if e.sync != nil {
		if err := e.openJournal(cfg, syncFile); err != nil {
			e.Close()
			return nil, fmt.Errorf("embedded kafka in %s: %w", cfg.DataDir, err)
		}
	}
	e.inproc.openTCP()
	e.retention = startRetention(c, cfg.Topics, cfg.Protect, cfg.RetentionInterval)
	return e, nil
}

// openJournal replays what the journal holds and the log lost, makes the
// log durable, then opens the journal for the Produce answers to wait on.
// Until it is open only the replay produces (TCP connections wait,
// inproc.go): its answers do not wait for a flush, one flush at the end
// covers them all.
func (e *Embedded) openJournal(cfg EmbeddedConfig, hook func(*os.File) error) error {
	recs, top, err := readJournal(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("read the journal: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), replayTimeout)
	defer cancel()
	conns := e.Security().Transport(10 * time.Second)
	defer conns.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(e.addr), Timeout: 30 * time.Second, Transport: conns}
	if len(recs) > 0 {
		if e.replayed, e.filled, err = replayJournal(ctx, recs, e.partitionEnd, client); err != nil {
			return err
		}
	}
	filled, err := fillToCommits(ctx, cfg.Protect, e.committed, e.partitionEnd, client)
	if err != nil {
		return err
	}
	e.filled += filled
	// The log as kfake read it (and as the replay completed it) is made
	// durable, so that the first mark below may say where it ends.
	if err := e.sync.Sync(ctx); err != nil {
		return err
	}
	size := cfg.journalBytes
	if size <= 0 {
		size = journalBytes
	}
	every := cfg.checkpointEvery
	if every <= 0 {
		every = checkpointEvery
	}
	if hook == nil {
		hook = fdatasync
	}
	// A generation above any the files held, and above any an earlier
	// run used (their wiped files no longer say): the clock's.
	gen := max(top+1, uint64(time.Now().UnixNano()))
	j, err := openJournal(cfg.DataDir, size, every, gen, hook, e.sync, e.logEnds)
	if err != nil {
		return fmt.Errorf("open the journal: %w", err)
	}
	if err := j.mark(e.logEnds()); err != nil {
		j.close()
		return fmt.Errorf("mark the journal: %w", err)
	}
	e.wal.Store(j)
	return nil
}

// committed is the offsets a consumer group committed on a topic's
// partitions.
func (e *Embedded) committed(group, topic string) map[int32]int64 {
	e.clusterMu.RLock()
	defer e.clusterMu.RUnlock()
	if e.clusterClosed {
		return nil
	}
	gi := e.cluster.GroupInfo(group)
	if gi == nil {
		return nil
	}
	out := map[int32]int64{}
	for p, c := range gi.Commits[topic] {
		out[p] = c.Offset
	}
	return out
}

// logEnds is where each partition of the log ends; the partitions are
// the directories kfake keeps them in (partitions/<topic>-<n>).
func (e *Embedded) logEnds() []partitionFloor {
	ents, err := os.ReadDir(e.sync.root)
	if err != nil {
		return nil
	}
	var out []partitionFloor
	for _, ent := range ents {
		i := strings.LastIndexByte(ent.Name(), '-')
		if !ent.IsDir() || i < 0 {
			continue
		}
		topic, err := url.PathUnescape(ent.Name()[:i])
		if err != nil {
			continue
		}
		p, err := strconv.ParseInt(ent.Name()[i+1:], 10, 32)
		if err != nil {
			continue
		}
		if end, ok := e.partitionEnd(topic, int32(p)); ok {
			out = append(out, partitionFloor{Topic: topic, Partition: int32(p), End: end})
		}
	}
	return out
}

// partitionEnd is the offset after the partition's last record.
func (e *Embedded) partitionEnd(topic string, partition int32) (int64, bool) {
	e.clusterMu.RLock()
	defer e.clusterMu.RUnlock()
	if e.clusterClosed {
		return 0, false
	}
	pi := e.cluster.PartitionInfo(topic, partition)
	if pi == nil {
		return 0, false
	}
	return pi.HighWatermark, true
}

// brokerMessageBytes is the batch size a broker must take for producers
// that write records up to maxRecord bytes.
func brokerMessageBytes(maxRecord int) int { return maxRecord + maxRecord/4 }

// FlushStats is how many group flushes the broker ran, and how many files
// and directories they synced, since it started: zeros when it answers
// without waiting for a flush (no DataDir, or NoSync).
func (e *Embedded) FlushStats() (flushes, synced int64) {
	if e.sync == nil {
		return 0, 0
	}
	flushes, synced = e.sync.flushes.Load(), e.sync.fsyncs.Load()
	if j := e.wal.Load(); j != nil {
		flushes, synced = flushes+j.group.flushes.Load(), synced+j.syncs.Load()
	}
	return flushes, synced
}

// JournalStats is how many checkpoints the journal ran since the broker
// started, and how many records it replayed at start-up.
func (e *Embedded) JournalStats() (checkpoints int64, replayed int) {
	if j := e.wal.Load(); j != nil {
		checkpoints = j.checkpoints.Load()
	}
	return checkpoints, e.replayed
}

// GapFillers is how many gap fillers the start wrote, one for each record
// that the log lost and that was never acknowledged, before records that
// were or under a protected group's committed offset (replay.go).
func (e *Embedded) GapFillers() int { return e.filled }

// InProcessConns is how many in-process connections (Security) were
// opened to the broker since it started.
func (e *Embedded) InProcessConns() int64 { return e.inproc.dials.Load() }

// Addr is the address clients connect to.
func (e *Embedded) Addr() string { return e.addr }

// Security is how this process's clients connect to the broker: through
// in-process connections (a net.Pipe, no loopback socket), plaintext.
// Clients of other processes use Addr.
func (e *Embedded) Security() Security {
	return Security{dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		if address == e.addr {
			return e.inproc.dial(ctx)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}}
}

// Close stops the broker and flushes its files. It may be called again.
func (e *Embedded) Close() {
	e.closeOnce.Do(func() {
		if e.retention != nil {
			e.retention.stop()
		}
		e.clusterMu.Lock() // kfake's admin calls block once it is closed
		e.clusterClosed = true
		e.clusterMu.Unlock()
		e.cluster.Close()
		if j := e.wal.Load(); j != nil {
			j.close()
		}
		if e.sync != nil {
			e.sync.close()
		}
	})
}
