package wagwtest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WaitFor polls check every 10 ms until it is done, and fails the test
// with what and check's last status when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, check func() (done bool, status string)) {
	t.Helper()
	WaitEvery(t, timeout, 10*time.Millisecond, what, check)
}

// WaitEvery is WaitFor polling every every: less often where a check
// costs (a consumer group described, a request retried the way a client
// paces its retries), more often where it must catch a moment.
func WaitEvery(t testing.TB, timeout, every time.Duration, what string, check func() (done bool, status string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, status := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %v; last seen: %s", what, timeout, status)
		}
		time.Sleep(every)
	}
}

// Metric returns the value of the counter or gauge name whose labels
// include labels in reg, 0 when there is none.
func Metric(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// SyncBuffer is a log destination safe for concurrent writers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// QuietLogger discards everything.
func QuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TextWebhook is a Cloud API notification of one text message from waID
// to the business number pnid, sent at at.
func TextWebhook(pnid, waID, wamid string, at time.Time, text string) []byte {
	b, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": "102290129340398", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]any{"display_phone_number": "15550001111", "phone_number_id": pnid},
			"contacts":          []any{map[string]any{"profile": map[string]any{"name": "Contact " + waID}, "wa_id": waID}},
			"messages": []any{map[string]any{"from": waID, "id": wamid, "timestamp": strconv.FormatInt(at.Unix(), 10),
				"type": "text", "text": map[string]any{"body": text}}},
		}}},
	}}})
	if err != nil {
		panic(err) // maps of strings always encode
	}
	return b
}
