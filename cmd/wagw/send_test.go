package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/simulator"
	"github.com/wagw/wagw/wagwtest"
)

// Sending through `wagw serve`: welcome messages, the 24-hour window,
// mark-as-read and status webhooks, against the Cloud API simulator.

const (
	sndWABA    = "102290129340777"
	sndDisplay = "15550007777"
)

// sndCommand is apiDo for a command route: when the consumer has not
// answered within the API's wait (202 pending), it polls the command.
func sndCommand(t *testing.T, p *serveProc, method, path, token string, body any) apiResp {
	t.Helper()
	r := apiDo(t, p, method, path, token, body, nil)
	var pending struct {
		CommandID string `json:"command_id"`
		Status    string `json:"status"`
	}
	if r.Status != http.StatusAccepted || json.Unmarshal(r.Body, &pending) != nil || pending.Status != "pending" || pending.CommandID == "" {
		return r
	}
	var out apiResp
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "command "+pending.CommandID+" done", func() (bool, string) {
		c := apiDo(t, p, http.MethodGet, "/v1/commands/"+pending.CommandID, e2eAdminToken, nil, nil)
		var done struct {
			Status     string          `json:"status"`
			HTTPStatus int             `json:"http_status"`
			Result     json.RawMessage `json:"result"`
		}
		json.Unmarshal(c.Body, &done)
		out = apiResp{Status: done.HTTPStatus, Body: done.Result}
		return done.Status == "done", c.String()
	})
	return out
}

// sndAgent creates an agent and returns its id and bearer token.
func sndAgent(t *testing.T, p *serveProc, name string) (int64, string) {
	t.Helper()
	r := apiDo(t, p, http.MethodPost, "/v1/agents", e2eAdminToken,
		obj{"name": name, "email": strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"}, nil)
	var a struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	if r.Status != http.StatusCreated || json.Unmarshal(r.Body, &a) != nil || a.Token == "" {
		t.Fatalf("POST /v1/agents = %s, want 201 with a token", r)
	}
	return a.ID, a.Token
}

// sndInbound is a webhook with one text message from wa at the given time.
func sndInbound(pnid, wa, wamid string, at time.Time, text string) []byte {
	return notification(sndWABA, pnid, sndDisplay, arr{waContact(wa, "Send "+wa)}, arr{textMessage(wa, wamid, at.Unix(), text)}, nil)
}

// sndConversation returns the open conversation of the contact wa.
func sndConversation(t *testing.T, conn *sqlx.DB, wa string) int64 {
	t.Helper()
	var id int64
	if err := conn.Get(&id, `SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
		WHERE ct.wa_id = $1 AND c.status = 'open'`, wa); err != nil {
		t.Fatalf("conversation of %s: %v", wa, err)
	}
	return id
}

type sndMessage struct {
	ID        int64   `json:"id"`
	WAMID     *string `json:"wamid"`
	Direction string  `json:"direction"`
	Type      string  `json:"type"`
	Body      string  `json:"body"`
	Status    string  `json:"status"`
	ErrorCode *int    `json:"error_code"`
}

// sndMessages lists a conversation's messages through the API.
func sndMessages(t *testing.T, p *serveProc, conv int64) []sndMessage {
	t.Helper()
	var out struct {
		Messages []sndMessage `json:"messages"`
	}
	if code := p.api(t, fmt.Sprintf("/v1/conversations/%d/messages", conv), &out); code != http.StatusOK {
		t.Fatalf("GET /v1/conversations/%d/messages = %d", conv, code)
	}
	return out.Messages
}

// sndSimGet reads one of the simulator's inspection endpoints.
func sndSimGet(t *testing.T, base, path string, v any) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", base, path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s%s: %v", base, path, err)
	}
}

func sndSimSent(t *testing.T, base string) []simulator.SentMessage {
	t.Helper()
	var out struct {
		Messages []simulator.SentMessage `json:"messages"`
	}
	sndSimGet(t, base, "/_sim/messages", &out)
	return out.Messages
}

