package consumer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/broker"
	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/outage"
)

// Store applies a batch of events in one transaction.
type Store interface {
	// Apply applies events in order, all or nothing. An error that has a
	// PoisonIndex() int method names an event that retrying cannot fix; any
	// other error is retried.
	Apply(ctx context.Context, events []event.Envelope, now time.Time) error
	// Block marks a contact blocked after one of its events was dead-lettered.
	Block(ctx context.Context, key, reason string) error
}

// DeadLetters takes records that cannot be applied.
type DeadLetters interface {
	PublishRaw(ctx context.Context, topic string, key, value []byte, headers map[string]string) error
}

// Defaults of Config.
const (
	DefaultWorkers        = 4
	DefaultMaxBatch       = 500
	DefaultSessionTimeout = 10 * time.Second
	DefaultStallTimeout   = 20 * time.Second
	DefaultLagInterval    = 10 * time.Second
	DefaultFetchMaxBytes  = 1 << 20
	DefaultLinger         = 50 * time.Millisecond
	DefaultFetchWait      = 20 * time.Millisecond
	// fetchMinBytes is what a fetch waits to gather on the broker, for at
	// most FetchWait.
	fetchMinBytes = 64 << 10
)

// Config configures a Consumer.
type Config struct {
	Brokers []string
	// Security of the connections to Brokers (the group's readers and
	// the lag and coordinator checks). Default: plaintext without
	// authentication.
	Security broker.Security
	// Topic to consume. Default broker.DefaultTopic.
	Topic string
	// DeadLetterTopic receives poison records. Default
	// broker.DeadLetterTopic(Topic).
	DeadLetterTopic string
	// GroupID of the consumer group. Default "wagw".
	GroupID string
	// Workers is the number of group members in this process; each owns
	// whole partitions. Default DefaultWorkers (4). More than the
	// partition count idles.
	Workers int
	// MaxBatch is the most records applied in one transaction. Default
	// DefaultMaxBatch (500).
	MaxBatch int
	// FetchMaxBytes is the most bytes one fetch asks for from a
	// partition. A record larger than this still arrives whole (a broker
	// always answers with at least the first batch). A fetch of a few
	// batches keeps a worker supplied (a batch of 500 typical records is
	// about half a MiB); the embedded broker builds each answer in memory,
	// so larger fetches only hold more memory. Default
	// DefaultFetchMaxBytes (1 MiB).
	FetchMaxBytes int
	// FetchWait is how long a fetch may wait on the broker for 64 KiB of
	// records (FetchMaxBytes when less) before it returns what there is: under load one fetch then
	// brings a partition's records of the last milliseconds instead of
	// one produce's, for less CPU per record on both sides, and a quiet
	// partition's record waits at most this long. Negative: a fetch
	// returns as soon as a record is there (and after 250 ms without
	// one). Default DefaultFetchWait (20 ms).
	FetchWait time.Duration
	// Linger bounds how long a worker waits to fill a batch once it has
	// one record: it waits as long as its last batch took to apply, at
	// most Linger. A quiet worker applies a lone record at once; a busy
	// one gathers what arrives meanwhile into one transaction (fewer
	// commits: less Postgres CPU for the same records). Default
	// DefaultLinger (50 ms).
	Linger time.Duration
	// RetryMin and RetryMax bound the backoff for transient failures.
	// Defaults 50 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// SessionTimeout of the group membership. Default
	// DefaultSessionTimeout (10 s).
	SessionTimeout time.Duration
	// StallTimeout: when every worker of this process has waited this long
	// for records while the group has records it has not committed, the
	// workers leave and rejoin the group (a rebalance can leave a
	// partition without a reader). Default DefaultStallTimeout (20 s).
	StallTimeout time.Duration
	// LagInterval is how often the group's lag per partition is measured
	// for the metrics (only with a Registerer). Default DefaultLagInterval
	// (10 s).
	LagInterval time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger. Required.
	Logger *slog.Logger
	// Registerer for metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Consumer runs the consumer group.
type Consumer struct {
	cfg   Config
	store Store
	dlq   DeadLetters
	log   *slog.Logger
	m     *metrics

	progress atomic.Int64 // unix nanos of the last batch done or reader start
	inFlight atomic.Int64 // batches being applied
	start    startGate    // every worker joined the group once (joined.go)

	pg, kafka *outage.Dependency
	conns     *kafka.Transport // the lag and coordinator checks' connections
}

// New builds a Consumer.
func New(cfg Config, store Store, dlq DeadLetters) *Consumer {
	if cfg.Topic == "" {
		cfg.Topic = broker.DefaultTopic
	}
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = broker.DeadLetterTopic(cfg.Topic)
	}
	if cfg.GroupID == "" {
		cfg.GroupID = "wagw"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.FetchWait == 0 {
		cfg.FetchWait = DefaultFetchWait
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 50 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Second
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.LagInterval <= 0 {
		cfg.LagInterval = DefaultLagInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Consumer{cfg: cfg, store: store, dlq: dlq, log: cfg.Logger, m: newMetrics(cfg.Registerer),
		pg:    outage.NewDependency("consumer", "postgres", cfg.Logger, cfg.Registerer),
		kafka: outage.NewDependency("consumer", "kafka", cfg.Logger, cfg.Registerer),
		conns: cfg.Security.Transport(5 * time.Second),
		start: newStartGate(cfg.Workers, min(cfg.SessionTimeout, maxStartWait))}
}

// Health is nil while the consumer's calls to Kafka and Postgres work, and
// otherwise says which fail and since when (for /readyz). The consumer
// retries through an outage of any length and resumes by itself.
func (c *Consumer) Health() error {
	return outage.FirstErr(c.pg, c.kafka)
}

// Run consumes until ctx is cancelled, then finishes the batch in hand,
// commits it, and leaves the group.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.conns.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, c.cfg.Workers)
	restarts := make([]chan struct{}, c.cfg.Workers)
	c.progress.Store(time.Now().UnixNano())
	for i := range restarts {
		restarts[i] = make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.worker(ctx, i, restarts[i]); err != nil {
				errs <- err
			}
		}()
	}
	wctx, stopWatch := context.WithCancel(ctx)
	go c.watch(wctx, restarts)
	if c.cfg.Registerer != nil {
		go c.measureLag(wctx)
	}
	wg.Wait()
	stopWatch()
	close(errs)
	return <-errs
}

// watch restarts the workers when none of them has had a record for
// StallTimeout while the group lags behind the topic.
func (c *Consumer) watch(ctx context.Context, restarts []chan struct{}) {
	t := time.NewTicker(c.cfg.StallTimeout / 4)
	defer t.Stop()
	suspect := false // the previous check saw records waiting
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, c.progress.Load()))
		if c.inFlight.Load() > 0 || idle < c.cfg.StallTimeout {
			suspect = false
			continue
		}
		lag, err := c.lag(ctx)
		if err != nil || lag == 0 {
			suspect = false
			continue
		}
		if !suspect {
			// Records may have arrived a moment ago: they must still wait,
			// with no batch done, at the next check.
			suspect = true
			continue
		}
		suspect = false
		c.log.Warn("consumer: records wait but no worker got any; rejoining the group", "lag", lag, "idle", idle.Round(time.Second))
		c.m.rejoins.Inc()
		c.progress.Store(time.Now().UnixNano())
		for _, r := range restarts {
			select {
			case r <- struct{}{}:
			default:
			}
		}
	}
}

