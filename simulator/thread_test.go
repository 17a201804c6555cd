package simulator

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wagw/wagw/whatsapp"
)

// The thread control API through the real client: a take is accepted and
// recorded; on a number whose takes are refused, Meta's refusal comes
// back as a permanent error that IsTakeNotAllowed recognises, and nothing
// is recorded; a bad body is Meta's error 100.
func TestThreadControlTake(t *testing.T) {
	sim, url := newSim(t, Config{Token: "tok"})
	c := unpaced(url, "tok", nil)
	ctx := context.Background()

	if err := c.ThreadControl(ctx, "111", whatsapp.ThreadControlRequest{Recipient: "15551230001", Action: whatsapp.ThreadTake, Metadata: "agent 7"}); err != nil {
		t.Fatalf("take: %v", err)
	}
	calls := sim.ThreadControls()
	if len(calls) != 1 || calls[0].PhoneNumberID != "111" || calls[0].Recipient != "15551230001" || calls[0].Action != whatsapp.ThreadTake || calls[0].Metadata != "agent 7" {
		t.Fatalf("recorded %+v", calls)
	}

	sim.SetNumberFaults("222", Faults{RefuseTake: true})
	err := c.ThreadControl(ctx, "222", whatsapp.ThreadControlRequest{Recipient: "15551230001", Action: whatsapp.ThreadTake})
	if !whatsapp.IsTakeNotAllowed(err) || whatsapp.ClassOf(err) != whatsapp.Permanent {
		t.Fatalf("refused take: %v (class %v); want IsTakeNotAllowed and permanent", err, whatsapp.ClassOf(err))
	}
	if api := apiError(t, err); api.Code != 100 || api.HTTPStatus != http.StatusBadRequest || !strings.HasPrefix(api.Message, "(#100)") {
		t.Errorf("refusal: %+v", api)
	}
	if err := c.ThreadControl(ctx, "222", whatsapp.ThreadControlRequest{Recipient: "15551230001", Action: whatsapp.ThreadRelease}); err != nil {
		t.Errorf("a release on that number: %v", err)
	}
	if n := len(sim.ThreadControls()); n != 2 {
		t.Errorf("%d calls recorded, want 2 (the refused take is not)", n)
	}
	if err := c.ThreadControl(ctx, "111", whatsapp.ThreadControlRequest{Recipient: "15551230001", Action: "grab"}); whatsapp.ClassOf(err) != whatsapp.Permanent || whatsapp.Attempted(err) {
		t.Errorf("unknown action: %v; want a permanent error before any request", err)
	}

	req, _ := http.NewRequest(http.MethodPost, url+"/v23.0/111/thread_control", strings.NewReader(`{"messaging_product":"whatsapp","action":"take"}`))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a body without recipient: HTTP %d, want 400", resp.StatusCode)
	}
	if got := sim.Stats()["take_refused"]; got != 1 {
		t.Errorf("take_refused = %d, want 1", got)
	}
}
