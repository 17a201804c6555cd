package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// The hostile-input table: what an attacker, a fuzzer or a confused client
// sends to `wagw serve`, each input with the answer it must get. After
// the table: every message of an acknowledged webhook is stored exactly
// once, and the contact the API calls aimed at is not blocked and still
// takes messages and commands.

// hostileRow is one request and the answer it must get.
type hostileRow struct {
	name    string
	method  string
	path    string
	token   string            // bearer token; "" for none
	hdr     map[string]string // more headers
	body    []byte
	signed  bool   // sign body as Meta would (webhooks)
	rawHTTP string // when set, sent as is over TCP instead (announced bodies)
	status  int
	code    string   // error code of a 4xx/5xx; for a 2xx, text the body holds
	stored  []string // wamids that must end up stored exactly once
}

// hostileSetup is what the rows aim at.
type hostileSetup struct {
	in       bizNumber
	waID     string // the contact of the API's conversation
	convID   int64
	contact  int64 // the conversation's contact id
	agent    agentOutJSON
	teamID   int64
	inboxURL string
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	p := startServe(t, serveEnv(t, dsn))

	in := testInbox(80)
	s := hostileSetup{in: in, waID: "4915000080001", inboxURL: "/v1/inboxes/" + in.pnid}
	s.agent = createAgent(t, p, "Hostile Ana", nil)
	s.teamID = createTeam(t, p, "Hostile", "round_robin", s.agent)
	putInbox(t, p, in.pnid, obj{"name": "Hostile"})
	first := sayText(t, p, in, s.waID, "hello")
	c := openConv(t, p, in, s.waID, "the API's conversation is open", nil)
	s.convID, s.contact = c.ID, c.ContactID

	want := map[string]bool{first: true}
	var rows []hostileRow
	rows = append(rows, bodyRows(s)...)
	rows = append(rows, webhookContentRows(s)...)
	rows = append(rows, webhookShapeRows(s)...)
	rows = append(rows, apiRows(s)...)
	rows = append(rows, authzRows(s)...)
	for _, r := range rows {
		got := sendHostile(t, p, r)
		checkHostile(t, r, got)
		for _, w := range r.stored {
			want[w] = true
		}
	}

	// The API's contact still takes commands and messages.
	assignDone(t, p, s.convID, s.agent.ID)
	want[sayText(t, p, in, s.waID, "still here")] = true

	waitStoredOnce(t, conn, want)
	var blocked string
	if err := conn.Get(&blocked, `SELECT blocked_reason FROM contacts WHERE wa_id = $1`, s.waID); err != nil {
		t.Fatal(err)
	}
	if blocked != "" {
		t.Errorf("the contact the API calls aimed at is blocked: %s", blocked)
	}
}

