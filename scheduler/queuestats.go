package scheduler

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueStats is the queue of conversations waiting for an eligible agent.
type QueueStats struct {
	Length int
	// Oldest is when the conversation that has waited longest was queued;
	// zero when the queue is empty.
	Oldest time.Time
}

// queueGauges export the queue's length and the age of its oldest
// conversation, as last read; the age grows between reads.
type queueGauges struct {
	length prometheus.Gauge
	oldest atomic.Int64 // unix nanos; 0: empty
}

func newQueueGauges(reg prometheus.Registerer, now func() time.Time) *queueGauges {
	g := &queueGauges{length: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wagw_queue_conversations",
		Help: "Open conversations queued for an eligible agent, as of the queue drainer's last look."})}
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wagw_queue_oldest_age_seconds",
		Help: "How long the conversation queued longest has waited; 0 when none waits."}, func() float64 {
		at := g.oldest.Load()
		if at == 0 {
			return 0
		}
		return max(0, now().Sub(time.Unix(0, at)).Seconds())
	})
	if reg != nil {
		reg.MustRegister(g.length, age)
	}
	return g
}

// sampleQueue reads the queue's length and oldest conversation, when the
// drainer was given a way to.
func (d *Drainer) sampleQueue(ctx context.Context) error {
	if d.cfg.Stats == nil {
		return nil
	}
	st, err := d.cfg.Stats(ctx)
	if err != nil {
		return fmt.Errorf("queue statistics: %w", err)
	}
	d.queue.length.Set(float64(st.Length))
	var at int64
	if !st.Oldest.IsZero() {
		at = st.Oldest.UnixNano()
	}
	d.queue.oldest.Store(at)
	return nil
}
