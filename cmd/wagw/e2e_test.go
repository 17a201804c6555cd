package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

const (
	e2eAppSecret   = "e2e-app-secret"
	e2eVerifyToken = "e2e-verify-token"
	e2eAdminToken  = "e2e-admin-token"
)

// ---------------------------------------------------------------- serve in-process

// serveProc is `wagw serve` running in this process.
type serveProc struct {
	base   string // http://127.0.0.1:port
	cancel context.CancelFunc
	done   chan error
	out    *wagwtest.SyncBuffer
	logs   *wagwtest.SyncBuffer
	exited bool
	err    error
}

// serveEnv is the environment of a serve on a fresh database and data dir.
func serveEnv(t *testing.T, dsn string) map[string]string {
	return map[string]string{
		"WAGW_HTTP_ADDR":      freeTCPAddr(t),
		"KAFKA_EMBEDDED_ADDR": freeTCPAddr(t),
		"WAGW_SIMULATOR_ADDR": freeTCPAddr(t),
		"KAFKA_PARTITIONS":    "4",
		"WAGW_DATA_DIR":       t.TempDir(),
		"DATABASE_URL":        dsn,
		"WA_APP_SECRET":       e2eAppSecret,
		"WA_VERIFY_TOKEN":     e2eVerifyToken,
		"WAGW_ADMIN_TOKEN":    e2eAdminToken,
		"WAGW_LOG_LEVEL":      "warn",
	}
}

// startServe runs `wagw serve` with env and waits until /readyz says 200.
func startServe(t *testing.T, env map[string]string) *serveProc {
	t.Helper()
	return startRole(t, "serve", env, env["WAGW_HTTP_ADDR"])
}

// startRole runs `wagw <cmd>` in this process with env and waits until
// http://<addr>/readyz (its gateway or health server) says 200.
func startRole(t *testing.T, cmd string, env map[string]string, addr string) *serveProc {
	t.Helper()
	p := launchRole(t, cmd, env, addr)
	p.waitReady(t, cmd)
	return p
}

// launchRole runs `wagw <cmd>` in this process with env; it serves HTTP
// on addr (its gateway or health server). It stops when the test ends.
func launchRole(t *testing.T, cmd string, env map[string]string, addr string) *serveProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &serveProc{base: "http://" + addr, cancel: cancel, done: make(chan error, 1), out: &wagwtest.SyncBuffer{}, logs: runLog(t)}
	go func() { p.done <- run(ctx, []string{cmd}, func(k string) string { return env[k] }, p.out, p.logs) }()
	t.Cleanup(func() {
		if !p.exited {
			cancel()
			select {
			case <-p.done:
			case <-time.After(15 * time.Second):
				t.Errorf("%s did not stop within 15 s of its context being cancelled", cmd)
			}
		}
	})
	return p
}

// waitReady waits until GET /readyz says 200, failing the test when the
// command exits first.
func (p *serveProc) waitReady(t *testing.T, cmd string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	wagwtest.WaitEvery(t, 20*time.Second, 20*time.Millisecond, cmd+": GET /readyz = 200", func() (bool, string) {
		select {
		case err := <-p.done:
			p.exited, p.err = true, err
			t.Fatalf("%s exited before it was ready: %v\noutput:\n%s", cmd, err, p.out)
		default:
		}
		resp, err := hc.Get(p.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, b)
	})
}

// stop cancels serve's context and requires run to return nil within a
// few seconds (ordered shutdown).
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	p.cancel()
	select {
	case err := <-p.done:
		p.exited, p.err = true, err
		if err != nil {
			t.Fatalf("serve returned %v on shutdown, want nil", err)
		}
		t.Logf("serve stopped in %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not return within 10 s of its context being cancelled")
	}
}

// running fails the test when serve has exited on its own.
func (p *serveProc) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.exited, p.err = true, err
		t.Fatalf("serve exited unexpectedly: %v", err)
	default:
	}
}

