package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

type sndResp struct {
	Status int
	Body   []byte
}

func (r sndResp) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

func (r sndResp) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// sndCall sends one API request with a bearer token and a JSON body.
func sndCall(t *testing.T, p *serveProc, method, path, token string, body any) sndResp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return sndResp{resp.StatusCode, b}
}

// sndCommand is sndCall for a command route: when the consumer has not
// answered within the API's wait (202 pending), it polls the command.
func sndCommand(t *testing.T, p *serveProc, method, path, token string, body any) sndResp {
	t.Helper()
	r := sndCall(t, p, method, path, token, body)
	var pending struct {
		CommandID string `json:"command_id"`
		Status    string `json:"status"`
	}
	if r.Status != http.StatusAccepted || json.Unmarshal(r.Body, &pending) != nil || pending.Status != "pending" || pending.CommandID == "" {
		return r
	}
	var out sndResp
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "command "+pending.CommandID+" done", func() (bool, string) {
		c := sndCall(t, p, http.MethodGet, "/v1/commands/"+pending.CommandID, e2eAdminToken, nil)
		var done struct {
			Status     string          `json:"status"`
			HTTPStatus int             `json:"http_status"`
			Result     json.RawMessage `json:"result"`
		}
		json.Unmarshal(c.Body, &done)
		out = sndResp{done.HTTPStatus, done.Result}
		return done.Status == "done", c.String()
	})
	return out
}

