package loadtest

import (
	"testing"
	"time"
)

func TestMeasureRecovery(t *testing.T) {
	fault0, fault1 := time.Unix(0, ms(100)), time.Unix(0, ms(300))
	run := &RunResult{Requests: []RequestRecord{
		{Intended: ms(0), Start: ms(0), End: ms(10), Code: 200, Messages: []MessageRef{ref("A", 1)}},
		{Intended: ms(90), Start: ms(90), End: ms(95), Code: 200, Messages: []MessageRef{ref("B", 1)}},
		{Intended: ms(150), Start: ms(150), End: ms(160), Code: 503, Messages: []MessageRef{ref("A", 2)}},
		{Intended: ms(200), Start: ms(200), End: ms(5200), Err: "timeout", Messages: []MessageRef{ref("B", 2)}},
		{Intended: ms(310), Start: ms(310), End: ms(320), Code: 503, Messages: []MessageRef{ref("A", 3)}},
		{Intended: ms(350), Start: ms(350), End: ms(370), Code: 200, Messages: []MessageRef{ref("A", 4)}},
	}}
	stored := []StoredMessage{
		{WAMID: "A-1", StoredAt: time.Unix(0, ms(20))},
		{WAMID: "B-1", StoredAt: time.Unix(0, ms(700))}, // acknowledged before the fault, stored 400 ms after it
		{WAMID: "A-4", StoredAt: time.Unix(0, ms(400))},
	}
	r := MeasureRecovery(run, stored, fault0, fault1)
	if r.Acknowledging != 70*time.Millisecond || r.Stored != 400*time.Millisecond || r.Resumed != 100*time.Millisecond {
		t.Fatalf("acknowledging %v stored %v resumed %v", r.Acknowledging, r.Stored, r.Resumed)
	}
	if r.Failed["503"] != 2 || r.Failed["timeout"] != 1 || len(r.Failed) != 2 {
		t.Fatalf("failed %v", r.Failed)
	}
	if r := MeasureRecovery(run, stored[:1], fault0, fault1); r.Stored != -1 {
		t.Fatalf("B-1 never stored: %v", r.Stored)
	}
}
