package simulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// Conversation Routing webhooks: the simulator plays Meta and the other
// responder on a shared number (Meta Business Agent). It sends, signed
// like its status webhooks, the messaging_handovers notifications and the
// standby field's user messages, the other responder's message echoes and
// their statuses, in the shapes wagw's parser reads
// (whatsapp/testdata/routing/README.md says where they come from).

// RoutingEvent asks the simulator for one Conversation Routing webhook.
type RoutingEvent struct {
	// Kind is control_passed, control_taken, standby (a user's message)
	// or echo (the other responder's message; its delivered and read
	// statuses follow on the standby field).
	Kind          string `json:"kind"`
	PhoneNumberID string `json:"phone_number_id"`
	// User is the user's wa_id (digits) or business-scoped user id.
	User string `json:"user"`
	// PreviousRole and NewRole name the owners of a handover.
	PreviousRole string `json:"previous_role,omitempty"`
	NewRole      string `json:"new_role,omitempty"`
	// Metadata is the handover's metadata (the caller's string).
	Metadata string `json:"metadata,omitempty"`
	Text     string `json:"text,omitempty"`
}

// The kinds of RoutingEvent besides the two handovers.
const (
	RoutingStandby = "standby"
	RoutingEcho    = "echo"
)

// SendRouting schedules the webhook(s) of ev for delivery now and returns
// the wamid of a standby message or an echo.
func (s *Simulator) SendRouting(ev RoutingEvent) (string, error) {
	if ev.PhoneNumberID == "" || ev.User == "" {
		return "", fmt.Errorf("phone_number_id and user are required")
	}
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	user := map[string]any{"wa_id": ev.User}
	if simUserID(ev.User) {
		user = map[string]any{"user_id": ev.User}
	}
	switch ev.Kind {
	case string(whatsapp.ControlPassed), string(whatsapp.ControlTaken):
		sender := map[string]any{"phone_number": ev.User}
		if simUserID(ev.User) {
			sender = map[string]any{"user_id": ev.User}
		}
		s.enqueue(now, s.changeBody(whatsapp.FieldMessagingHandovers, ev.PhoneNumberID, map[string]any{
			"recipient": map[string]string{"display_phone_number": s.cfg.DisplayPhoneNumber, "phone_number_id": ev.PhoneNumberID},
			"sender":    sender, "timestamp": ts, "type": ev.Kind,
			ev.Kind: map[string]any{"previous_owner_role": ev.PreviousRole, "new_owner_role": ev.NewRole, "metadata": ev.Metadata},
		}), ev.Kind)
		s.count("routing_"+ev.Kind, 1)
		return "", nil
	case RoutingStandby, RoutingEcho:
	default:
		return "", fmt.Errorf("kind %q is not control_passed, control_taken, standby or echo", ev.Kind)
	}
	wamid := s.routingWAMID(ev.PhoneNumberID)
	msg := map[string]any{"id": wamid, "timestamp": ts, "type": "text", "text": map[string]string{"body": ev.Text}}
	contact := map[string]any{"profile": map[string]string{"name": "Simulated " + ev.User}}
	for k, v := range user {
		contact[k] = v
	}
	value := map[string]any{"contacts": []any{contact}}
	if ev.Kind == RoutingStandby {
		msg["from"] = ev.User
		if simUserID(ev.User) {
			delete(msg, "from")
			msg["from_user_id"] = ev.User
		}
		value["messages"] = []any{msg}
	} else {
		msg["from"] = s.cfg.DisplayPhoneNumber
		if simUserID(ev.User) {
			msg["to_user_id"] = ev.User
		} else {
			msg["to"] = ev.User
		}
		value["message_echoes"] = []any{msg}
	}
	s.enqueue(now, s.changeBody(whatsapp.FieldStandby, ev.PhoneNumberID, value), ev.Kind)
	s.count("routing_"+ev.Kind, 1)
	if ev.Kind == RoutingEcho {
		for i, st := range []string{"delivered", "read"} {
			at := now.Add(time.Duration(i+1) * 50 * time.Millisecond)
			status := map[string]any{"id": wamid, "status": st, "timestamp": strconv.FormatInt(at.Unix(), 10)}
			if simUserID(ev.User) {
				status["recipient_user_id"] = ev.User
			} else {
				status["recipient_id"] = ev.User
			}
			s.enqueue(at, s.changeBody(whatsapp.FieldStandby, ev.PhoneNumberID, map[string]any{"statuses": []any{status}}), st)
		}
	}
	return wamid, nil
}

func (s *Simulator) routingWAMID(phoneNumberID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "SIMRT%s:%s:%d", s.wamidTag, phoneNumberID, s.seq))
}

// changeBody renders a notification of one change in Meta's envelope and
// escaping.
func (s *Simulator) changeBody(field, phoneNumberID string, value map[string]any) []byte {
	value["messaging_product"] = "whatsapp"
	if _, ok := value["recipient"]; !ok {
		value["metadata"] = map[string]string{"display_phone_number": s.cfg.DisplayPhoneNumber, "phone_number_id": phoneNumberID}
	}
	b, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": s.cfg.WABAID, "time": time.Now().Unix(), "changes": []any{map[string]any{"field": field, "value": value}}}}})
	return whatsapp.MetaEscape(b)
}

// handleRouting answers POST /_sim/routing: a RoutingEvent in the body;
// 202 with {"wamid": …} once its webhooks are scheduled.
func (s *Simulator) handleRouting(w http.ResponseWriter, r *http.Request) {
	var ev RoutingEvent
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&ev); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	wamid, err := s.SendRouting(ev)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"wamid": wamid})
}