// sndAgent creates an agent and returns its id and bearer token.
func sndAgent(t *testing.T, p *serveProc, name string) (int64, string) {
	t.Helper()
	r := sndCall(t, p, http.MethodPost, "/v1/agents", e2eAdminToken,
		obj{"name": name, "email": strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"})
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

// The welcome message goes out exactly once per opened conversation, also
// when Meta redelivers the opening webhook (at once and after the welcome
// was sent); not for an opening message older than the staleness limit;
// and never again in a conversation an agent answered.
func TestSendWelcomeOncePerConversation(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env) // no WA_ACCESS_TOKEN: the built-in simulator
	sim := "http://" + env["WAGW_SIMULATOR_ADDR"]
	const pn = "130000000000001"
	const welcome = "Welcome! An agent will be with you shortly."
	if r := sndCall(t, p, http.MethodPut, "/v1/inboxes/"+pn, e2eAdminToken, obj{"welcome_message": welcome}); r.Status != http.StatusOK {
		t.Fatalf("PUT /v1/inboxes/%s = %s", pn, r)
	}
	_, token := sndAgent(t, p, "Wendy Welcome")

	const fresh, stale, answered, staleAnswered = "316300000001", "316300000002", "316300000003", "316300000004"
	now := time.Now()
	openFresh := sndInbound(pn, fresh, "wamid.WEL.A1", now, "hello")
	p.webhook(t, openFresh)
	p.webhook(t, openFresh) // Meta redelivers at once
	p.webhook(t, sndInbound(pn, stale, "wamid.WEL.B1", now.Add(-time.Hour), "an hour ago"))
	p.webhook(t, sndInbound(pn, answered, "wamid.WEL.C1", now, "hello"))
	p.webhook(t, sndInbound(pn, staleAnswered, "wamid.WEL.D1", now.Add(-time.Hour), "an hour ago"))
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "opening messages applied", func() (bool, string) {
		p.running(t)
		n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE direction = 'in'`)
		c := sqlCount(t, conn, `SELECT count(*) FROM conversations`)
		return n == 4 && c == 4, fmt.Sprintf("%d inbound messages, %d conversations", n, c)
	})

	// Agents answer C (after its welcome was queued) and D (no welcome).
	for _, wa := range []string{answered, staleAnswered} {
		conv := sndConversation(t, conn, wa)
		if r := sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", conv), token,
			obj{"text": "agent answer to " + wa}); r.Status != http.StatusCreated {
			t.Fatalf("reply to %s = %s, want 201", wa, r)
		}
	}
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "welcomes and replies reach the simulator", func() (bool, string) {
		p.running(t)
		sent := sndSimSent(t, sim)
		a, c := sndCount(sent, fresh, welcome), sndCount(sent, answered, welcome)
		rc, rd := sndCount(sent, answered, "agent answer to "+answered), sndCount(sent, staleAnswered, "agent answer to "+staleAnswered)
		return a >= 1 && c >= 1 && rc >= 1 && rd >= 1, fmt.Sprintf("welcomes A %d C %d, replies C %d D %d", a, c, rc, rd)
	})

	// Meta redelivers A's opening webhook after the welcome went out; the
	// contacts write again in their open conversations.
	p.webhook(t, openFresh)
	later := time.Now()
	p.webhook(t, sndInbound(pn, fresh, "wamid.WEL.A2", later, "still there?")) // after the redelivery, on its partition
	p.webhook(t, sndInbound(pn, answered, "wamid.WEL.C2", later, "thanks"))
	p.webhook(t, sndInbound(pn, staleAnswered, "wamid.WEL.D2", later, "thanks"))
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "second messages applied", func() (bool, string) {
		p.running(t)
		n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE direction = 'in'`)
		return n == 7, fmt.Sprintf("%d of 7 inbound messages", n)
	})
	sndOutboxDone(t, p, conn)

	sent := sndSimSent(t, sim)
	for wa, want := range map[string]int{fresh: 1, stale: 0, answered: 1, staleAnswered: 0} {
		if n := sndCount(sent, wa, welcome); n != want {
			t.Errorf("contact %s got %d welcome messages, want %d", wa, n, want)
		}
	}
	if n := sqlCount(t, conn, `SELECT count(*) FROM outbox WHERE kind = 'welcome'`); n != 2 {
		t.Errorf("%d welcome rows in the outbox, want 2", n)
	}
	if n := sqlCount(t, conn, `SELECT count(*) FROM conversations`); n != 4 {
		t.Errorf("%d conversations, want 4 (redeliveries and later messages open none)", n)
	}
	// The welcome is listed on the conversation with its wamid.
	msgs := sndMessages(t, p, sndConversation(t, conn, fresh))
	welcomes := 0
	for _, m := range msgs {
		if m.Direction == "out" && m.Body == welcome {
			welcomes++
			if m.WAMID == nil || m.Status == "" || m.Status == "pending" || m.Status == "failed" {
				t.Errorf("welcome message as listed: %+v, want a wamid and a status past pending", m)
			}
		}
	}
	if welcomes != 1 {
		t.Errorf("conversation of %s lists %d welcome messages, want 1: %+v", fresh, welcomes, msgs)
	}
	// The stale openings say why there was no welcome.
	for _, wa := range []string{stale, staleAnswered} {
		var ds struct {
			Decisions []struct {
				Reasons []struct {
					Code string `json:"code"`
				} `json:"reasons"`
			} `json:"decisions"`
		}
		conv := sndConversation(t, conn, wa)
		if code := p.api(t, fmt.Sprintf("/v1/conversations/%d/decisions", conv), &ds); code != http.StatusOK {
			t.Fatalf("decisions of %d = %d", conv, code)
		}
		found := false
		for _, d := range ds.Decisions {
			for _, r := range d.Reasons {
				found = found || r.Code == "welcome_stale"
			}
		}
		if !found {
			t.Errorf("conversation of %s: no welcome_stale reason in its decisions %+v", wa, ds)
		}
	}
	p.running(t)
}