func (p *serveProc) webhook(t *testing.T, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.base+"/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign([]byte(e2eAppSecret), body))
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST /webhook: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /webhook = %d %s, want 200", resp.StatusCode, b)
	}
}

// api GETs path with the admin token and decodes the JSON answer into v
// when the status is 200. It returns the status.
func (p *serveProc) api(t *testing.T, path string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eAdminToken)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: decode %s: %v", path, b, err)
		}
	}
	return resp.StatusCode
}

// ---------------------------------------------------------------- payloads

type (
	obj = map[string]any
	arr = []any
)

// notification is one webhook body with a single "messages" change.
func notification(wabaID, phoneID, display string, contacts, messages, statuses arr) []byte {
	value := obj{
		"messaging_product": "whatsapp",
		"metadata":          obj{"display_phone_number": display, "phone_number_id": phoneID},
	}
	if contacts != nil {
		value["contacts"] = contacts
	}
	if messages != nil {
		value["messages"] = messages
	}
	if statuses != nil {
		value["statuses"] = statuses
	}
	b, err := json.Marshal(obj{"object": "whatsapp_business_account", "entry": arr{
		obj{"id": wabaID, "changes": arr{obj{"field": "messages", "value": value}}},
	}})
	if err != nil {
		panic(err)
	}
	return b
}

func waContact(waID, name string) obj {
	return obj{"profile": obj{"name": name}, "wa_id": waID}
}

func textMessage(from, wamid string, ts int64, body string) obj {
	return obj{"from": from, "id": wamid, "timestamp": strconv.FormatInt(ts, 10), "type": "text", "text": obj{"body": body}}
}

func corpusFile(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "conformance", "whatsapp", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("conformance corpus missing (../shared must sit beside the repo, want %s): %v", path, err)
	}
	return b
}

// ---------------------------------------------------------------- the end-to-end test

// stored is one message as the API lists it: "wamid type body".
func stored(wamid, typ, body string) string { return wamid + " " + typ + " " + body }

type apiConversation struct {
	ID          int64  `json:"id"`
	ContactID   int64  `json:"contact_id"`
	Inbox       string `json:"inbox"`
	Status      string `json:"status"`
	ContactName string `json:"contact_name"`
	ContactWaID string `json:"contact_wa_id"`
}

type apiMessage struct {
	ID             int64   `json:"id"`
	WAMID          *string `json:"wamid"`
	Direction      string  `json:"direction"`
	ConversationID *int64  `json:"conversation_id"`
	Type           string  `json:"type"`
	Body           string  `json:"body"`
}

type apiContact struct {
	ID     int64   `json:"id"`
	WaID   *string `json:"wa_id"`
	UserID *string `json:"user_id"`
	Name   string  `json:"name"`
}

// conversationKey names a conversation by its contact (wa_id, or the
// profile name for a contact without one) and inbox.
func conversationKey(c apiConversation) string {
	who := c.ContactWaID
	if who == "" {
		who = "name:" + c.ContactName
	}
	return who + " @" + c.Inbox
}

// snapshot reads every conversation and its messages through the API.
func snapshot(t *testing.T, p *serveProc) (map[string][]string, map[string]apiConversation) {
	t.Helper()
	var list struct {
		Conversations []apiConversation `json:"conversations"`
	}
	if code := p.api(t, "/v1/conversations?limit=1000", &list); code != http.StatusOK {
		t.Fatalf("GET /v1/conversations = %d", code)
	}
	got := map[string][]string{}
	byKey := map[string]apiConversation{}
	for _, c := range list.Conversations {
		k := conversationKey(c)
		if _, dup := got[k]; dup {
			got[k] = append(got[k], "SECOND CONVERSATION "+strconv.FormatInt(c.ID, 10))
			continue
		}
		var msgs struct {
			Messages []apiMessage `json:"messages"`
		}
		if code := p.api(t, fmt.Sprintf("/v1/conversations/%d/messages", c.ID), &msgs); code != http.StatusOK {
			t.Fatalf("GET /v1/conversations/%d/messages = %d", c.ID, code)
		}
		got[k] = []string{}
		for _, m := range msgs.Messages {
			w := "<nil>"
			if m.WAMID != nil {
				w = *m.WAMID
			}
			got[k] = append(got[k], stored(w, m.Type, m.Body))
		}
		byKey[k] = c
	}
	return got, byKey
}