func (c *Consumer) newReader() *kafka.Reader {
	minBytes, maxWait := min(fetchMinBytes, c.cfg.FetchMaxBytes), c.cfg.FetchWait
	if maxWait < 0 {
		minBytes, maxWait = 1, 250*time.Millisecond
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           c.cfg.Brokers,
		Dialer:            readerDialer(c.cfg.Security, 10*time.Second),
		GroupID:           c.cfg.GroupID,
		Topic:             c.cfg.Topic,
		StartOffset:       kafka.FirstOffset,
		MinBytes:          minBytes,
		MaxBytes:          c.cfg.FetchMaxBytes,
		MaxWait:           readerMaxWait(maxWait),
		QueueCapacity:     c.cfg.MaxBatch,
		CommitInterval:    0, // commits are synchronous, after the transaction
		HeartbeatInterval: time.Second,
		SessionTimeout:    c.cfg.SessionTimeout,
		RebalanceTimeout:  c.cfg.SessionTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    500 * time.Millisecond,
		Logger:            kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug("kafka: " + fmt.Sprintf(msg, args...)) }),
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { c.log.Debug("kafka reader: " + fmt.Sprintf(msg, args...)) }),
	})
}

// worker is one group member: fetch, batch, apply, commit. On a restart
// signal, or once the brokers answer again after its reader gave up, it
// joins again as a new member.
func (c *Consumer) worker(ctx context.Context, i int, restart <-chan struct{}) error {
	for {
		rejoin, err := c.consume(ctx, i, restart)
		if !rejoin || err != nil {
			return err
		}
	}
}

