package simulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// simBucket is a token bucket; its methods run under Simulator.mu.
type simBucket struct {
	tokens float64
	last   time.Time
}

// take takes one token from the bucket of key, creating it full, and
// reports whether there was one. Full buckets are evicted when the map
// grows large.
func takeToken(m map[string]*simBucket, key string, rate float64, burst int, now time.Time) bool {
	b, ok := m[key]
	if !ok {
		if len(m) >= 100_000 {
			for k, ob := range m {
				if ob.tokens+now.Sub(ob.last).Seconds()*rate >= float64(burst) {
					delete(m, k)
				}
			}
		}
		b = &simBucket{tokens: float64(burst), last: now}
		m[key] = b
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// metaError is Meta's error body.
type metaError struct {
	Error metaErrorBody `json:"error"`
}

type metaErrorBody struct {
	Message   string         `json:"message"`
	Type      string         `json:"type"`
	Code      int            `json:"code"`
	ErrorData *metaErrorData `json:"error_data,omitempty"`
	Subcode   int            `json:"error_subcode,omitempty"`
	FBTraceID string         `json:"fbtrace_id"`
}

type metaErrorData struct {
	MessagingProduct string `json:"messaging_product"`
	Details          string `json:"details"`
}

// metaErrorTexts are title and details of the codes the simulator knows;
// others get a generic text.
var metaErrorTexts = map[int][2]string{
	0:      {"AuthException", "We were unable to authenticate the app user."},
	1:      {"API Unknown", "Invalid request or possible server error."},
	2:      {"API Service", "Temporary due to downtime or due to being overloaded."},
	4:      {"API Too Many Calls", "The app has reached its API call rate limit."},
	10:     {"Permission Denied", "Permission is either not granted or has been removed."},
	100:    {"Invalid parameter", "Invalid parameter."},
	131000: {"Something went wrong", "Message failed to send due to an unknown error."},
	131008: {"Required parameter is missing", "The request is missing a required parameter."},
	131009: {"Parameter value is not valid", "One or more parameter values are invalid."},
	131016: {"Service unavailable", "A service is temporarily unavailable."},
	131021: {"Recipient cannot be sender", "Sender and recipient phone number is the same."},
	131026: {"Message Undeliverable", "Unable to deliver message."},
	131031: {"Account has been locked", "Your account has been locked."},
	131042: {"Business eligibility payment issue", "There was an error related to your payment method."},
	131047: {"Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
	131049: {"This message was not delivered to maintain healthy ecosystem engagement.", "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
	131051: {"Unsupported message type", "Message type is not currently supported."},
	131056: {"(Business Account, Consumer Account) pair rate limit hit", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."},
	131057: {"Account in maintenance mode", "Business Account is in maintenance mode."},
	130429: {"Rate limit hit", "Message failed to send because there were too many messages sent from this phone number in a short period of time"},
	130472: {"User's number is part of an experiment", "Failed to send message because this user's phone number is part of an experiment."},
	132000: {"Template Param Count Mismatch", "The number of variable parameter values included in the request did not match the number of variable parameters defined in the template."},
	132001: {"Template does not exist", "The template does not exist in the specified language or the template has not been approved."},
	133010: {"Phone number Not Registered", "The phone number is not registered on the WhatsApp Business Platform."},
	190:    {"Invalid OAuth access token - Cannot parse access token", ""},
	368:    {"Temporarily blocked for policies violations", "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy."},
	80007:  {"Rate limit issues", "The WhatsApp Business Account has reached its rate limit."},
}

func (s *Simulator) traceID() string {
	b := make([]byte, 12)
	s.mu.Lock()
	for i := range b {
		b[i] = byte(s.rnd.Uint32())
	}
	s.mu.Unlock()
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Simulator) writeMetaError(w http.ResponseWriter, status, code int, message, details string) {
	if message == "" {
		if t, ok := metaErrorTexts[code]; ok {
			message, details = t[0], t[1]
		} else {
			message, details = "Simulated error", "Injected by the Cloud API simulator."
		}
		message = "(#" + strconv.Itoa(code) + ") " + message
	}
	body := metaError{Error: metaErrorBody{Message: message, Type: "OAuthException", Code: code, FBTraceID: s.traceID()}}
	if details != "" {
		body.Error.ErrorData = &metaErrorData{MessagingProduct: "whatsapp", Details: details}
	}
	if code == 130429 {
		body.Error.Subcode = 2494055
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sendRequest is what the simulator reads of a /messages body.
type sendRequest struct {
	MessagingProduct string `json:"messaging_product"`
	RecipientType    string `json:"recipient_type"`
	To               string `json:"to"`
	Type             string `json:"type"`
	Status           string `json:"status"`
	MessageID        string `json:"message_id"`
	Context          *struct {
		MessageID string `json:"message_id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Template *struct {
		Name     string `json:"name"`
		Language *struct {
			Code string `json:"code"`
		} `json:"language"`
	} `json:"template"`
	Interactive *struct {
		Type   string          `json:"type"`
		Action json.RawMessage `json:"action"`
	} `json:"interactive"`
	Image    *simMedia `json:"image"`
	Audio    *simMedia `json:"audio"`
	Video    *simMedia `json:"video"`
	Document *simMedia `json:"document"`
	Sticker  *simMedia `json:"sticker"`
	Reaction *struct {
		MessageID string `json:"message_id"`
	} `json:"reaction"`
	Location  json.RawMessage `json:"location"`
	Contacts  json.RawMessage `json:"contacts"`
	BizOpaque string          `json:"biz_opaque_callback_data"`
}

type simMedia struct {
	ID   string `json:"id"`
	Link string `json:"link"`
}

func (m *simMedia) ok() bool { return m != nil && (m.ID != "" || m.Link != "") }

// validate returns Meta's message for an invalid body, or "".
func (r *sendRequest) validate() string {
	if r.MessagingProduct != "whatsapp" {
		return "(#100) The parameter messaging_product is required."
	}
	if r.To == "" {
		return "(#100) The parameter to is required."
	}
	if r.Type == "" {
		r.Type = "text"
	}
	param := func(p string) string { return "(#100) The parameter " + p + " is required." }
	switch r.Type {
	case "text":
		if r.Text == nil || r.Text.Body == "" {
			return param("text['body']")
		}
	case "template":
		if r.Template == nil || r.Template.Name == "" {
			return param("template['name']")
		}
		if r.Template.Language == nil || r.Template.Language.Code == "" {
			return param("template['language']['code']")
		}
	case "interactive":
		if r.Interactive == nil || r.Interactive.Type == "" || len(r.Interactive.Action) == 0 {
			return param("interactive['type'] and interactive['action']")
		}
	case "image", "audio", "video", "document", "sticker":
		m := map[string]*simMedia{"image": r.Image, "audio": r.Audio, "video": r.Video, "document": r.Document, "sticker": r.Sticker}[r.Type]
		if !m.ok() {
			return param(r.Type + "['id'] or " + r.Type + "['link']")
		}
	case "reaction":
		if r.Reaction == nil || r.Reaction.MessageID == "" {
			return param("reaction['message_id']")
		}
	case "location":
		if len(r.Location) == 0 || string(r.Location) == "null" {
			return param("location")
		}
	case "contacts":
		if len(r.Contacts) == 0 || string(r.Contacts) == "null" {
			return param("contacts")
		}
	default:
		return "(#100) Param type must be one of {AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO} - got \"" + r.Type + "\"."
	}
	return ""
}

func waID(to string) string {
	return strings.TrimPrefix(strings.TrimSpace(to), "+")
}

func (s *Simulator) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	return r.Header.Get("Authorization") == "Bearer "+s.cfg.Token
}

// wait sleeps d, or until the request or the simulator ends; false if it
// ended.
func (s *Simulator) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.ctx.Done():
	}
	return false
}

func (s *Simulator) handleMessages(w http.ResponseWriter, r *http.Request) {
	phoneNumberID := r.PathValue("phone_number_id")
	raw, _, ok := s.begin(w, r, phoneNumberID)
	if !ok {
		return
	}

	var req sendRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		s.count("invalid", 1)
		s.writeMetaError(w, http.StatusBadRequest, 100, "(#100) Invalid JSON body: "+err.Error(), "")
		return
	}
	if req.Status == "read" {
		if req.MessagingProduct != "whatsapp" || req.MessageID == "" {
			s.count("invalid", 1)
			s.writeMetaError(w, http.StatusBadRequest, 100, "(#100) The parameters messaging_product and message_id are required.", "")
			return
		}
		s.count("marked_read", 1)
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
		return
	}
	if msg := req.validate(); msg != "" {
		s.count("invalid", 1)
		s.writeMetaError(w, http.StatusBadRequest, 100, msg, "")
		return
	}

	to := waID(req.To)
	now := time.Now()
	if s.rateLimited(w, phoneNumberID, to, now) {
		return
	}
	m := s.accept(phoneNumberID, to, &req, now)
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": req.To, "wa_id": to}},
		"messages":          []map[string]string{{"id": m.WAMID}},
	})
}

// begin does what every Cloud API call starts with: counts it, checks the
// token, reads the body and applies the number's faults. ok is false when
// the request is answered (or gone) already.
func (s *Simulator) begin(w http.ResponseWriter, r *http.Request, phoneNumberID string) (raw []byte, f Faults, ok bool) {
	s.count("requests", 1)
	if !s.authorized(r) {
		s.count("unauthorized", 1)
		s.writeMetaError(w, http.StatusUnauthorized, 190, "Invalid OAuth access token - Cannot parse access token", "")
		return nil, f, false
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, simMaxRequestBody))
	if err != nil {
		return nil, f, false
	}
	f = s.faultsFor(phoneNumberID)
	return raw, f, !s.injectFault(w, r, f)
}

// injectFault answers a send with the fault f draws for it, if any: the
// latency first, then a timeout, an HTTP 5xx or one of Meta's error codes.
// True when the request is answered (or gone).
func (s *Simulator) injectFault(w http.ResponseWriter, r *http.Request, f Faults) bool {
	if d := f.Latency + s.jitter(f.LatencyJitter); d > 0 && !s.wait(r, d) {
		return true
	}
	if s.chance(f.TimeoutRate) {
		s.count("timeout", 1)
		s.wait(r, 24*time.Hour)
		return true
	}
	if s.chance(f.Error5xxRate) {
		s.count("injected_5xx", 1)
		s.writeMetaError(w, http.StatusServiceUnavailable, 2, "", "")
		return true
	}
	if len(f.ErrorCodes) == 0 {
		return false
	}
	codes := make([]int, 0, len(f.ErrorCodes))
	for c := range f.ErrorCodes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, code := range codes {
		if s.chance(f.ErrorCodes[code]) {
			s.count("injected_error", 1)
			s.count("injected_"+strconv.Itoa(code), 1)
			s.writeMetaError(w, http.StatusBadRequest, code, "", "")
			return true
		}
	}
	return false
}

// rateLimited answers 130429 when the number is over its rate and 131056
// when the pair (number, recipient) is; true when it answered.
func (s *Simulator) rateLimited(w http.ResponseWriter, phoneNumberID, to string, now time.Time) bool {
	s.mu.Lock()
	numberOK := s.cfg.RatePerNumber <= 0 || takeToken(s.numbers, phoneNumberID, s.cfg.RatePerNumber, s.cfg.BurstPerNumber, now)
	pairOK := true
	if numberOK && s.cfg.PairInterval > 0 {
		pairOK = takeToken(s.pairs, phoneNumberID+"\x00"+to, 1/s.cfg.PairInterval.Seconds(), s.cfg.PairBurst, now)
	}
	s.mu.Unlock()
	if !numberOK {
		s.count("rate_limited", 1)
		s.writeMetaError(w, http.StatusBadRequest, 130429, "", "")
		return true
	}
	if !pairOK {
		s.count("pair_rate_limited", 1)
		s.writeMetaError(w, http.StatusBadRequest, 131056, "", "")
		return true
	}
	return false
}

// accept records an accepted send under a new wamid and schedules its
// status webhooks.
func (s *Simulator) accept(phoneNumberID, to string, req *sendRequest, now time.Time) SentMessage {
	m := SentMessage{PhoneNumberID: phoneNumberID, To: req.To, Type: req.Type, BizOpaque: req.BizOpaque, Received: now}
	if req.Text != nil && req.Type == "text" {
		m.Text = req.Text.Body
	}
	if req.Template != nil && req.Type == "template" {
		m.Template = req.Template.Name
	}
	if req.Context != nil {
		m.ContextID = req.Context.MessageID
	}
	s.mu.Lock()
	s.seq++
	m.WAMID = "wamid." + base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "SIM%s:%s:%d", s.wamidTag, phoneNumberID, s.seq))
	s.stats["accepted"]++
	s.mu.Unlock()

	m.Status = s.scheduleStatuses(m, to)
	s.mu.Lock()
	if len(s.sent) >= s.cfg.MaxRecorded {
		s.sent = slices.Delete(s.sent, 0, len(s.sent)/2)
	}
	s.sent = append(s.sent, m)
	s.mu.Unlock()
	return m
}

func (s *Simulator) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

// handlePutFaults replaces all faults, or with ?phone_number_id= the
// faults of that number.
func (s *Simulator) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := json.NewDecoder(io.LimitReader(r.Body, simMaxRequestBody)).Decode(&f); err != nil {
		http.Error(w, "faults: "+err.Error(), http.StatusBadRequest)
		return
	}
	if id := r.URL.Query().Get("phone_number_id"); id != "" {
		s.SetNumberFaults(id, f)
	} else {
		s.SetFaults(f)
	}
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

// handleDeleteFaults clears all faults, or with ?phone_number_id= the
// override of that number.
func (s *Simulator) handleDeleteFaults(w http.ResponseWriter, r *http.Request) {
	if id := r.URL.Query().Get("phone_number_id"); id != "" {
		s.ClearNumberFaults(id)
	} else {
		s.SetFaults(Faults{})
	}
	writeJSON(w, http.StatusOK, s.CurrentFaults())
}

func (s *Simulator) handleMessagesList(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("phone_number_id")
	msgs := s.Sent()
	if id != "" {
		msgs = slices.DeleteFunc(msgs, func(m SentMessage) bool { return m.PhoneNumberID != id })
	}
	if msgs == nil {
		msgs = []SentMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(msgs), "messages": msgs})
}

func (s *Simulator) handleStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Simulator) handleReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}