// webhookScript is serve after one script of webhooks, applied: the
// constructed corpus batch, a generated POST with duplicates and a
// redelivery, a contact known only by its user id, and statuses of an
// unknown message out of order. want lists each conversation's messages
// as the API must show them, wantWamids every message that must be stored.
type webhookScript struct {
	p            *serveProc
	conn         *sqlx.DB
	want         map[string][]string
	wantWamids   map[string]bool
	wantStatuses []string
	wantNames    map[string]string // contact wa_id → profile name
	convs        map[string]apiConversation
	got          map[string][]string
}

const (
	scriptCorpusInbox, scriptOtherInbox             = "106540352242922", "222222222222222"
	scriptGenInbox, scriptGenWABA, scriptGenDisplay = "109000000000001", "102290129340399", "15550001234"
	scriptBSUID, scriptBSUIDName                    = "US.13491208655302741918", "Ada Userid"
	scriptReactorWamid, scriptOutboundWamid         = "wamid.GEN.REACTOR", "wamid.OUT.E2E.1"
	scriptGen                                       = 8 // generated contacts that write; the reactor is one more
)

// scriptWaID is the wa_id of the script's generated contact i (the
// reactor is scriptGen).
func scriptWaID(i int) string { return fmt.Sprintf("3161200000%02d", i) }

func (s *webhookScript) expect(key, wamid, typ, body string) {
	s.want[key] = append(s.want[key], stored(wamid, typ, body))
	s.wantWamids[wamid] = true
}