func (c *Consumer) consume(ctx context.Context, worker int, restart <-chan struct{}) (rejoin bool, err error) {
	r := c.newReader()
	defer r.Close()

	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	go c.start.await(fetchCtx, worker, r)
	in := make(chan kafka.Message, c.cfg.MaxBatch)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(in)
		for {
			m, err := r.FetchMessage(fetchCtx)
			if err != nil {
				if fetchCtx.Err() == nil {
					fetchErr <- err
				}
				return
			}
			c.kafka.OK()
			select {
			case in <- m:
			case <-fetchCtx.Done():
				return
			}
		}
	}()

	batch := make([]kafka.Message, 0, c.cfg.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var wait time.Duration
	for {
		batch = batch[:0]
		select {
		case m, ok := <-in:
			if !ok {
				select {
				case err := <-fetchErr:
					return c.fetchFailed(ctx, err), nil
				default:
					return false, nil
				}
			}
			batch = append(batch, m)
		case <-restart:
			return true, nil
		case <-ctx.Done():
			return false, nil
		}
		timer.Reset(wait)
	fill:
		for len(batch) < c.cfg.MaxBatch {
			select {
			case m, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		byPartition(batch)
		// A batch in hand is applied and committed even during shutdown, so
		// that a stop loses no work (it would be redelivered, harmlessly).
		c.inFlight.Add(1)
		began := time.Now()
		err := c.process(context.WithoutCancel(ctx), ctx, batch)
		c.inFlight.Add(-1)
		c.progress.Store(time.Now().UnixNano())
		if err != nil {
			return false, err
		}
		if err := r.CommitMessages(context.WithoutCancel(ctx), batch...); err != nil {
			// The partition moved to another member, or Kafka is away: the
			// records are redelivered from the last commit and the store
			// drops what was already applied. (Not an outage by itself: a
			// rebalance does it too, and the fetch says when Kafka is away.)
			c.log.Warn("commit offsets failed; records will be redelivered", "partitions", partitionsOf(batch), "err", err)
			c.m.commitFailures.Inc()
		}
		// The next batch waits as long as this one took, at most Linger.
		wait = min(c.cfg.Linger, time.Since(began))
	}
}

// fetchFailed handles a reader that gave up (the brokers are away): it
// waits until they answer and has the worker join again with a new reader
// (the old one may still hold errors of the outage). Records fetched but
// not applied are delivered again. False when ctx ended first.
func (c *Consumer) fetchFailed(ctx context.Context, err error) (rejoin bool) {
	c.kafka.Failed(fmt.Errorf("fetch: %w", err))
	return c.awaitKafka(ctx)
}

// awaitKafka waits, backing off, until the group's coordinator answers;
// false when ctx ended first.
func (c *Consumer) awaitKafka(ctx context.Context) bool {
	b := outage.Backoff{Min: c.cfg.RetryMin, Max: c.cfg.RetryMax}
	for {
		if !outage.Sleep(ctx, b.Next()) {
			return false
		}
		if err := c.probe(ctx); err != nil {
			c.kafka.Failed(err)
			continue
		}
		c.kafka.OK()
		return true
	}
}

// probe asks the group's coordinator for the group's committed offsets.
func (c *Consumer) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: 5 * time.Second, Transport: c.conns}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID, Topics: map[string][]int{c.cfg.Topic: {0}}})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil {
		return fmt.Errorf("reach the group coordinator: %w", broker.Explain(err))
	}
	return nil
}

