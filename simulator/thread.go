package simulator

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/wagw/wagw/whatsapp"
)

// ThreadControlCall is one thread control call the simulator accepted.
type ThreadControlCall struct {
	PhoneNumberID string                `json:"phone_number_id"`
	Recipient     string                `json:"recipient"`
	Action        whatsapp.ThreadAction `json:"action"`
	Metadata      string                `json:"metadata,omitempty"`
	Received      time.Time             `json:"received"`
}

// handleThreadControl answers POST /{version}/{phone_number_id}/thread_control
// as the Cloud API does: {"success":true}, Meta's error 100 for a bad
// body, and for a take when Faults.RefuseTake holds for the number, code
// 100 with error_subcode whatsapp.SubcodeTakeNotAllowed. The usual faults
// (latency, timeouts, 5xx, error codes) apply too.
func (s *Simulator) handleThreadControl(w http.ResponseWriter, r *http.Request) {
	phoneNumberID := r.PathValue("phone_number_id")
	raw, f, ok := s.begin(w, r, phoneNumberID)
	if !ok {
		return
	}
	var req whatsapp.ThreadControlRequest
	if err := json.Unmarshal(raw, &req); err != nil || req.MessagingProduct != "whatsapp" || req.Recipient == "" || !req.Action.Valid() {
		s.count("invalid", 1)
		s.writeMetaError(w, http.StatusBadRequest, 100, "(#100) The parameters messaging_product, recipient and action (pass, release or take) are required.", "")
		return
	}
	if req.Action == whatsapp.ThreadTake && f.RefuseTake {
		s.count("take_refused", 1)
		body := metaError{Error: metaErrorBody{Message: "(#100) This app is not allowed to take control of this thread.",
			Type: "OAuthException", Code: 100, Subcode: whatsapp.SubcodeTakeNotAllowed, FBTraceID: s.traceID()}}
		writeJSON(w, http.StatusBadRequest, body)
		return
	}
	s.mu.Lock()
	if len(s.threads) < s.cfg.MaxRecorded {
		s.threads = append(s.threads, ThreadControlCall{PhoneNumberID: phoneNumberID, Recipient: req.Recipient,
			Action: req.Action, Metadata: req.Metadata, Received: time.Now()})
	}
	s.mu.Unlock()
	s.count("thread_control", 1)
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// ThreadControls returns the thread control calls accepted, oldest first.
func (s *Simulator) ThreadControls() []ThreadControlCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ThreadControlCall(nil), s.threads...)
}
