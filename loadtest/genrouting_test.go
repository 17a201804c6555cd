package loadtest

import (
	"testing"
	"time"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

// With RoutingShare, routed contacts' traffic is, in each contact's
// order: a control_taken, standby messages (refs that open nothing) with
// the AI's echoes, a control_passed, then messages on the messages field;
// the refs still match the bodies, and the contacts' sequence numbers stay
// in order.
func TestGenerateRoutingTraffic(t *testing.T) {
	cfg := genTestConfig()
	cfg.RoutingShare = 0.5
	cfg.RedeliverShare = -1
	g := NewGenerator(cfg)
	state := map[string]string{} // contact → "", taken, passed
	count := map[event.Kind]int{}
	standby, passed := 0, 0
	for i := range 3000 {
		req, _ := g.Next()
		events, err := event.ParseAndSplit(req.Body, time.Now())
		if err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, req.Body)
		}
		refs := map[string]MessageRef{}
		for _, r := range req.Messages {
			refs[r.WAMID] = r
		}
		for _, e := range events {
			count[e.Kind]++
			k := e.Contact.Key()
			switch {
			case e.Kind == event.KindHandover && e.Handover.Type == whatsapp.ControlTaken:
				if state[k] != "" {
					t.Fatalf("request %d: control_taken for %s in state %q", i, k, state[k])
				}
				state[k] = "taken"
			case e.Kind == event.KindHandover:
				if state[k] != "taken" || e.Handover.By() != "ai_agent" {
					t.Fatalf("request %d: control_passed for %s in state %q", i, k, state[k])
				}
				state[k] = "passed"
				passed++
			case e.Kind == event.KindMessage && e.Field == whatsapp.FieldStandby:
				if state[k] != "taken" || refs[e.ID].Opens || refs[e.ID].WAMID == "" {
					t.Fatalf("request %d: standby message of %s in state %q, ref %+v", i, k, state[k], refs[e.ID])
				}
				standby++
			case e.Kind == event.KindMessage:
				if state[k] == "taken" {
					t.Fatalf("request %d: message of %s on the messages field while the AI owns the thread", i, k)
				}
			case e.Kind == event.KindEcho:
				if state[k] != "taken" {
					t.Fatalf("request %d: echo to %s in state %q", i, k, state[k])
				}
			}
		}
	}
	if standby == 0 || passed == 0 || count[event.KindEcho] == 0 || count[event.KindHandover] <= passed {
		t.Fatalf("no routing traffic: %v, %d standby, %d passed", count, standby, passed)
	}
	t.Logf("kinds %v, %d standby messages, %d control_passed", count, standby, passed)
}
