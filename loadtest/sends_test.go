package loadtest

import (
	"strings"
	"testing"
	"time"
)

func TestCheckSends(t *testing.T) {
	at := func(s int) time.Time { return vt0.Add(time.Duration(s) * time.Second) }
	rows := []OutboxRow{
		{ID: 1, Kind: "welcome", PhoneNumberID: "p", Recipient: "491", Type: "text", Text: "Hi", State: "sent", WAMID: "w1"},
		{ID: 2, Kind: "reply", PhoneNumberID: "p", Recipient: "491", Type: "text", Text: "r1", State: "sent", WAMID: "w3"},
		{ID: 3, Kind: "welcome", PhoneNumberID: "p", Recipient: "492", Type: "text", Text: "Hi", State: "sent", WAMID: "w9"},
		{ID: 4, Kind: "reply", PhoneNumberID: "p", Recipient: "492", Type: "template", Text: "hello_world", State: "pending"},
	}
	accepted := []SentMessage{
		{PhoneNumberID: "p", To: "+491", Type: "text", Text: "Hi", WAMID: "w1", Received: at(1)},
		{PhoneNumberID: "p", To: "491", Type: "text", Text: "r1", WAMID: "w2", Received: at(2)}, // in flight when the relay died
		{PhoneNumberID: "p", To: "491", Type: "text", Text: "r1", WAMID: "w3", Received: at(9)}, // sent again
		{PhoneNumberID: "p", To: "492", Type: "text", Text: "Hi", WAMID: "w4", Received: at(3)}, // recorded as w9: wrong
		{PhoneNumberID: "p", To: "493", Type: "text", Text: "Hi", WAMID: "w5", Received: at(4)}, // no row
	}
	c := CheckSends(rows, accepted)
	if c.Rows != 4 || c.States["sent"] != 3 || c.States["pending"] != 1 || c.Accepted != 4 || c.Unmatched != 1 {
		t.Fatalf("counts: %+v", c)
	}
	if len(c.Resent) != 1 || c.Resent[0].Row.ID != 2 || len(c.Resent[0].Accepted) != 2 || !c.LastAccepted.Equal(at(9)) {
		t.Fatalf("resent: %+v, last %v", c.Resent, c.LastAccepted)
	}
	if !c.SentAt[2].Equal(at(9)) || !c.SentAt[1].Equal(at(1)) || len(c.SentAt) != 3 {
		t.Fatalf("sent at %v", c.SentAt)
	}
	if len(c.Unrecorded) != 1 || !strings.Contains(c.Unrecorded[0], "row 3") || len(c.Reordered) != 0 {
		t.Fatalf("unrecorded %v reordered %v", c.Unrecorded, c.Reordered)
	}
	// The reply accepted before the welcome of the same recipient.
	accepted[0].Received, accepted[1].Received = at(5), at(4)
	if c := CheckSends(rows, accepted); len(c.Reordered) != 1 || !strings.Contains(c.Reordered[0], "row 2") {
		t.Fatalf("reordered: %v", c.Reordered)
	}
}

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
