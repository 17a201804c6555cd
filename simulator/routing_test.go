package simulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// The simulator's Conversation Routing webhooks are signed and parse into
// the handover, standby message, echo and echo status items wagw reads.
func TestSendRoutingWebhooks(t *testing.T) {
	var mu sync.Mutex
	var items []whatsapp.Item
	got := make(chan struct{}, 16)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !whatsapp.Verify(r.Header.Get(whatsapp.SignatureHeader), body, []byte("secret")) {
			t.Errorf("unsigned or badly signed webhook")
		}
		n, err := whatsapp.Parse(body)
		if err != nil {
			t.Errorf("parse: %v", err)
		}
		mu.Lock()
		items = append(items, whatsapp.Split(n)...)
		mu.Unlock()
		got <- struct{}{}
	}))
	defer gw.Close()
	s := New(Config{WebhookURL: gw.URL, AppSecret: "secret"})
	defer s.Close()
	if _, err := s.SendRouting(RoutingEvent{Kind: "control_taken", PhoneNumberID: "P", User: "15550001", PreviousRole: "app", NewRole: "ai_agent"}); err != nil {
		t.Fatal(err)
	}
	in, err := s.SendRouting(RoutingEvent{Kind: RoutingStandby, PhoneNumberID: "P", User: "US.1", Text: "hi"})
	if err != nil || in == "" {
		t.Fatal(in, err)
	}
	echo, err := s.SendRouting(RoutingEvent{Kind: RoutingEcho, PhoneNumberID: "P", User: "15550001", Text: "hello"})
	if err != nil || echo == "" || echo == in {
		t.Fatal(echo, err)
	}
	if _, err := s.SendRouting(RoutingEvent{Kind: "release", PhoneNumberID: "P", User: "1"}); err == nil {
		t.Error("an unknown kind is accepted")
	}
	for range 5 {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("webhooks not delivered")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var handovers, standby, echoes, statuses int
	for _, it := range items {
		switch {
		case it.Handover != nil:
			handovers++
			if it.Handover.Type != whatsapp.ControlTaken || it.Handover.By() != "ai_agent" || it.Contact.WaID != "15550001" || it.PhoneNumberID != "P" {
				t.Errorf("handover %+v %+v", it, *it.Handover)
			}
		case it.Message != nil && it.Field == whatsapp.FieldStandby && it.Contact.UserID == "US.1":
			standby++
		case it.Echo != nil && it.Echo.ID == echo && it.Contact.WaID == "15550001":
			echoes++
		case it.Status != nil && it.Status.ID == echo && it.Field == whatsapp.FieldStandby:
			statuses++
		default:
			t.Errorf("unexpected item %+v", it)
		}
	}
	if handovers != 1 || standby != 1 || echoes != 1 || statuses != 2 {
		t.Errorf("%d handovers, %d standby messages, %d echoes, %d statuses", handovers, standby, echoes, statuses)
	}
}