// sndCount counts the accepted messages to wa with the given text
// (or template name).
func sndCount(sent []simulator.SentMessage, wa, text string) int {
	n := 0
	for _, m := range sent {
		if m.To == wa && (m.Text == text || m.Template == text) {
			n++
		}
	}
	return n
}

// sndOutboxDone waits until no outbox row is pending or unreported.
func sndOutboxDone(t *testing.T, p *serveProc, conn *sqlx.DB) {
	t.Helper()
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "outbox drained and reported", func() (bool, string) {
		p.running(t)
		n := sqlCount(t, conn, `SELECT count(*) FROM outbox WHERE state = 'pending' OR NOT reported`)
		return n == 0, fmt.Sprintf("%d rows pending or unreported", n)
	})
}

// sendRig is `wagw serve` on a fresh database, sending to the built-in
// Cloud API simulator at sim, with an agent's token.
type sendRig struct {
	p     *serveProc
	conn  *sqlx.DB
	sim   string
	token string
}

// startSendRig starts serve with the built-in simulator (no
// WA_ACCESS_TOKEN) and creates the agent name.
func startSendRig(t *testing.T, agent string) *sendRig {
	t.Helper()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	r := &sendRig{p: startServe(t, env), conn: conn, sim: "http://" + env["WAGW_SIMULATOR_ADDR"]}
	_, r.token = sndAgent(t, r.p, agent)
	return r
}

// waitInbound waits until n inbound messages (and, when convs ≥ 0, convs
// conversations) are stored.
func (r *sendRig) waitInbound(t *testing.T, what string, n, convs int) {
	t.Helper()
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, what, func() (bool, string) {
		r.p.running(t)
		got := sqlCount(t, r.conn, `SELECT count(*) FROM messages WHERE direction = 'in'`)
		c := sqlCount(t, r.conn, `SELECT count(*) FROM conversations`)
		return got == n && (convs < 0 || c == convs), fmt.Sprintf("%d of %d inbound messages, %d conversations", got, n, c)
	})
}