// runWebhookScript starts serve, posts the script and waits until the API
// shows every message and Postgres every status.
func runWebhookScript(t *testing.T) *webhookScript {
	t.Helper()
	dsn, conn := newTestDB(t)
	corpus := corpusFile(t, "constructed_multi_entry_batch.json")
	s := &webhookScript{p: startServe(t, serveEnv(t, dsn)), conn: conn, want: map[string][]string{}, wantWamids: map[string]bool{},
		wantNames: map[string]string{"16505551234": "Sheena Nelson", "16505559876": "Tiago Mingo", scriptWaID(scriptGen): "Reactor"}}
	// The constructed batch: two WABAs, two numbers, three contacts'
	// conversations, a wamid twice in one POST, statuses read before sent.
	// Messages are listed in partition order (the order of the array),
	// not by Meta's timestamp.
	s.p.webhook(t, corpus)
	s.expect("16505551234 @"+scriptCorpusInbox, "wamid.BATCH.A2", "text", "second (arrives first in array)")
	s.expect("16505551234 @"+scriptCorpusInbox, "wamid.BATCH.A1", "text", "first")
	s.expect("16505559876 @"+scriptCorpusInbox, "wamid.BATCH.B1", "image", "Taj Mahal")
	s.expect("16505551234 @"+scriptOtherInbox, "wamid.OTHERNUM.1", "text", "same user, different business number")

	base := time.Now().Add(-time.Hour).Unix()
	gen := s.generatedPost(base)
	s.p.webhook(t, gen)
	s.p.webhook(t, gen) // Meta redelivers the same POST

	// A contact known only by its business-scoped user id (no phone number).
	s.p.webhook(t, notification(scriptGenWABA, scriptGenInbox, scriptGenDisplay,
		arr{obj{"profile": obj{"name": scriptBSUIDName}, "user_id": scriptBSUID}},
		arr{
			obj{"from_user_id": scriptBSUID, "id": "wamid.BSUID.1", "timestamp": strconv.FormatInt(base+40, 10), "type": "text", "text": obj{"body": "hello without a phone number"}},
			obj{"from_user_id": scriptBSUID, "id": "wamid.BSUID.2", "timestamp": strconv.FormatInt(base+41, 10), "type": "text", "text": obj{"body": "still me"}},
		}, nil))
	s.expect("name:"+scriptBSUIDName+" @"+scriptGenInbox, "wamid.BSUID.1", "text", "hello without a phone number")
	s.expect("name:"+scriptBSUIDName+" @"+scriptGenInbox, "wamid.BSUID.2", "text", "still me")

	// Statuses of an outbound message arrive read, delivered, sent, one
	// POST each. The message is unknown here: orphans.
	for i, st := range []string{"read", "delivered", "sent"} {
		s.p.webhook(t, notification(scriptGenWABA, scriptGenInbox, scriptGenDisplay, nil, nil, arr{obj{
			"id": scriptOutboundWamid, "status": st, "timestamp": strconv.FormatInt(base+100-int64(i), 10), "recipient_id": scriptWaID(1),
		}}))
	}
	s.wantStatuses = []string{
		"wamid.OUT.1 read 3 0", "wamid.OUT.1 sent 1 0", "wamid.OUT.2 failed 100 131047",
		"wamid.OUT.E2E.1 delivered 2 0", "wamid.OUT.E2E.1 read 3 0", "wamid.OUT.E2E.1 sent 1 0",
	}
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "consumer applies every webhook", func() (bool, string) {
		s.p.running(t)
		s.got, s.convs = snapshot(t, s.p)
		n := sqlCount(t, conn, `SELECT count(*) FROM messages`)
		st := sqlCount(t, conn, `SELECT count(*) FROM statuses`)
		done := reflect.DeepEqual(s.got, s.want) && n == len(s.wantWamids) && st == len(s.wantStatuses)
		return done, fmt.Sprintf("%d messages (want %d), %d statuses (want %d), conversations via API:\n%s\nwant:\n%s",
			n, len(s.wantWamids), st, len(s.wantStatuses), dump(s.got), dump(s.want))
	})
	return s
}

// generatedPost is one POST of 20 messages from 8 contacts on one number,
// one of them an image; a contact that only reacts; a reaction inside an
// open conversation; and one message twice.
func (s *webhookScript) generatedPost(base int64) []byte {
	var contacts, messages arr
	for i := 0; i < scriptGen; i++ {
		contacts = append(contacts, waContact(scriptWaID(i), fmt.Sprintf("Gen Contact %d", i)))
		s.wantNames[scriptWaID(i)] = fmt.Sprintf("Gen Contact %d", i)
	}
	contacts = append(contacts, waContact(scriptWaID(scriptGen), "Reactor"))
	for i := 0; i < 20; i++ {
		c, wamid, body := i%scriptGen, fmt.Sprintf("wamid.GEN.%02d", i), fmt.Sprintf("gen message %d", i)
		m := textMessage(scriptWaID(c), wamid, base+int64(i), body)
		typ := "text"
		if i == 5 {
			typ = "image"
			delete(m, "text")
			m["type"] = typ
			m["image"] = obj{"caption": body, "mime_type": "image/jpeg", "sha256": "c2hh", "id": "1003383421387256"}
		}
		messages = append(messages, m)
		s.expect(scriptWaID(c)+" @"+scriptGenInbox, wamid, typ, body)
		if i == 9 { // the reactor, in the middle of the stream
			messages = append(messages, obj{"from": scriptWaID(scriptGen), "id": scriptReactorWamid, "timestamp": strconv.FormatInt(base+int64(i), 10),
				"type": "reaction", "reaction": obj{"message_id": scriptOutboundWamid, "emoji": "\u2764\ufe0f"}})
			s.wantWamids[scriptReactorWamid] = true
		}
	}
	messages = append(messages, obj{"from": scriptWaID(0), "id": "wamid.GEN.REACT0", "timestamp": strconv.FormatInt(base+30, 10),
		"type": "reaction", "reaction": obj{"message_id": scriptOutboundWamid, "emoji": "\U0001f44d"}})
	s.expect(scriptWaID(0)+" @"+scriptGenInbox, "wamid.GEN.REACT0", "reaction", "")
	messages = append(messages, messages[2]) // duplicated inside the POST
	return notification(scriptGenWABA, scriptGenInbox, scriptGenDisplay, contacts, messages, nil)
}