// Outside the 24-hour customer-service window a free-form reply is refused
// with 422 outside_customer_service_window and a template is accepted;
// inside it free-form is fine. POST /read queues a mark-read that reaches
// the Cloud API.
func TestSendWindowTemplateAndRead(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env) // built-in simulator
	sim := "http://" + env["WAGW_SIMULATOR_ADDR"]
	const pn = "130000000000002"
	_, token := sndAgent(t, p, "Walter Window")
	const outside, inside = "316400000001", "316400000002"
	now := time.Now()
	p.webhook(t, sndInbound(pn, outside, "wamid.WIN.E1", now.Add(-25*time.Hour), "yesterday's question"))
	p.webhook(t, sndInbound(pn, inside, "wamid.WIN.F1", now.Add(-23*time.Hour), "question within the day"))
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "messages applied", func() (bool, string) {
		p.running(t)
		n := sqlCount(t, conn, `SELECT count(*) FROM conversations`)
		return n == 2, fmt.Sprintf("%d conversations", n)
	})
	convOut, convIn := sndConversation(t, conn, outside), sndConversation(t, conn, inside)

	r := sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", convOut), token, obj{"text": "free-form, too late"})
	if r.Status != http.StatusUnprocessableEntity || r.errorCode() != "outside_customer_service_window" {
		t.Errorf("free-form reply outside the window = %s, want 422 outside_customer_service_window", r)
	}
	tmpl := obj{"name": "order_update", "language": obj{"code": "en_US"},
		"components": arr{obj{"type": "body", "parameters": arr{obj{"type": "text", "text": "42"}}}}}
	if r := sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", convOut), token, obj{"template": tmpl}); r.Status != http.StatusCreated {
		t.Errorf("template reply outside the window = %s, want 201", r)
	}
	if r := sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", convIn), token, obj{"text": "free-form, in time"}); r.Status != http.StatusCreated {
		t.Errorf("free-form reply inside the window = %s, want 201", r)
	}
	r = sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/read", convIn), token, obj{})
	var read struct {
		WAMID string `json:"wamid"`
	}
	if r.Status != http.StatusAccepted || json.Unmarshal(r.Body, &read) != nil || read.WAMID != "wamid.WIN.F1" {
		t.Errorf("POST /read = %s, want 202 naming the latest inbound message wamid.WIN.F1", r)
	}

	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "template, reply and mark-read reach the simulator", func() (bool, string) {
		p.running(t)
		sent := sndSimSent(t, sim)
		var stats map[string]int64
		sndSimGet(t, sim, "/_sim/stats", &stats)
		tm, tx := sndCount(sent, outside, "order_update"), sndCount(sent, inside, "free-form, in time")
		return tm == 1 && tx == 1 && stats["marked_read"] >= 1, fmt.Sprintf("template %d, text %d, marked_read %d", tm, tx, stats["marked_read"])
	})
	sndOutboxDone(t, p, conn)
	sent := sndSimSent(t, sim)
	if n := sndCount(sent, outside, "free-form, too late"); n != 0 {
		t.Errorf("the refused free-form message reached the Cloud API %d times", n)
	}
	var stats map[string]int64
	sndSimGet(t, sim, "/_sim/stats", &stats)
	if stats["marked_read"] != 1 {
		t.Errorf("simulator marked %d messages read, want 1", stats["marked_read"])
	}
	if n := sqlCount(t, conn, `SELECT count(*) FROM outbox WHERE kind = 'read' AND state = 'sent'`); n != 1 {
		t.Errorf("%d mark-read rows sent, want 1", n)
	}
	var outs []string
	for _, m := range sndMessages(t, p, convOut) {
		outs = append(outs, m.Direction+":"+m.Type)
	}
	if strings.Join(outs, ",") != "in:text,out:template" {
		t.Errorf("messages outside the window %v, want the inbound one and the template only", outs)
	}
	p.running(t)
}