// reply posts an agent's text or template reply to conv.
func (r *sendRig) reply(t *testing.T, conv int64, body obj) apiResp {
	t.Helper()
	return sndCommand(t, r.p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", conv), r.token, body)
}

const (
	welcomeText                                 = "Welcome! An agent will be with you shortly."
	welcomePN                                   = "130000000000001"
	welcomeFresh, welcomeStale                  = "316300000001", "316300000002" // no agent answers them
	welcomeAnswered, welcomeStaleAnswered       = "316300000003", "316300000004" // an agent answers them
	welcomeAnswer                               = "agent answer to "
	windowPN, windowOutside, windowInside       = "130000000000002", "316400000001", "316400000002"
	windowTooLate, windowInTime, windowTemplate = "free-form, too late", "free-form, in time", "order_update"
	windowLatestInbound                         = "wamid.WIN.F1"
	statusPN, statusSimAccessToken              = "130000000000003", "send-test-access-token"
)

// runWelcomeScript opens four conversations on an inbox with a welcome
// message: a fresh one (whose opening webhook Meta redelivers at once and
// again after the welcome went out), a stale one (its opening message an
// hour old), and one of each that an agent answers. The contacts then
// write again; it returns when the outbox is drained and reported.
func runWelcomeScript(t *testing.T) *sendRig {
	t.Helper()
	r := startSendRig(t, "Wendy Welcome")
	p := r.p
	if res := apiDo(t, p, http.MethodPut, "/v1/inboxes/"+welcomePN, e2eAdminToken, obj{"welcome_message": welcomeText}, nil); res.Status != http.StatusOK {
		t.Fatalf("PUT /v1/inboxes/%s = %s", welcomePN, res)
	}
	now := time.Now()
	openFresh := sndInbound(welcomePN, welcomeFresh, "wamid.WEL.A1", now, "hello")
	p.webhook(t, openFresh)
	p.webhook(t, openFresh) // Meta redelivers at once
	p.webhook(t, sndInbound(welcomePN, welcomeStale, "wamid.WEL.B1", now.Add(-time.Hour), "an hour ago"))
	p.webhook(t, sndInbound(welcomePN, welcomeAnswered, "wamid.WEL.C1", now, "hello"))
	p.webhook(t, sndInbound(welcomePN, welcomeStaleAnswered, "wamid.WEL.D1", now.Add(-time.Hour), "an hour ago"))
	r.waitInbound(t, "opening messages applied", 4, 4)
	for _, wa := range []string{welcomeAnswered, welcomeStaleAnswered} {
		if res := r.reply(t, sndConversation(t, r.conn, wa), obj{"text": welcomeAnswer + wa}); res.Status != http.StatusCreated {
			t.Fatalf("reply to %s = %s, want 201", wa, res)
		}
	}
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "welcomes and replies reach the simulator", func() (bool, string) {
		p.running(t)
		sent := sndSimSent(t, r.sim)
		a, c := sndCount(sent, welcomeFresh, welcomeText), sndCount(sent, welcomeAnswered, welcomeText)
		rc, rd := sndCount(sent, welcomeAnswered, welcomeAnswer+welcomeAnswered), sndCount(sent, welcomeStaleAnswered, welcomeAnswer+welcomeStaleAnswered)
		return a >= 1 && c >= 1 && rc >= 1 && rd >= 1, fmt.Sprintf("welcomes A %d C %d, replies C %d D %d", a, c, rc, rd)
	})
	// Meta redelivers A's opening webhook after the welcome went out; the
	// contacts write again in their open conversations.
	p.webhook(t, openFresh)
	later := time.Now()
	p.webhook(t, sndInbound(welcomePN, welcomeFresh, "wamid.WEL.A2", later, "still there?")) // after the redelivery, on its partition
	p.webhook(t, sndInbound(welcomePN, welcomeAnswered, "wamid.WEL.C2", later, "thanks"))
	p.webhook(t, sndInbound(welcomePN, welcomeStaleAnswered, "wamid.WEL.D2", later, "thanks"))
	r.waitInbound(t, "second messages applied", 7, -1)
	sndOutboxDone(t, p, r.conn)
	return r
}

// The welcome message (runWelcomeScript), one behaviour a subtest.
func TestWelcomeMessage(t *testing.T) {
	t.Parallel()
	r := runWelcomeScript(t)
	t.Run("goes out once per opened conversation, also when Meta redelivers the opening", func(t *testing.T) {
		sent := sndSimSent(t, r.sim)
		for _, wa := range []string{welcomeFresh, welcomeAnswered} {
			if n := sndCount(sent, wa, welcomeText); n != 1 {
				t.Errorf("contact %s got %d welcome messages, want 1", wa, n)
			}
		}
		if n := sqlCount(t, r.conn, `SELECT count(*) FROM outbox WHERE kind = 'welcome'`); n != 2 {
			t.Errorf("%d welcome rows in the outbox, want 2", n)
		}
	})
	t.Run("is not sent for an opening message older than the staleness limit, and the decision says why", func(t *testing.T) {
		sent := sndSimSent(t, r.sim)
		for _, wa := range []string{welcomeStale, welcomeStaleAnswered} {
			if n := sndCount(sent, wa, welcomeText); n != 0 {
				t.Errorf("contact %s got %d welcome messages, want 0", wa, n)
			}
			if !hasReason(t, r.p, sndConversation(t, r.conn, wa), "welcome_stale") {
				t.Errorf("conversation of %s: no welcome_stale reason in its decisions", wa)
			}
		}
	})
	t.Run("redeliveries and later messages open no conversation", func(t *testing.T) {
		if n := sqlCount(t, r.conn, `SELECT count(*) FROM conversations`); n != 4 {
			t.Errorf("%d conversations, want 4 (redeliveries and later messages open none)", n)
		}
	})
	t.Run("is listed on its conversation with its wamid and a status past pending", func(t *testing.T) {
		msgs := sndMessages(t, r.p, sndConversation(t, r.conn, welcomeFresh))
		welcomes := 0
		for _, m := range msgs {
			if m.Direction == "out" && m.Body == welcomeText {
				welcomes++
				if m.WAMID == nil || m.Status == "" || m.Status == "pending" || m.Status == "failed" {
					t.Errorf("welcome message as listed: %+v, want a wamid and a status past pending", m)
				}
			}
		}
		if welcomes != 1 {
			t.Errorf("conversation of %s lists %d welcome messages, want 1: %+v", welcomeFresh, welcomes, msgs)
		}
	})
	r.p.running(t)
}

