package event

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// TestSplitRouting: Conversation Routing items become handover and echo
// envelopes keyed by their contact (so that they are applied in the
// contact's partition order), with ids that are stable across Meta's
// redeliveries; a standby message stays a message with field standby.
func TestSplitRouting(t *testing.T) {
	at := time.Unix(1759230500, 0).UTC()
	read := func(name string) []Envelope {
		b, err := os.ReadFile(filepath.Join("..", "whatsapp", "testdata", "routing", name))
		if err != nil {
			t.Fatal(err)
		}
		envs, err := ParseAndSplit(b, at)
		if err != nil || len(envs) != 1 {
			t.Fatalf("%s: %d envelopes, %v", name, len(envs), err)
		}
		again, _ := ParseAndSplit(b, at.Add(time.Hour))
		if again[0].ID != envs[0].ID {
			t.Fatalf("%s: id %q then %q", name, envs[0].ID, again[0].ID)
		}
		checkEnvelopes(t, envs)
		return envs
	}
	h := read("handover_control_taken.json")[0]
	if h.Kind != KindHandover || h.Handover.Type != whatsapp.ControlTaken || h.Key() != "US.13491208655302741918" ||
		h.PhoneNumberID != "106540352242922" || h.OccurredAt.Unix() != 1759230100 {
		t.Fatalf("handover envelope %+v", h)
	}
	p := read("handover_control_passed.json")[0]
	if p.Kind != KindHandover || p.Key() != "16505551234" || p.ID == h.ID {
		t.Fatalf("handover envelope %+v", p)
	}
	m := read("standby_message.json")[0]
	if m.Kind != KindMessage || m.Field != whatsapp.FieldStandby || m.ID != "wamid.STANDBY.IN.1" {
		t.Fatalf("standby message envelope %+v", m)
	}
	e := read("standby_echo.json")[0]
	if e.Kind != KindEcho || e.ID != "wamid.STANDBY.ECHO.1" || e.Key() != "US.13491208655302741918" || e.Message.Body() == "" {
		t.Fatalf("echo envelope %+v", e)
	}
	// An envelope written before these kinds existed still decodes.
	var old Envelope
	if err := json.Unmarshal([]byte(`{"v":1,"id":"wamid.X","kind":"notice","field":"messaging_handovers","contact":{},"occurred_at":"2026-01-01T00:00:00Z","received_at":"2026-01-01T00:00:00Z","raw":{"x":1}}`), &old); err != nil || old.Kind != KindNotice {
		t.Fatalf("old envelope: %+v %v", old, err)
	}
}