// process applies a batch, retrying transient failures and setting poison
// records aside. It gives up only when stop is cancelled while retrying.
func (c *Consumer) process(ctx, stop context.Context, msgs []kafka.Message) error {
	start := time.Now()
	events := make([]event.Envelope, 0, len(msgs))
	origin := make([]kafka.Message, 0, len(msgs))
	for _, m := range msgs {
		if broker.IsGapFiller(m.Headers) {
			continue // the embedded broker's stand-in for a record never acknowledged
		}
		var e event.Envelope
		if err := event.Decode(m.Value, &e); err != nil {
			// What came before it is applied first: dead-lettering blocks
			// the contact, and its earlier events must not be held behind
			// a record that came after them.
			if err := c.applyAll(ctx, stop, events, origin); err != nil {
				return err
			}
			events, origin = nil, nil
			if err := c.deadLetter(ctx, stop, m, string(m.Key), "", "undecodable envelope: "+err.Error()); err != nil {
				return err
			}
			continue
		}
		events = append(events, e)
		origin = append(origin, m)
	}
	if err := c.applyAll(ctx, stop, events, origin); err != nil {
		return err
	}
	c.m.batchSeconds.Observe(time.Since(start).Seconds())
	c.m.batchSize.Observe(float64(len(msgs)))
	c.m.records.Add(float64(len(msgs)))
	return nil
}

// applyAll applies events (origin: their records), dead-lettering the
// poison ones the store names and blocking their contacts.
func (c *Consumer) applyAll(ctx, stop context.Context, events []event.Envelope, origin []kafka.Message) error {
	_, err := c.narrow(ctx, stop, events, origin)
	return err
}

// narrow is applyAll; it also reports whether it dead-lettered an event.
func (c *Consumer) narrow(ctx, stop context.Context, events []event.Envelope, origin []kafka.Message) (bool, error) {
	poisoned := false
	for len(events) > 0 {
		err := c.apply(ctx, stop, events)
		var poison interface{ PoisonIndex() int }
		if err == nil {
			c.logApplied(ctx, events, origin)
			break
		}
		if !errors.As(err, &poison) {
			return poisoned, err
		}
		i := poison.PoisonIndex()
		if i < 0 || i >= len(events) {
			return poisoned, fmt.Errorf("store named poison event %d of %d: %w", i, len(events), err)
		}
		// The events before the poison one are applied first, narrowed
		// down the same way: dead-lettering blocks the contact, and its
		// earlier events must not be held behind it. When a poison was
		// found among them, the store may have named event i for it (a
		// store that could only tell the batch failed at its end), so
		// event i is tried again without it. Each turn shortens the list
		// or dead-letters an event: narrowing ends.
		if i > 0 {
			found, err := c.narrow(ctx, stop, events[:i], origin[:i])
			if err != nil {
				return poisoned, err
			}
			if found {
				poisoned = true
				events, origin = events[i:], origin[i:]
				continue
			}
		}
		if err := c.deadLetter(ctx, stop, origin[i], events[i].Key(), events[i].ID, err.Error()); err != nil {
			return poisoned, err
		}
		poisoned = true
		events, origin = events[i+1:], origin[i+1:]
	}
	return poisoned, nil
}

// apply calls the store until it succeeds or fails for a poison event.
func (c *Consumer) apply(ctx, stop context.Context, events []event.Envelope) error {
	return c.retry(stop, c.pg, "apply batch", func() error {
		err := c.store.Apply(ctx, events, c.cfg.Now())
		var poison interface{ PoisonIndex() int }
		if errors.As(err, &poison) {
			return permanent{err}
		}
		return err
	})
}

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retry runs fn until it succeeds, returns permanent, or stop is
// cancelled, backing off between attempts. Its failures and its recovery
// are dep's.
func (c *Consumer) retry(stop context.Context, dep *outage.Dependency, what string, fn func() error) error {
	b := outage.Backoff{Min: c.cfg.RetryMin, Max: c.cfg.RetryMax}
	for attempt := 1; ; attempt++ {
		err := fn()
		var p permanent
		if err == nil || errors.As(err, &p) {
			dep.OK() // a poison event is Postgres answering
			if err != nil {
				return p.error
			}
			return nil
		}
		c.m.retries.Inc()
		dep.Failed(fmt.Errorf("%s: %w", what, err))
		delay := b.Next()
		c.log.Debug(what+" failed; retrying", "attempt", attempt, "in", delay, "err", err)
		if !outage.Sleep(stop, delay) {
			return fmt.Errorf("%s: gave up at shutdown: %w", what, err)
		}
	}
}