// hasReason reports whether a decision of conversation conv gives the
// reason code.
func hasReason(t *testing.T, p *serveProc, conv int64, code string) bool {
	t.Helper()
	var ds struct {
		Decisions []struct {
			Reasons []struct {
				Code string `json:"code"`
			} `json:"reasons"`
		} `json:"decisions"`
	}
	if status := p.api(t, fmt.Sprintf("/v1/conversations/%d/decisions", conv), &ds); status != http.StatusOK {
		t.Fatalf("decisions of %d = %d", conv, status)
	}
	for _, d := range ds.Decisions {
		for _, r := range d.Reasons {
			if r.Code == code {
				return true
			}
		}
	}
	return false
}

// windowScript is serve after an agent answered a contact who last wrote
// 25 hours ago (free-form, then a template) and one who wrote 23 hours
// ago (free-form, then mark-read), with the answers it gave.
type windowScript struct {
	*sendRig
	convOut, convIn                 int64
	tooLate, template, inTime, read apiResp
}

func runWindowScript(t *testing.T) *windowScript {
	t.Helper()
	s := &windowScript{sendRig: startSendRig(t, "Walter Window")}
	p := s.p
	now := time.Now()
	p.webhook(t, sndInbound(windowPN, windowOutside, "wamid.WIN.E1", now.Add(-25*time.Hour), "yesterday's question"))
	p.webhook(t, sndInbound(windowPN, windowInside, windowLatestInbound, now.Add(-23*time.Hour), "question within the day"))
	s.waitInbound(t, "messages applied", 2, 2)
	s.convOut, s.convIn = sndConversation(t, s.conn, windowOutside), sndConversation(t, s.conn, windowInside)
	s.tooLate = s.reply(t, s.convOut, obj{"text": windowTooLate})
	s.template = s.reply(t, s.convOut, obj{"template": obj{"name": windowTemplate, "language": obj{"code": "en_US"},
		"components": arr{obj{"type": "body", "parameters": arr{obj{"type": "text", "text": "42"}}}}}})
	s.inTime = s.reply(t, s.convIn, obj{"text": windowInTime})
	s.read = sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/read", s.convIn), s.token, obj{})
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "template, reply and mark-read reach the simulator", func() (bool, string) {
		p.running(t)
		sent := sndSimSent(t, s.sim)
		marked := s.markedRead(t)
		tm, tx := sndCount(sent, windowOutside, windowTemplate), sndCount(sent, windowInside, windowInTime)
		return tm == 1 && tx == 1 && marked >= 1, fmt.Sprintf("template %d, text %d, marked_read %d", tm, tx, marked)
	})
	sndOutboxDone(t, p, s.conn)
	return s
}

// markedRead is how many messages the simulator marked read.
func (r *sendRig) markedRead(t *testing.T) int64 {
	t.Helper()
	var stats map[string]int64
	sndSimGet(t, r.sim, "/_sim/stats", &stats)
	return stats["marked_read"]
}