// Status webhooks the simulator delivers out of order and twice (signed,
// to /webhook) end in the right final status: read.
func TestSendStatusesOutOfOrderAndDuplicated(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	const token = "send-test-access-token"
	sim := simulator.New(simulator.Config{Addr: "127.0.0.1:0", Token: token,
		WebhookURL: "http://" + env["WAGW_HTTP_ADDR"] + "/webhook", AppSecret: e2eAppSecret,
		StatusDelays: simulator.StatusDelays{Sent: 20 * time.Millisecond, Delivered: 120 * time.Millisecond, Read: 240 * time.Millisecond, Jitter: 30 * time.Millisecond},
		ReorderRate:  1, DuplicateRate: 1, DeliveryBackoff: 50 * time.Millisecond, DeliveryBackoffMax: 500 * time.Millisecond, Seed: 11,
		Logger: slog.New(slog.DiscardHandler)})
	addr, err := sim.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	env["WA_ACCESS_TOKEN"], env["WA_API_URL"] = token, "http://"+addr
	p := startServe(t, env)
	const pn = "130000000000003"
	_, agentToken := sndAgent(t, p, "Stella Status")

	contacts := []string{"316500000001", "316500000002", "316500000003"}
	now := time.Now()
	for i, wa := range contacts {
		p.webhook(t, sndInbound(pn, wa, fmt.Sprintf("wamid.ST.%d", i), now, "hi"))
	}
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "conversations opened", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM conversations`)
		return n == len(contacts), fmt.Sprintf("%d conversations", n)
	})
	convs := map[string]int64{}
	for _, wa := range contacts {
		convs[wa] = sndConversation(t, conn, wa)
		r := sndCommand(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", convs[wa]), agentToken, obj{"text": "reply to " + wa})
		if r.Status != http.StatusCreated {
			t.Fatalf("reply to %s = %s, want 201", wa, r)
		}
	}
	// Every status webhook (3 per message, each twice) delivered.
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "status webhooks delivered", func() (bool, string) {
		p.running(t)
		s := sim.Stats()
		want := int64(3 * 2 * len(contacts))
		return s["webhooks_delivered"] == want && s["webhooks_scheduled"] == want, fmt.Sprintf("%v", s)
	})
	s := sim.Stats()
	if s["webhooks_reordered"] != int64(len(contacts)) || s["webhooks_duplicated"] != int64(3*len(contacts)) {
		t.Errorf("simulator stats %v: want every message's statuses reordered and duplicated", s)
	}
	wamids := map[string]string{}
	for _, m := range sim.Sent() {
		wamids[m.To] = m.WAMID
	}
	checkRead := func(what string) {
		t.Helper()
		wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, what, func() (bool, string) {
			p.running(t)
			var bad []string
			for _, wa := range contacts {
				var out *sndMessage
				for _, m := range sndMessages(t, p, convs[wa]) {
					if m.Direction == "out" {
						out = &m
					}
				}
				if out == nil || out.WAMID == nil || *out.WAMID != wamids[wa] || out.Status != "read" {
					bad = append(bad, fmt.Sprintf("%s: %+v (simulator wamid %s)", wa, out, wamids[wa]))
				}
			}
			return len(bad) == 0, strings.Join(bad, "; ")
		})
	}
	checkRead("every reply shows status read")
	if n := sqlCount(t, conn, `SELECT count(*) FROM statuses`); n != 3*len(contacts) {
		t.Errorf("%d status rows, want %d (each status once despite duplicates)", n, 3*len(contacts))
	}

	// Late and repeated statuses (delivered, sent) after read change nothing.
	wa := contacts[0]
	ts := time.Now().Unix()
	p.webhook(t, notification(sndWABA, pn, sndDisplay, nil, nil, arr{
		obj{"id": wamids[wa], "status": "delivered", "timestamp": strconv.FormatInt(ts, 10), "recipient_id": wa},
		obj{"id": wamids[wa], "status": "sent", "timestamp": strconv.FormatInt(ts, 10), "recipient_id": wa},
		obj{"id": wamids[wa], "status": "delivered", "timestamp": strconv.FormatInt(ts+1, 10), "recipient_id": wa},
	}))
	p.webhook(t, sndInbound(pn, wa, "wamid.ST.barrier", time.Now(), "after the late statuses")) // same partition, after them
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "barrier message applied", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE wamid = 'wamid.ST.barrier'`)
		return n == 1, fmt.Sprintf("%d", n)
	})
	checkRead("replies still read after late statuses")
	p.running(t)
}