// logApplied says at debug level which events a batch applied, where they
// came from; never their content.
func (c *Consumer) logApplied(ctx context.Context, events []event.Envelope, origin []kafka.Message) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	for i, e := range events {
		c.log.Debug("event applied", "event", e.ID, "kind", e.Kind, "partition", origin[i].Partition, "offset", origin[i].Offset)
	}
}

// deadLetter keeps the record m on the dead-letter topic and blocks its
// contact; id is its event's, empty when the record could not be decoded.
func (c *Consumer) deadLetter(ctx, stop context.Context, m kafka.Message, key, id, reason string) error {
	c.log.Error("record dead-lettered; contact blocked until released", "event", id, "partition", m.Partition, "offset", m.Offset, "reason", reason)
	c.m.deadLetters.Inc()
	headers := map[string]string{
		"reason":       reason,
		"topic":        m.Topic,
		"partition":    strconv.Itoa(m.Partition),
		"offset":       strconv.FormatInt(m.Offset, 10),
		"contact_key":  key,
		"dead_at":      c.cfg.Now().UTC().Format(time.RFC3339Nano),
		"source":       "consumer",
		"content_type": "application/json",
	}
	if err := c.retry(stop, c.kafka, "dead-letter", func() error {
		return c.dlq.PublishRaw(ctx, c.cfg.DeadLetterTopic, m.Key, m.Value, headers)
	}); err != nil {
		return err
	}
	return c.retry(stop, c.pg, "block contact", func() error { return c.store.Block(ctx, key, reason) })
}

type metrics struct {
	records        prometheus.Counter
	retries        prometheus.Counter
	deadLetters    prometheus.Counter
	commitFailures prometheus.Counter
	rejoins        prometheus.Counter
	batchSize      prometheus.Histogram
	batchSeconds   prometheus.Histogram
	lagRecords     *prometheus.GaugeVec
	lagSeconds     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		records:        prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_consumer_records_total", Help: "Records applied (including duplicates)."}),
		retries:        prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_consumer_retries_total", Help: "Transient failures retried."}),
		deadLetters:    prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_consumer_dead_letters_total", Help: "Poison records sent to the dead-letter topic."}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_consumer_commit_failures_total", Help: "Offset commits that failed (records will be redelivered)."}),
		rejoins:        prometheus.NewCounter(prometheus.CounterOpts{Name: "wagw_consumer_rejoins_total", Help: "Times the workers rejoined the group because records waited with no reader."}),
		batchSize:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wagw_consumer_batch_records", Help: "Records per transaction.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)}),
		batchSeconds:   prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wagw_consumer_batch_seconds", Help: "Time to apply one batch.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wagw_consumer_lag_records",
			Help: "Records of each partition the group has not committed (log end minus committed offset), measured every LagInterval."}, []string{"partition"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "wagw_consumer_lag_seconds",
			Help: "How long ago the gateway received the oldest record of each partition the group has not committed; 0 when none waits."}, []string{"partition"}),
	}
	if reg != nil {
		reg.MustRegister(m.records, m.retries, m.deadLetters, m.commitFailures, m.rejoins, m.batchSize, m.batchSeconds, m.lagRecords, m.lagSeconds)
	}
	return m
}

// byPartition orders a batch by partition, each partition's records
// keeping their offset order. The reader hands records over as their
// fetches come back, partitions interleaved; in a rebalance, the member
// that lost a partition may still be applying records of it while the
// new owner applies them again (the store keeps one copy), and two
// transactions that take the same contacts' and events' rows in two
// interleavings can deadlock (Postgres then breaks it after its
// deadlock_timeout, a second by default, and the batch is retried). In
// one order, two batches applied along the same path take the rows of
// the records they share in one order, and the second waits for the
// first. A batch applied one by one still orders its rows otherwise than
// one on the store's fast path, which takes the batch's contacts and
// conversations before its messages: two such batches sharing records
// can still deadlock, and are retried.
func byPartition(batch []kafka.Message) {
	slices.SortStableFunc(batch, func(a, b kafka.Message) int { return cmp.Compare(a.Partition, b.Partition) })
}

// partitionsOf lists the partitions of a batch's records, in order of
// first appearance.
func partitionsOf(batch []kafka.Message) []int {
	var ps []int
	for _, m := range batch {
		if !slices.Contains(ps, m.Partition) {
			ps = append(ps, m.Partition)
		}
	}
	return ps
}