// The 24-hour customer-service window and mark-read (runWindowScript),
// one behaviour a subtest.
func TestReplyWindow(t *testing.T) {
	t.Parallel()
	s := runWindowScript(t)
	t.Run("a free-form reply outside the window is refused with 422 and never sent", func(t *testing.T) {
		if s.tooLate.Status != http.StatusUnprocessableEntity || s.tooLate.errorCode() != "outside_customer_service_window" {
			t.Errorf("free-form reply outside the window = %s, want 422 outside_customer_service_window", s.tooLate)
		}
		if n := sndCount(sndSimSent(t, s.sim), windowOutside, windowTooLate); n != 0 {
			t.Errorf("the refused free-form message reached the Cloud API %d times", n)
		}
	})
	t.Run("a template outside the window is accepted", func(t *testing.T) {
		if s.template.Status != http.StatusCreated {
			t.Errorf("template reply outside the window = %s, want 201", s.template)
		}
		var outs []string
		for _, m := range sndMessages(t, s.p, s.convOut) {
			outs = append(outs, m.Direction+":"+m.Type)
		}
		if strings.Join(outs, ",") != "in:text,out:template" {
			t.Errorf("messages outside the window %v, want the inbound one and the template only", outs)
		}
	})
	t.Run("a free-form reply inside the window is accepted", func(t *testing.T) {
		if s.inTime.Status != http.StatusCreated {
			t.Errorf("free-form reply inside the window = %s, want 201", s.inTime)
		}
	})
	t.Run("mark-read names the latest inbound message and reaches the Cloud API once", func(t *testing.T) {
		var read struct {
			WAMID string `json:"wamid"`
		}
		if s.read.Status != http.StatusAccepted || json.Unmarshal(s.read.Body, &read) != nil || read.WAMID != windowLatestInbound {
			t.Errorf("POST /read = %s, want 202 naming the latest inbound message %s", s.read, windowLatestInbound)
		}
		if n := s.markedRead(t); n != 1 {
			t.Errorf("simulator marked %d messages read, want 1", n)
		}
		if n := sqlCount(t, s.conn, `SELECT count(*) FROM outbox WHERE kind = 'read' AND state = 'sent'`); n != 1 {
			t.Errorf("%d mark-read rows sent, want 1", n)
		}
	})
	s.p.running(t)
}

// statusScript is serve sending through a Cloud API simulator that
// delivers every status webhook (signed, to /webhook) out of order and
// twice, after agents answered three contacts.
type statusScript struct {
	p        *serveProc
	conn     *sqlx.DB
	sim      *simulator.Simulator
	contacts []string
	convs    map[string]int64
	wamids   map[string]string // contact → wamid of the answer
}

