package simulator

import (
	"strings"
	"testing"
	"time"
)

func TestCheckSends(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
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
