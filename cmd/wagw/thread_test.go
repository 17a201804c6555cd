package main

import (
	"encoding/json"
	"fmt"
	"github.com/wagw/wagw/wagwtest"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Conversation Routing through `serve`: while another responder owns the
// contact's thread, the conversation shows it and free-form replies are
// 409 thread_controlled_elsewhere; a take goes relay → whatsapp client →
// Cloud API (the simulator): refused by Meta it changes nothing, accepted
// it gives the thread to wagw, the decision log names who took it, and
// replies go again. (The thread is handed to the other responder here by
// SQL: the handover webhooks are not parsed yet.)
func TestTakeThreadThroughTheCloudAPI(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	sim := "http://" + env["WAGW_SIMULATOR_ADDR"]
	in := testInbox(14)
	putInbox(t, p, in.pnid, obj{"name": "Shared with an AI"})
	ana := createAgent(t, p, "Ana Take", nil)
	const waID = "5511900001414"
	sayText(t, p, in, waID, "hello")
	c := openConv(t, p, in, waID, "the conversation opens", nil)
	apiMust(t, p, http.StatusOK, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/assignees", c.ID), e2eAdminToken, obj{"agent_ids": agentIDs(ana)}, nil)
	if _, err := conn.Exec(`UPDATE contacts SET thread_owner = 'other', thread_owner_role = 'ai_agent' WHERE id = $1`, c.ContactID); err != nil {
		t.Fatal(err)
	}
	owner := func() string {
		var v struct {
			ThreadOwner struct {
				Owner string `json:"owner"`
				Role  string `json:"role"`
			} `json:"thread_owner"`
		}
		apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations/%d", c.ID), ana.Token, nil, &v)
		return strings.TrimSuffix(v.ThreadOwner.Owner+"/"+v.ThreadOwner.Role, "/")
	}
	if got := owner(); got != "other/ai_agent" {
		t.Fatalf("thread_owner %s, want other/ai_agent", got)
	}
	reply := fmt.Sprintf("/v1/conversations/%d/messages", c.ID)
	wantError(t, "reply while the AI owns the thread", apiDo(t, p, http.MethodPost, reply, ana.Token, obj{"text": "hi"}, nil),
		http.StatusConflict, "thread_controlled_elsewhere")

	// Meta refuses the take: nothing changes.
	faults := func(body string) {
		r, err := apiCall(sim, http.MethodPut, "/_sim/faults", "", body, nil)
		if err != nil || r.Status >= 300 {
			t.Fatalf("set simulator faults: %v %s", err, r)
		}
	}
	faults(fmt.Sprintf(`{"per_number":{%q:{"refuse_take":true}}}`, in.pnid))
	take := fmt.Sprintf("/v1/conversations/%d/take", c.ID)
	var queued struct {
		Status      string `json:"status"`
		ThreadOwner string `json:"thread_owner"`
	}
	apiMust(t, p, http.StatusAccepted, http.MethodPost, take, ana.Token, nil, &queued)
	if queued.Status != "pending" || queued.ThreadOwner != "other" {
		t.Errorf("take answered %+v, want pending while other owns the thread", queued)
	}
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "Meta's refusal of the take is recorded", func() (bool, string) {
		var state string
		var code *int
		err := conn.QueryRow(`SELECT state, error_code FROM outbox WHERE kind = 'take' ORDER BY id LIMIT 1`).Scan(&state, &code)
		return err == nil && state == "failed" && code != nil && *code == 100, fmt.Sprintf("%s %v %v", state, code, err)
	})
	if got := owner(); got != "other/ai_agent" {
		t.Errorf("after a refused take thread_owner is %s", got)
	}
	if got := lastTake(t, p, c.ID, ana.Token); got != "refused 100" {
		t.Errorf("last_take after the refusal: %s, want refused 100", got)
	}

	// Meta accepts the take: wagw owns the thread, the log says who took it.
	faults(`{}`)
	apiMust(t, p, http.StatusAccepted, http.MethodPost, take, ana.Token, nil, nil)
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "the take gives the thread to wagw", func() (bool, string) {
		got := owner()
		return got == "wagw", got
	})
	if got := lastTake(t, p, c.ID, ana.Token); got != "accepted" {
		t.Errorf("last_take after the acceptance: %s", got)
	}
	d := lastDecision(t, p, c.ID)
	if d.Rule != "handover" || !strings.Contains(d.Summary+reasonsText(d), "Ana Take") {
		t.Errorf("last decision %s; want a handover naming Ana Take", d)
	}
	var stats map[string]int64
	r, err := apiCall(sim, http.MethodGet, "/_sim/stats", "", nil, nil)
	if err != nil || json.Unmarshal(r.Body, &stats) != nil || stats["thread_control"] != 1 || stats["take_refused"] != 1 {
		t.Errorf("simulator stats %v (%v): want one accepted and one refused take", stats, err)
	}
	apiMust(t, p, http.StatusCreated, http.MethodPost, reply, ana.Token, obj{"text": "Ana here, how can I help?"}, nil)
	apiMust(t, p, http.StatusOK, http.MethodPost, take, ana.Token, nil, nil) // wagw owns it: nothing to take
}

func reasonsText(d decisionJSON) string {
	var b strings.Builder
	for _, r := range d.Reasons {
		b.WriteString(" " + r.Text)
	}
	return b.String()
}

// lastTake reads a conversation's last_take as "status" or "status code".
func lastTake(t *testing.T, p *serveProc, convID int64, token string) string {
	t.Helper()
	var v struct {
		LastTake *struct {
			Status    string `json:"status"`
			ErrorCode *int   `json:"error_code"`
		} `json:"last_take"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations/%d", convID), token, nil, &v)
	if v.LastTake == nil {
		return "none"
	}
	if v.LastTake.ErrorCode != nil {
		return fmt.Sprintf("%s %d", v.LastTake.Status, *v.LastTake.ErrorCode)
	}
	return v.LastTake.Status
}