func runStatusScript(t *testing.T) *statusScript {
	t.Helper()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	sim := simulator.New(simulator.Config{Addr: "127.0.0.1:0", Token: statusSimAccessToken,
		WebhookURL: "http://" + env["WAGW_HTTP_ADDR"] + "/webhook", AppSecret: e2eAppSecret,
		StatusDelays: simulator.StatusDelays{Sent: 20 * time.Millisecond, Delivered: 120 * time.Millisecond, Read: 240 * time.Millisecond, Jitter: 30 * time.Millisecond},
		ReorderRate:  1, DuplicateRate: 1, DeliveryBackoff: 50 * time.Millisecond, DeliveryBackoffMax: 500 * time.Millisecond, Seed: 11,
		Logger: slog.New(slog.DiscardHandler)})
	addr, err := sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	env["WA_ACCESS_TOKEN"], env["WA_API_URL"] = statusSimAccessToken, "http://"+addr
	s := &statusScript{p: startServe(t, env), conn: conn, sim: sim, contacts: []string{"316500000001", "316500000002", "316500000003"},
		convs: map[string]int64{}, wamids: map[string]string{}}
	_, agentToken := sndAgent(t, s.p, "Stella Status")
	now := time.Now()
	for i, wa := range s.contacts {
		s.p.webhook(t, sndInbound(statusPN, wa, fmt.Sprintf("wamid.ST.%d", i), now, "hi"))
	}
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "conversations opened", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM conversations`)
		return n == len(s.contacts), fmt.Sprintf("%d conversations", n)
	})
	for _, wa := range s.contacts {
		s.convs[wa] = sndConversation(t, conn, wa)
		r := sndCommand(t, s.p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", s.convs[wa]), agentToken, obj{"text": "reply to " + wa})
		if r.Status != http.StatusCreated {
			t.Fatalf("reply to %s = %s, want 201", wa, r)
		}
	}
	// Every status webhook (3 per message, each twice) delivered.
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "status webhooks delivered", func() (bool, string) {
		s.p.running(t)
		st := sim.Stats()
		want := int64(3 * 2 * len(s.contacts))
		return st["webhooks_delivered"] == want && st["webhooks_scheduled"] == want, fmt.Sprintf("%v", st)
	})
	for _, m := range sim.Sent() {
		s.wamids[m.To] = m.WAMID
	}
	return s
}

// waitRead waits until every answer is listed with its wamid and status read.
func (s *statusScript) waitRead(t *testing.T, what string) {
	t.Helper()
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, what, func() (bool, string) {
		s.p.running(t)
		var bad []string
		for _, wa := range s.contacts {
			var out *sndMessage
			for _, m := range sndMessages(t, s.p, s.convs[wa]) {
				if m.Direction == "out" {
					out = &m
				}
			}
			if out == nil || out.WAMID == nil || *out.WAMID != s.wamids[wa] || out.Status != "read" {
				bad = append(bad, fmt.Sprintf("%s: %+v (simulator wamid %s)", wa, out, s.wamids[wa]))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
}

// Status webhooks out of order and duplicated (runStatusScript), one
// behaviour a subtest; the last adds late statuses.
func TestStatusWebhooks(t *testing.T) {
	t.Parallel()
	s := runStatusScript(t)
	t.Run("the simulator reorders and duplicates every message's statuses", func(t *testing.T) {
		st := s.sim.Stats()
		if st["webhooks_reordered"] != int64(len(s.contacts)) || st["webhooks_duplicated"] != int64(3*len(s.contacts)) {
			t.Errorf("simulator stats %v: want every message's statuses reordered and duplicated", st)
		}
	})
	t.Run("out of order and twice, they end in read", func(t *testing.T) {
		s.waitRead(t, "every reply shows status read")
	})
	t.Run("each status is stored once despite duplicates", func(t *testing.T) {
		if n := sqlCount(t, s.conn, `SELECT count(*) FROM statuses`); n != 3*len(s.contacts) {
			t.Errorf("%d status rows, want %d (each status once despite duplicates)", n, 3*len(s.contacts))
		}
	})
	t.Run("late and repeated statuses after read change nothing", func(t *testing.T) {
		wa := s.contacts[0]
		ts := time.Now().Unix()
		s.p.webhook(t, notification(sndWABA, statusPN, sndDisplay, nil, nil, arr{
			obj{"id": s.wamids[wa], "status": "delivered", "timestamp": strconv.FormatInt(ts, 10), "recipient_id": wa},
			obj{"id": s.wamids[wa], "status": "sent", "timestamp": strconv.FormatInt(ts, 10), "recipient_id": wa},
			obj{"id": s.wamids[wa], "status": "delivered", "timestamp": strconv.FormatInt(ts+1, 10), "recipient_id": wa},
		}))
		s.p.webhook(t, sndInbound(statusPN, wa, "wamid.ST.barrier", time.Now(), "after the late statuses")) // same partition, after them
		wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "barrier message applied", func() (bool, string) {
			n := sqlCount(t, s.conn, `SELECT count(*) FROM messages WHERE wamid = 'wamid.ST.barrier'`)
			return n == 1, fmt.Sprintf("%d", n)
		})
		s.waitRead(t, "replies still read after late statuses")
	})
	s.p.running(t)
}