// assignDone assigns the agent and waits for the command's result (the
// consumer may still be working through the table's backlog): it must
// be applied, not refused and not pending forever. A 503 with Retry-After
// (Postgres out of connection slots on a busy machine) is retried, as any
// client does; nothing else is.
func assignDone(t *testing.T, p *serveProc, convID, agentID int64) {
	t.Helper()
	var r apiResp
	wagwtest.WaitEvery(t, 60*time.Second, time.Second, "the assignment after the table is answered", func() (bool, string) {
		r = apiDo(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", convID), e2eAdminToken, obj{"agent_ids": []int64{agentID}}, nil)
		return r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "", r.String()
	})
	if r.Status == http.StatusOK {
		return
	}
	var pending struct {
		Poll string `json:"poll"`
	}
	if r.Status != http.StatusAccepted || json.Unmarshal(r.Body, &pending) != nil {
		t.Fatalf("assign after the table: %s, want 200 or 202\nserve's output:\n%s", r, p.out)
	}
	wagwtest.WaitEvery(t, 60*time.Second, 50*time.Millisecond, "the assignment after the table is applied", func() (bool, string) {
		r := apiDo(t, p, http.MethodGet, pending.Poll, e2eAdminToken, nil, nil)
		return r.Status == http.StatusOK && bytes.Contains(r.Body, []byte(`"http_status":200`)), r.String()
	})
}

// sendHostile sends one row and returns the answer.
func sendHostile(t *testing.T, p *serveProc, r hostileRow) apiResp {
	t.Helper()
	if r.rawHTTP != "" {
		return rawExchange(t, strings.TrimPrefix(p.base, "http://"), r.rawHTTP)
	}
	hdr := map[string]string{}
	for k, v := range r.hdr {
		hdr[k] = v
	}
	if r.signed {
		hdr[whatsapp.SignatureHeader] = whatsapp.Sign([]byte(e2eAppSecret), r.body)
	}
	var body any
	if r.body != nil {
		body = r.body
	}
	resp, err := apiCall(p.base, r.method, r.path, r.token, body, hdr)
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	return resp
}

// rawExchange writes req on a new connection and reads the answer up to
// the end of its body (or until the server closes).
func rawExchange(t *testing.T, addr, req string) apiResp {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req[:min(len(req), 80)], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResp{Status: resp.StatusCode, Body: b, Header: resp.Header}
}

func checkHostile(t *testing.T, r hostileRow, got apiResp) {
	t.Helper()
	cut := func(s string) string {
		if len(s) > 200 {
			return s[:200] + "…"
		}
		return s
	}
	req, answer := cut(r.method+" "+r.path), cut(got.String())
	switch {
	case got.Status != r.status:
		t.Errorf("%s: %s = %s, want %d %s", r.name, req, answer, r.status, r.code)
	case r.status >= 400 && got.errorCode() != r.code:
		t.Errorf("%s: %s = %s, want error code %q", r.name, req, answer, r.code)
	case r.status < 400 && !bytes.Contains(got.Body, []byte(r.code)):
		t.Errorf("%s: %s = %s, want a body with %q", r.name, req, answer, r.code)
	}
}

// waitStoredOnce waits until every wamid in want is stored, then requires
// each once and no message at all stored twice.
func waitStoredOnce(t *testing.T, conn *sqlx.DB, want map[string]bool) {
	t.Helper()
	ids := make([]string, 0, len(want))
	for w := range want {
		ids = append(ids, w)
	}
	wagwtest.WaitEvery(t, 60*time.Second, 50*time.Millisecond, "every acknowledged message is stored", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(DISTINCT wamid) FROM messages WHERE wamid = ANY($1)`, pq.Array(ids))
		return n == len(ids), fmt.Sprintf("%d of %d stored", n, len(ids))
	})
	var dups []string
	if err := conn.Select(&dups, `SELECT wamid FROM messages WHERE wamid IS NOT NULL GROUP BY wamid HAVING count(*) > 1 LIMIT 5`); err != nil {
		t.Fatal(err)
	}
	if len(dups) > 0 {
		t.Errorf("messages stored more than once: %v", dups)
	}
}

// ---------------------------------------------------------------- rows

// webhookPost is a row posting body to /webhook.
func webhookPost(name string, body []byte, signed bool, status int, code string, stored ...string) hostileRow {
	return hostileRow{name: name, method: http.MethodPost, path: "/webhook", body: body, signed: signed,
		hdr: map[string]string{"Content-Type": "application/json"}, status: status, code: code, stored: stored}
}

// bodyRows: what a body may cost (defects 1 and 3).
func bodyRows(s hostileSetup) []hostileRow {
	// 8 MiB of "{" compress to 8 KB: a 1,000:1 bomb whose compressed bytes
	// fit the socket buffer, so the client has written it all when the
	// server answers 415 without reading it and closes.
	bomb := gzipped(bytes.Repeat([]byte("{"), 8<<20))
	gz := func(r hostileRow) hostileRow {
		r.hdr = map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}
		return r
	}
	big, bigIDs := bulkWebhook(s.in, "H3MB", 20, 1300, 2000)
	rows := []hostileRow{
		gz(webhookPost("gzip bomb, unsigned", bomb, false, 415, "content_encoding_unsupported")),
		gz(webhookPost("gzip bomb, signed over the compressed bytes", bomb, true, 415, "content_encoding_unsupported")),
		{name: "gzip body to the API", method: http.MethodPost, path: "/v1/agents", token: e2eAdminToken, body: bomb,
			hdr: map[string]string{"Content-Encoding": "gzip"}, status: 415, code: "content_encoding_unsupported"},
		{name: "API body over 64 KiB", method: http.MethodPost, path: "/v1/agents", token: e2eAdminToken,
			body: []byte(`{"name":"` + strings.Repeat("a", 70<<10) + `","email":"big@example.com"}`), status: 413, code: "body_too_large"},
		// The server reads the first 8 KiB of a body before it answers.
		{name: "webhook announcing 5 MiB, sending 9 KB", rawHTTP: "POST /webhook HTTP/1.1\r\nHost: wagw\r\nContent-Length: 5242880\r\n\r\n" + strings.Repeat(" ", 9000),
			status: 413, code: "body_too_large"},
		{name: "API announcing 4 MiB, sending 9 KB, unauthenticated", rawHTTP: "POST /v1/agents HTTP/1.1\r\nHost: wagw\r\nContent-Length: 4194304\r\n\r\n" + strings.Repeat(" ", 9000),
			status: 413, code: "body_too_large"},
		webhookPost("3 MB of messages, signed", big, true, 200, `"status":"accepted"`, bigIDs...),
		webhookPost("3 MB unparseable, signed", bytes.Repeat([]byte("x"), 3<<20), true, 200, "dead_lettered"),
	}
	return rows
}

// webhookContentRows: signed webhooks with content that must not refuse
// the rest (defect 2), and the classic fuzzer inputs.
func webhookContentRows(s hostileSetup) []hostileRow {
	in := s.in
	msg := func(wa, wamid string, extra obj) obj {
		m := textMessage(wa, wamid, time.Now().Unix(), "hostile "+wamid)
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	one := func(wa string, m obj, statuses arr) []byte {
		return notification(in.waba, in.pnid, in.display, arr{waContact(wa, "Hostile "+wa)}, arr{m}, statuses)
	}
	farStatus := arr{obj{"id": "wamid.H.OUT1", "status": "delivered", "timestamp": "0700000000000", "recipient_id": "4915000080002"}}
	deep := []byte(`{"object":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`)
	many, manyIDs := bulkWebhook(in, "H10K", 10, 10000, 1)
	return []hostileRow{
		webhookPost("a message and a status of year 24152", one("4915000080002", msg("4915000080002", "wamid.H.YEAR", nil), farStatus),
			true, 200, `"status":"accepted"`, "wamid.H.YEAR"),
		webhookPost("a message of year 24152 alone", one("4915000080003", obj{"from": "4915000080003", "id": "wamid.H.YEAR2",
			"timestamp": "0700000000000", "type": "text", "text": obj{"body": "x"}}, nil), true, 200, `"status":"accepted"`),
		webhookPost("unsigned", one("4915000080004", msg("4915000080004", "wamid.H.UNSIGNED", nil), nil), false, 401, "bad_signature"),
		webhookPost("10^5 levels of nesting, signed", deep, true, 200, "dead_lettered"),
		webhookPost("10^5 levels of nesting, unsigned", deep, false, 401, "bad_signature"),
		webhookPost("10^4 messages in 10^4 entries", many, true, 200, `"events":10000`, manyIDs...),
		webhookPost("invalid UTF-8", []byte(strings.Replace(string(one("4915000080005", msg("4915000080005", "wamid.H.UTF8", nil), nil)),
			"hostile", "hostile \xff\xfe", 1)), true, 200, "dead_lettered"),
	}
}

// webhookShapeRows: signed webhooks with duplicate keys, wrong types,
// unknown types and fields, odd and missing ids. Each is acknowledged.
func webhookShapeRows(s hostileSetup) []hostileRow {
	in := s.in
	raw := func(wa, message string) []byte {
		return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"` + in.waba + `","changes":[{"field":"messages","value":{` +
			`"messaging_product":"whatsapp","metadata":{"display_phone_number":"` + in.display + `","phone_number_id":"` + in.pnid + `"},` +
			`"contacts":[{"profile":{"name":"Hostile"},"wa_id":"` + wa + `"}],"messages":[` + message + `]}}]}]}`)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	return []hostileRow{
		webhookPost("duplicate keys", raw("4915000080010", `{"from":"4915000080010","id":"wamid.H.DUPA","id":"wamid.H.DUPB","timestamp":"`+ts+`","type":"text","text":{"body":"a"}}`),
			true, 200, `"status":"accepted"`, "wamid.H.DUPB"),
		webhookPost("timestamp as a number", raw("4915000080011", `{"from":"4915000080011","id":"wamid.H.TSNUM","timestamp":`+ts+`,"type":"text","text":{"body":"a"}}`),
			true, 200, `"status":"accepted"`),
		webhookPost("messages as an object", []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":{}}}]}]}`),
			true, 200, "dead_lettered"),
		webhookPost("unknown message type and fields", raw("4915000080012", `{"from":"4915000080012","id":"wamid.H.FUTURE","timestamp":"`+ts+`","type":"hologram","hologram":{"depth":3},"future_field":[1,2]}`),
			true, 200, `"status":"accepted"`, "wamid.H.FUTURE"),
		webhookPost("unknown change field", []byte(`{"object":"whatsapp_business_account","entry":[{"id":"`+in.waba+`","changes":[{"field":"teleport","value":{"where":"mars"}}]}]}`),
			true, 200, `"status":"accepted"`),
		webhookPost("message without an id", raw("4915000080013", `{"from":"4915000080013","timestamp":"`+ts+`","type":"text","text":{"body":"a"}}`),
			true, 200, `"status":"accepted"`),
		webhookPost("message with an empty id", raw("4915000080014", `{"from":"4915000080014","id":"","timestamp":"`+ts+`","type":"text","text":{"body":"a"}}`),
			true, 200, `"status":"accepted"`),
		webhookPost("empty body", []byte{}, true, 200, "dead_lettered"),
		webhookPost("entry null", []byte(`{"object":"whatsapp_business_account","entry":null}`), true, 200, "dead_lettered"),
	}
}

// apiRows: ranges, ids and text in the API (defect 4), refused before
// anything is produced.
func apiRows(s hostileSetup) []hostileRow {
	conv := fmt.Sprintf("/v1/conversations/%d", s.convID)
	post := func(name, path, body string, status int, code string) hostileRow {
		return hostileRow{name: name, method: http.MethodPost, path: path, token: e2eAdminToken, body: []byte(body), status: status, code: code}
	}
	put := func(name, path, body string, status int, code string) hostileRow {
		r := post(name, path, body, status, code)
		r.method = http.MethodPut
		return r
	}
	get := func(name, path string, status int, code string) hostileRow {
		return hostileRow{name: name, method: http.MethodGet, path: path, token: e2eAdminToken, status: status, code: code}
	}
	manyIDs := "[" + strings.TrimSuffix(strings.Repeat("1,", 10000), ",") + "]"
	return []hostileRow{
		post("team id past 32 bits", conv+"/assignees", `{"team_id":3000000000}`, 400, "bad_id"),
		post("negative team id", conv+"/assignees", `{"team_id":-1}`, 400, "bad_id"),
		post("team id past 64 bits", conv+"/assignees", `{"team_id":1e30}`, 400, "bad_json"),
		post("team id as a string", conv+"/assignees", `{"team_id":"7"}`, 400, "bad_json"),
		post("duplicate keys in the API", conv+"/assignees", fmt.Sprintf(`{"team_id":%d,"team_id":%d}`, s.teamID, s.teamID), 400, "bad_json"),
		post("negative agent id", conv+"/assignees", `{"agent_ids":[-5]}`, 400, "bad_id"),
		post("agent id zero", conv+"/assignees", `{"agent_ids":[0]}`, 400, "bad_id"),
		post("10^4 agent ids", conv+"/assignees", `{"agent_ids":`+manyIDs+`}`, 400, "too_many_ids"),
		post("empty agent ids", conv+"/assignees", `{"agent_ids":[]}`, 400, "nothing_to_assign"),
		post("10^4 levels of nesting", conv+"/assignees", `{"agent_ids":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`, 400, "bad_json"),
		post("invalid UTF-8", conv+"/messages", "{\"text\":\"a\xff\"}", 400, "bad_json"),
		post("text with NUL", conv+"/messages", `{"text":"a\u0000b"}`, 400, "bad_text"),
		post("text of 5000 characters", conv+"/messages", `{"text":"`+strings.Repeat("é", 5000)+`"}`, 400, "text_too_long"),
		post("negative reply_to", conv+"/messages", `{"text":"hi","reply_to":-1}`, 400, "bad_id"),
		post("template that is not an object", conv+"/messages", `{"template":"hello"}`, 400, "bad_message"),
		post("NUL inside a template", conv+"/messages", `{"template":{"name":"a\u0000"}}`, 400, "bad_text"),
		post("negative claim agent", conv+"/claim", `{"agent_id":-3}`, 400, "bad_id"),
		put("owner id past 32 bits", fmt.Sprintf("/v1/contacts/%d/owners", s.contact), `{"agent_ids":[3000000000]}`, 400, "bad_id"),
		{name: "unassign agent past 32 bits", method: http.MethodDelete, path: conv + "/assignees/3000000000", token: e2eAdminToken, status: 400, code: "bad_id"},
		get("conversation id zero", "/v1/conversations/0", 400, "bad_id"),
		get("negative conversation id", "/v1/conversations/-1", 400, "bad_id"),
		get("conversation id past 64 bits", "/v1/conversations/99999999999999999999", 400, "bad_id"),
		get("empty conversation id", "/v1/conversations//messages", 404, "not_found"),
		get("wa_id with NUL", "/v1/contacts?wa_id=%00", 400, "bad_query"),
		get("wa_id of 1000 digits", "/v1/contacts?wa_id="+strings.Repeat("9", 1000), 400, "bad_query"),
		get("URL of 10 KB", "/v1/contacts?wa_id="+strings.Repeat("9", 10000), 431, "request_header_fields_too_large"),
		get("negative limit", conv+"/messages?limit=-1", 400, "bad_query"),
		get("command id of 1000 characters", "/v1/commands/"+strings.Repeat("c", 1000), 400, "bad_id"),
		{name: "Idempotency-Key not UTF-8", method: http.MethodPost, path: conv + "/resolve", token: e2eAdminToken, body: []byte(`{}`),
			hdr: map[string]string{"Idempotency-Key": "k\xff"}, status: 400, code: "bad_idempotency_key"},
		post("agent capacity past 32 bits", "/v1/agents", `{"name":"Cap","email":"cap@example.com","capacity":3000000000}`, 422, "invalid_agent"),
		post("agent name with NUL", "/v1/agents", `{"name":"A\u0000","email":"nul@example.com"}`, 400, "bad_text"),
		post("team member past 32 bits", "/v1/teams", `{"name":"Big","member_ids":[3000000000]}`, 400, "bad_id"),
		put("inbox fallback agent past 32 bits", s.inboxURL, `{"name":"Hostile","fallback_agent_id":3000000000}`, 400, "bad_id"),
	}
}

// authzRows: admin-only reads, Meta's payload, and one's own profile
// (defect 12).
func authzRows(s hostileSetup) []hostileRow {
	agent := func(name, path string, status int, code string) hostileRow {
		return hostileRow{name: name, method: http.MethodGet, path: path, token: s.agent.Token, status: status, code: code}
	}
	admin := func(r hostileRow) hostileRow { r.name += " (admin)"; r.token = e2eAdminToken; return r }
	return []hostileRow{
		agent("agent lists agents", "/v1/agents", 403, "forbidden"),
		admin(agent("list agents", "/v1/agents", 200, `"agents"`)),
		agent("agent reads an agent", fmt.Sprintf("/v1/agents/%d", s.agent.ID), 403, "forbidden"),
		agent("agent lists their teams", "/v1/teams", 200, fmt.Sprintf(`"id":%d`, s.teamID)),
		admin(agent("list teams", "/v1/teams", 200, `"teams"`)),
		agent("agent reads their team", fmt.Sprintf("/v1/teams/%d", s.teamID), 200, `"member_ids"`),
		{name: "agent edits their team", method: http.MethodPut, path: fmt.Sprintf("/v1/teams/%d", s.teamID), token: s.agent.Token,
			body: []byte(`{"name":"Hostile","member_ids":[]}`), status: 403, code: "forbidden"},
		agent("agent lists inboxes", "/v1/inboxes", 403, "forbidden"),
		agent("agent reads an inbox", s.inboxURL, 403, "forbidden"),
		admin(agent("read an inbox", s.inboxURL, 200, `"phone_number_id"`)),
		agent("agent reads Meta's payload", fmt.Sprintf("/v1/conversations/%d/messages?raw=true", s.convID), 403, "forbidden"),
		admin(agent("read Meta's payload", fmt.Sprintf("/v1/conversations/%d/messages?raw=true", s.convID), 200, `"raw"`)),
		agent("agent reads the messages", fmt.Sprintf("/v1/conversations/%d/messages", s.convID), 200, `"messages"`),
		agent("agent reads their own profile", "/v1/me", 200, fmt.Sprintf(`"id":%d`, s.agent.ID)),
		admin(agent("read one's own profile", "/v1/me", 200, `"role":"admin"`)),
		{name: "profile without a token", method: http.MethodGet, path: "/v1/me", status: 401, code: "unauthorized"},
	}
}

// ---------------------------------------------------------------- bodies

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// bulkWebhook is one webhook with n text messages of textLen bytes from
// contacts contacts, each message in an entry of its own. It returns the
// body and the wamids.
func bulkWebhook(in bizNumber, tag string, contacts, n, textLen int) ([]byte, []string) {
	var b strings.Builder
	ids := make([]string, n)
	text := strings.Repeat("h", textLen)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	b.WriteString(`{"object":"whatsapp_business_account","entry":[`)
	for i := 0; i < n; i++ {
		wa := fmt.Sprintf("49151%02d%06d", contacts, i%contacts)
		ids[i] = fmt.Sprintf("wamid.%s.%05d", tag, i)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%s","changes":[{"field":"messages","value":{"messaging_product":"whatsapp",`+
			`"metadata":{"display_phone_number":"%s","phone_number_id":"%s"},"contacts":[{"profile":{"name":"B"},"wa_id":"%s"}],`+
			`"messages":[{"from":"%s","id":"%s","timestamp":"%s","type":"text","text":{"body":"%s"}}]}}]}`,
			in.waba, in.display, in.pnid, wa, wa, ids[i], ts, text)
	}
	b.WriteString(`]}`)
	return []byte(b.String()), ids
}
