package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// Helpers of the assignment tests (assign_test.go): a small API client
// that can be used from goroutines, the shapes the API answers with, and
// webhook builders for one contact's messages.

var assignHTTP = &http.Client{Timeout: 20 * time.Second}

// apiResp is one API answer.
type apiResp struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r apiResp) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

// errorCode returns error.code of a JSON error body, or "".
func (r apiResp) errorCode() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.Body, &e) != nil || e.Error.Message == "" {
		return ""
	}
	return e.Error.Code
}

// apiCall sends one API request; body is marshalled unless it is a string
// or []byte. Safe for goroutines (it never touches testing.T).
func apiCall(base, method, path, token string, body any, hdr map[string]string) (apiResp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return apiResp{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return apiResp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := assignHTTP.Do(req)
	if err != nil {
		return apiResp{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return apiResp{Status: resp.StatusCode, Body: b, Header: resp.Header}, err
}

// apiDo is apiCall for the test goroutine: a transport error fails the test.
func apiDo(t *testing.T, p *serveProc, method, path, token string, body any, hdr map[string]string) apiResp {
	t.Helper()
	r, err := apiCall(p.base, method, path, token, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// apiMust sends a request, requires the status and decodes the body into out.
func apiMust(t *testing.T, p *serveProc, want int, method, path, token string, body any, out any) apiResp {
	t.Helper()
	r := apiDo(t, p, method, path, token, body, nil)
	if r.Status != want {
		t.Fatalf("%s %s = %s, want %d", method, path, r, want)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, r.Body, err)
		}
	}
	return r
}

// wantError requires an error answer with the status and the JSON code.
func wantError(t *testing.T, what string, r apiResp, status int, code string) {
	t.Helper()
	if r.Status != status || r.errorCode() != code {
		t.Errorf("%s = %s, want %d with error code %q and a message", what, r, status, code)
	}
}

// ---------------------------------------------------------------- API shapes

type agentOutJSON struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Token     string `json:"token"`
	Presence  string `json:"presence"`
	OpenCount int    `json:"open_count"`
}

type assigneeJSON struct {
	AgentID int64  `json:"agent_id"`
	Source  string `json:"source"`
}

type convJSON struct {
	ID           int64          `json:"id"`
	ContactID    int64          `json:"contact_id"`
	Inbox        string         `json:"inbox"`
	Status       string         `json:"status"`
	TeamID       *int64         `json:"team_id"`
	Assignees    []assigneeJSON `json:"assignees"`
	Queued       bool           `json:"queued"`
	QueuedAt     *time.Time     `json:"queued_at"`
	FirstReplyAt *time.Time     `json:"first_reply_at"`
	ContactWaID  string         `json:"contact_wa_id"`
	// The first-response SLA (issue 12 rule 4).
	FirstResponseDueAt *time.Time `json:"first_response_due_at"`
	SLABreached        bool       `json:"sla_breached"`
}

// who lists the assignees as "id:source", in the API's order.
func (c convJSON) who() string {
	var s []string
	for _, a := range c.Assignees {
		s = append(s, fmt.Sprintf("%d:%s", a.AgentID, a.Source))
	}
	return "[" + strings.Join(s, " ") + "]"
}

type reasonJSON struct {
	AgentID int64  `json:"agent_id"`
	Code    string `json:"code"`
	Text    string `json:"text"`
}

type decisionJSON struct {
	ID        int64          `json:"id"`
	EventID   string         `json:"event_id"`
	Rule      string         `json:"rule"`
	Summary   string         `json:"summary"`
	Reasons   []reasonJSON   `json:"reasons"`
	Warnings  []string       `json:"warnings"`
	Assignees []assigneeJSON `json:"assignees"`
	TeamID    *int64         `json:"team_id"`
	Queued    bool           `json:"queued"`
	SLABreach *struct {
		DueAt       time.Time `json:"due_at"`
		LateSeconds float64   `json:"late_seconds"`
		AgentIDs    []int64   `json:"agent_ids"`
	} `json:"sla_breach"`
}

// reason returns the first reason with the code (and agent, when not 0).
func (d decisionJSON) reason(code string, agentID int64) (reasonJSON, bool) {
	for _, r := range d.Reasons {
		if r.Code == code && (agentID == 0 || r.AgentID == agentID) {
			return r, true
		}
	}
	return reasonJSON{}, false
}

func (d decisionJSON) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s", d.ID, d.Summary)
	for _, r := range d.Reasons {
		fmt.Fprintf(&b, "\n      [%s] %s", r.Code, r.Text)
	}
	return b.String()
}

type contactJSON struct {
	ID       int64   `json:"id"`
	OwnerIDs []int64 `json:"owner_ids"`
}

// commandAnswer is the body of a command's 200/201 answer.
type commandAnswer struct {
	Conversation convJSON `json:"conversation"`
	Decision     struct {
		Rule     string       `json:"rule"`
		Summary  string       `json:"summary"`
		Reasons  []reasonJSON `json:"reasons"`
		Warnings []string     `json:"warnings"`
	} `json:"decision"`
}

// ---------------------------------------------------------------- admin set-up

func createAgent(t *testing.T, p *serveProc, name string, capacity *int) agentOutJSON {
	t.Helper()
	var a agentOutJSON
	email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"
	apiMust(t, p, http.StatusCreated, http.MethodPost, "/v1/agents", e2eAdminToken,
		obj{"name": name, "email": email, "role": "agent", "capacity": capacity}, &a)
	if a.ID == 0 || a.Token == "" {
		t.Fatalf("POST /v1/agents answered no id or token: %+v", a)
	}
	return a
}

func setPresence(t *testing.T, p *serveProc, a agentOutJSON, status string) {
	t.Helper()
	apiMust(t, p, http.StatusOK, http.MethodPut, fmt.Sprintf("/v1/agents/%d/presence", a.ID), a.Token, obj{"status": status}, nil)
}

func createTeam(t *testing.T, p *serveProc, name, strategy string, members ...agentOutJSON) int64 {
	t.Helper()
	ids := []int64{}
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	var out struct {
		ID int64 `json:"id"`
	}
	apiMust(t, p, http.StatusCreated, http.MethodPost, "/v1/teams", e2eAdminToken,
		obj{"name": name, "member_ids": ids, "strategy": strategy, "online_only": true, "max_open": nil}, &out)
	return out.ID
}

func putInbox(t *testing.T, p *serveProc, pnid string, settings obj) {
	t.Helper()
	apiMust(t, p, http.StatusOK, http.MethodPut, "/v1/inboxes/"+pnid, e2eAdminToken, settings, nil)
}

func getAgent(t *testing.T, p *serveProc, id int64) agentOutJSON {
	t.Helper()
	var a agentOutJSON
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/agents/%d", id), e2eAdminToken, nil, &a)
	return a
}

func getConv(t *testing.T, p *serveProc, id int64) convJSON {
	t.Helper()
	var c convJSON
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations/%d", id), e2eAdminToken, nil, &c)
	return c
}

func getDecisions(t *testing.T, p *serveProc, convID int64) []decisionJSON {
	t.Helper()
	var out struct {
		Decisions []decisionJSON `json:"decisions"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations/%d/decisions", convID), e2eAdminToken, nil, &out)
	return out.Decisions
}

func dumpDecisions(ds []decisionJSON) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("\n    " + d.String())
	}
	return b.String()
}

// ---------------------------------------------------------------- webhooks

// bizNumber is a business number (an inbox) the tests send webhooks to.
type bizNumber struct{ pnid, display, waba string }

func testInbox(n int) bizNumber {
	return bizNumber{pnid: fmt.Sprintf("1091%011d", n), display: fmt.Sprintf("1555%07d", n), waba: "102290129349999"}
}

var wamidSeq atomic.Int64

func nextWAMID(tag string) string {
	return fmt.Sprintf("wamid.ASSIGN.%s.%d.%d", tag, time.Now().UnixNano(), wamidSeq.Add(1))
}

// inText is one inbound text message of a contact.
type inText struct {
	waID, text, wamid string
	at                time.Time
}

// webhookBody is one signed-ready webhook with the messages of any
// contacts on the inbox.
func (in bizNumber) webhookBody(msgs ...inText) []byte {
	var contacts, messages arr
	seen := map[string]bool{}
	for _, m := range msgs {
		if !seen[m.waID] {
			seen[m.waID] = true
			contacts = append(contacts, waContact(m.waID, "Contact "+m.waID))
		}
		at := m.at
		if at.IsZero() {
			at = time.Now()
		}
		messages = append(messages, textMessage(m.waID, m.wamid, at.Unix(), m.text))
	}
	return notification(in.waba, in.pnid, in.display, contacts, messages, nil)
}

// postWebhook signs and posts a webhook body; safe for goroutines.
func postWebhook(base string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign([]byte(e2eAppSecret), body))
	resp, err := assignHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /webhook = %d %s", resp.StatusCode, b)
	}
	return nil
}

// atOnce calls call(0), …, call(n-1), each in a goroutine of its own,
// released at the same instant, and returns when all have returned: for
// requests that race.
func atOnce(n int, call func(i int)) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			call(i)
		}()
	}
	close(gate)
	wg.Wait()
}

// sayText sends one text message of a contact and returns its wamid.
func sayText(t *testing.T, p *serveProc, in bizNumber, waID, text string) string {
	t.Helper()
	w := nextWAMID("say")
	p.webhook(t, in.webhookBody(inText{waID: waID, text: text, wamid: w}))
	return w
}

// reactOnce sends a reaction of the contact: it creates the contact without
// opening a conversation. It waits for the contact and returns its id.
func reactOnce(t *testing.T, p *serveProc, in bizNumber, waID string) int64 {
	t.Helper()
	m := obj{"from": waID, "id": nextWAMID("react"), "timestamp": strconv.FormatInt(time.Now().Unix(), 10),
		"type": "reaction", "reaction": obj{"message_id": "wamid.ASSIGN.SOMETHING", "emoji": "\U0001f44d"}}
	p.webhook(t, notification(in.waba, in.pnid, in.display, arr{waContact(waID, "Contact "+waID)}, arr{m}, nil))
	var c contactJSON
	wagwtest.WaitFor(t, 10*time.Second, "contact "+waID+" is stored", func() (bool, string) {
		r := apiDo(t, p, http.MethodGet, "/v1/contacts?wa_id="+waID, e2eAdminToken, nil, nil)
		if r.Status == http.StatusOK {
			json.Unmarshal(r.Body, &c)
		}
		return r.Status == http.StatusOK, r.String()
	})
	return c.ID
}

// openConv waits until the contact has an open conversation on the inbox
// for which ok holds, and returns it.
func openConv(t *testing.T, p *serveProc, in bizNumber, waID string, what string, ok func(convJSON) bool) convJSON {
	t.Helper()
	var got convJSON
	wagwtest.WaitFor(t, 15*time.Second, what, func() (bool, string) {
		c, found, status := findOpenConv(p.base, in, waID)
		if !found {
			return false, status
		}
		got = c
		return ok == nil || ok(c), fmt.Sprintf("conversation %d: assignees %s, team %v, queued %v", c.ID, c.who(), c.TeamID, c.Queued)
	})
	return got
}

// findOpenConv looks the contact's open conversation on the inbox up
// through the API; safe for goroutines.
func findOpenConv(base string, in bizNumber, waID string) (convJSON, bool, string) {
	r, err := apiCall(base, http.MethodGet, "/v1/contacts?wa_id="+waID, e2eAdminToken, nil, nil)
	if err != nil || r.Status != http.StatusOK {
		return convJSON{}, false, fmt.Sprintf("contact %s: %v %s", waID, err, r)
	}
	var ct contactJSON
	json.Unmarshal(r.Body, &ct)
	r, err = apiCall(base, http.MethodGet, fmt.Sprintf("/v1/conversations?contact_id=%d&status=open", ct.ID), e2eAdminToken, nil, nil)
	if err != nil || r.Status != http.StatusOK {
		return convJSON{}, false, fmt.Sprintf("conversations of %s: %v %s", waID, err, r)
	}
	var list struct {
		Conversations []convJSON `json:"conversations"`
	}
	json.Unmarshal(r.Body, &list)
	for _, c := range list.Conversations {
		if c.Inbox == in.pnid {
			return c, true, ""
		}
	}
	return convJSON{}, false, fmt.Sprintf("contact %s has no open conversation on %s yet", waID, in.pnid)
}

func hasAssignees(c convJSON) bool { return len(c.Assignees) > 0 }

// ---------------------------------------------------------------- Kafka

// partitionOrder returns the ids of the envelopes stored under key on the
// events topic, in partition (offset) order, by reading every partition
// of the topic from the broker at addr.
func partitionOrder(t *testing.T, addr, topic, key string) []string {
	t.Helper()
	var ids []string
	for _, m := range wagwtest.ReadTopic(t, addr, topic) {
		if string(m.Key) != key {
			continue
		}
		var e struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatalf("partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		ids = append(ids, e.ID)
	}
	return ids
}

// groupMembers returns how many members the consumer group has and how
// many partitions they were assigned in total.
func groupMembers(addr, group string) (members, partitions int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	resp, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return 0, 0, err
	}
	if len(resp.Groups) != 1 {
		return 0, 0, fmt.Errorf("%d groups described", len(resp.Groups))
	}
	g := resp.Groups[0]
	if g.Error != nil {
		return 0, 0, g.Error
	}
	if g.GroupState != "Stable" {
		return 0, 0, fmt.Errorf("group state %s", g.GroupState)
	}
	for _, m := range g.Members {
		for _, tp := range m.MemberAssignments.Topics {
			partitions += len(tp.Partitions)
		}
	}
	return len(g.Members), partitions, nil
}

func indexOfString(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