// What serve makes of one script of webhooks (runWebhookScript), one
// behaviour a subtest, on one running serve.
func TestServeStoresWebhooks(t *testing.T) {
	t.Parallel()
	s := runWebhookScript(t)
	p, conn := s.p, s.conn
	t.Run("each message is stored once, in its conversation, in partition order", func(t *testing.T) {
		if !reflect.DeepEqual(s.got, s.want) {
			t.Errorf("conversations via API:\n%s\nwant:\n%s", dump(s.got), dump(s.want))
		}
		checkMessagesOnce(t, conn, s.wantWamids)
	})
	t.Run("one open conversation per contact and inbox, named after the contact", func(t *testing.T) {
		if n := sqlCount(t, conn, `SELECT count(*) FROM conversations`); n != len(s.want) {
			t.Errorf("%d conversations in Postgres, want %d", n, len(s.want))
		}
		if n := sqlCount(t, conn, `SELECT count(*) FROM (SELECT 1 FROM conversations GROUP BY contact_id, inbox HAVING count(*) > 1) d`); n != 0 {
			t.Errorf("%d (contact, inbox) pairs have more than one conversation", n)
		}
		for k, c := range s.convs {
			if c.Status != "open" {
				t.Errorf("conversation %s: status %q, want open", k, c.Status)
			}
			if name, ok := s.wantNames[c.ContactWaID]; ok && c.ContactName != name {
				t.Errorf("conversation %s: contact_name %q, want %q", k, c.ContactName, name)
			}
		}
	})
	t.Run("a conversation reads the same by id, an unknown id is 404", func(t *testing.T) {
		for _, c := range s.convs {
			var one apiConversation
			if code := p.api(t, fmt.Sprintf("/v1/conversations/%d", c.ID), &one); code != http.StatusOK || one != c {
				t.Errorf("GET /v1/conversations/%d = %d %+v, want 200 %+v", c.ID, code, one, c)
			}
		}
		if code := p.api(t, "/v1/conversations/999999", nil); code != http.StatusNotFound {
			t.Errorf("GET /v1/conversations/999999 = %d, want 404", code)
		}
	})
	t.Run("contacts are found by wa_id with their profile names, an unknown one is 404", func(t *testing.T) {
		testContactsByWaID(t, s)
	})
	t.Run("a contact without a phone number is found by user_id", func(t *testing.T) {
		var ada apiContact
		if code := p.api(t, "/v1/contacts?user_id="+scriptBSUID, &ada); code != http.StatusOK {
			t.Fatalf("GET /v1/contacts?user_id=%s = %d, want 200", scriptBSUID, code)
		}
		if ada.WaID != nil || ada.UserID == nil || *ada.UserID != scriptBSUID || ada.Name != scriptBSUIDName {
			t.Errorf("user-id contact = %+v, want no wa_id, user_id %s, name %s", ada, scriptBSUID, scriptBSUIDName)
		}
		if c := s.convs["name:"+scriptBSUIDName+" @"+scriptGenInbox]; c.ContactID != ada.ID {
			t.Errorf("user-id contact's conversation belongs to contact %d, want %d", c.ContactID, ada.ID)
		}
	})
	t.Run("a reaction alone opens no conversation", func(t *testing.T) {
		var reactor apiContact
		if code := p.api(t, "/v1/contacts?wa_id="+scriptWaID(scriptGen), &reactor); code == http.StatusOK {
			var list struct {
				Conversations []apiConversation `json:"conversations"`
			}
			p.api(t, fmt.Sprintf("/v1/conversations?contact_id=%d", reactor.ID), &list)
			if len(list.Conversations) != 0 {
				t.Errorf("a contact that only reacted has conversations: %+v", list.Conversations)
			}
		}
		if n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE wamid = $1 AND conversation_id IS NULL`, scriptReactorWamid); n != 1 {
			t.Errorf("the reactor's reaction is not stored once outside any conversation")
		}
	})
	t.Run("statuses of an unknown message are kept once per status, as orphans", func(t *testing.T) {
		var statuses []string
		if err := conn.Select(&statuses, `SELECT wamid || ' ' || status || ' ' || rank || ' ' || COALESCE(error_code, 0)
			FROM statuses ORDER BY wamid, status`); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(statuses, s.wantStatuses) {
			t.Errorf("statuses rows:\n%s\nwant:\n%s", strings.Join(statuses, "\n"), strings.Join(s.wantStatuses, "\n"))
		}
		if n := sqlCount(t, conn, `SELECT count(*) FROM messages WHERE wamid LIKE 'wamid.OUT.%'`); n != 0 {
			t.Errorf("statuses of unknown messages created %d message rows", n)
		}
	})
	t.Run("the API wants a token", func(t *testing.T) {
		resp, err := http.Get(p.base + "/v1/conversations")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/conversations without a token = %d, want 401", resp.StatusCode)
		}
	})
	t.Run("serve stops in order", func(t *testing.T) {
		p.running(t)
		p.stop(t)
	})
}

// testContactsByWaID: every contact of the script by its wa_id, the
// user-id-only one besides them in Postgres, an unknown wa_id 404.
func testContactsByWaID(t *testing.T, s *webhookScript) {
	for wa, name := range s.wantNames {
		var ct apiContact
		if code := s.p.api(t, "/v1/contacts?wa_id="+wa, &ct); code != http.StatusOK {
			t.Errorf("GET /v1/contacts?wa_id=%s = %d, want 200", wa, code)
			continue
		}
		if ct.Name != name || ct.WaID == nil || *ct.WaID != wa || ct.UserID != nil {
			t.Errorf("contact %s = %+v, want name %q, wa_id %s, no user_id", wa, ct, name, wa)
		}
	}
	if n := sqlCount(t, s.conn, `SELECT count(*) FROM contacts`); n != len(s.wantNames)+1 {
		t.Errorf("%d contacts in Postgres, want %d", n, len(s.wantNames)+1)
	}
	if code := s.p.api(t, "/v1/contacts?wa_id=4900000000000", nil); code != http.StatusNotFound {
		t.Errorf("GET /v1/contacts for an unknown wa_id = %d, want 404", code)
	}
}

// checkMessagesOnce asserts that the messages table holds exactly the
// wamids in want, each once.
func checkMessagesOnce(t *testing.T, conn *sqlx.DB, want map[string]bool) {
	t.Helper()
	var rows []struct {
		WAMID string `db:"wamid"`
		N     int    `db:"n"`
	}
	if err := conn.Select(&rows, `SELECT wamid, count(*) AS n FROM messages GROUP BY wamid ORDER BY wamid`); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.WAMID] = true
		if r.N != 1 {
			t.Errorf("message %s stored %d times", r.WAMID, r.N)
		}
		if !want[r.WAMID] {
			t.Errorf("message %s stored but never sent", r.WAMID)
		}
	}
	for w := range want {
		if !seen[w] {
			t.Errorf("message %s was acknowledged but is not stored", w)
		}
	}
}

func dump(m map[string][]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, strings.Join(m[k], " | "))
	}
	return b.String()
}

// ---------------------------------------------------------------- restart

// TestServeRestartKeepsAcknowledgedEvents stops serve right after its
// webhooks were acknowledged, before the consumer could apply them, and
// starts it again on the same data dir and database: every acknowledged
// message is stored exactly once, in each contact's order.
//
// The first half of the webhooks is applied (and committed) before the
// stop. For the second half Postgres refuses the consumer's inserts with a
// transient error (a trigger raising serialization_failure), so that they
// are certainly acknowledged to Meta but not applied when serve stops.
func TestServeRestartKeepsAcknowledgedEvents(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)

	const posts, contacts = 40, 10
	want := map[string]bool{}
	wantOrder := map[string][]string{}
	base := time.Now().Add(-time.Hour).Unix()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			wa := fmt.Sprintf("3162000000%02d", i%contacts)
			var msgs arr
			for _, part := range []string{"a", "b"} {
				wamid := fmt.Sprintf("wamid.RST.%03d.%s", i, part)
				msgs = append(msgs, textMessage(wa, wamid, base+int64(i), wamid))
				want[wamid] = true
				wantOrder[wa] = append(wantOrder[wa], wamid)
			}
			p.webhook(t, notification("102290129340400", "109000000000002", "15550002222",
				arr{waContact(wa, "Restart "+wa)}, msgs, nil))
		}
	}
	send(0, posts/2)
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "first half applied", func() (bool, string) {
		n := sqlCount(t, conn, `SELECT count(*) FROM messages`)
		return n == posts, fmt.Sprintf("%d of %d messages stored", n, posts)
	})
	conn.MustExec(`CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'test: writes refused' USING ERRCODE = '40001'; END $$`)
	conn.MustExec(`CREATE TRIGGER refuse_insert BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_insert()`)
	send(posts/2, posts)
	p.stop(t)
	if n := sqlCount(t, conn, `SELECT count(*) FROM messages`); n != posts {
		t.Fatalf("%d messages stored when serve stopped, want the first half (%d)", n, posts)
	}
	conn.MustExec(`DROP TRIGGER refuse_insert ON messages`)

	p = startServe(t, env)
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "restarted serve stores every acknowledged message", func() (bool, string) {
		p.running(t)
		n := sqlCount(t, conn, `SELECT count(*) FROM messages`)
		return n >= len(want), fmt.Sprintf("%d of %d messages stored", n, len(want))
	})
	checkMessagesOnce(t, conn, want)
	var rows []struct {
		WaID  string `db:"wa_id"`
		WAMID string `db:"wamid"`
	}
	if err := conn.Select(&rows, `SELECT c.wa_id, m.wamid FROM messages m JOIN contacts c ON c.id = m.contact_id ORDER BY m.id`); err != nil {
		t.Fatal(err)
	}
	gotOrder := map[string][]string{}
	for _, r := range rows {
		gotOrder[r.WaID] = append(gotOrder[r.WaID], r.WAMID)
	}
	if !reflect.DeepEqual(gotOrder, wantOrder) {
		t.Errorf("per-contact order after restart:\n%v\nwant:\n%v", gotOrder, wantOrder)
	}
	p.stop(t)
}

// ---------------------------------------------------------------- configuration

func TestGatewayRequiresAppSecret(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"WA_VERIFY_TOKEN": e2eVerifyToken,
		"KAFKA_BROKERS":   "127.0.0.1:1",
		"DATABASE_URL":    "postgres://nobody@127.0.0.1:1/none?sslmode=disable",
		"WAGW_HTTP_ADDR":  freeTCPAddr(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out wagwtest.SyncBuffer
	err := run(ctx, []string{"gateway"}, func(k string) string { return env[k] }, &out, runLog(t))
	if err == nil || !strings.Contains(err.Error(), "WA_APP_SECRET") {
		t.Fatalf("gateway without WA_APP_SECRET: run = %v, want an error that names WA_APP_SECRET", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("gateway took until the deadline to refuse: %v", err)
	}
}
