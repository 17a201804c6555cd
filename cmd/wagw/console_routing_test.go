package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wagw/wagw/wagwtest"
)

// The console's third story (issue 13), on the rig of TestConsoleStory,
// with Conversation Routing and the first-response SLA from a real server:
// the inbox's SLA comes through the API, a row shows the server's "reply
// due" badge, and one left unanswered past a short SLA turns "SLA
// breached" live. Then the AI agent takes a contact's thread (the
// simulator's signed handover, standby message and echo webhooks): the
// header says who handles it, the AI's echo reads as the AI's, the reply
// box says why it is closed and offers Take; WhatsApp (the simulator)
// refuses the first take, accepts the second, and the agent's reply is
// delivered.
func TestConsoleStoryRoutingSLA(t *testing.T) {
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	sim := "http://" + env["WAGW_SIMULATOR_ADDR"]
	ana := createAgent(t, p, "Ana", nil)
	setPresence(t, p, ana, "online")
	team := createTeam(t, p, "Support", "round_robin", ana)
	shared, quick := testInbox(1321), testInbox(1322)
	putInbox(t, p, shared.pnid, obj{"name": "Shared with an AI", "default_assign": obj{"team_id": team}, "first_response_sla_seconds": 3600})
	putInbox(t, p, quick.pnid, obj{"name": "Quick", "default_assign": obj{"team_id": team}, "first_response_sla_seconds": 4})

	b := newBrowser(t, p.base)
	b.signIn(ana.Token, "Ana")
	b.click("All", `[data-testid="view-all"]`)

	// SLA: the server's deadline on a row, and a breach arriving live
	const waID = "15550132101"
	sayText(t, p, shared, waID, "Can I change my delivery address?")
	c := openConv(t, p, shared, waID, "the shared inbox's conversation", hasAssignees)
	if c.FirstResponseDueAt == nil {
		t.Fatalf("no first_response_due_at on an inbox with an SLA")
	}
	b.until("the reply-due badge from the server's deadline", fmt.Sprintf(`(document.querySelector('%s [data-testid="sla-badge"]')||{dataset:{}}).dataset.sla === 'due'`, row(c.ID)))
	if badge := b.text(row(c.ID) + ` [data-testid="sla-badge"]`); !strings.HasPrefix(badge, "reply due in ") {
		t.Errorf("the row's SLA badge says %q", badge)
	}
	sayText(t, p, quick, "15550132201", "Hello? Anyone?")
	late := openConv(t, p, quick, "15550132201", "the quick inbox's conversation", hasAssignees)
	b.until("SLA breached, live", fmt.Sprintf(`(document.querySelector('%s [data-testid="sla-badge"]')||{dataset:{}}).dataset.sla === 'breached'`, row(late.ID)))
	if got := getConv(t, p, late.ID); !got.SLABreached {
		t.Errorf("the row says SLA breached; the server says sla_breached %v", got.SLABreached)
	}

	// the AI agent takes the thread: the user writes to it, it answers
	routingSim(t, sim, obj{"kind": "control_taken", "phone_number_id": shared.pnid, "user": waID, "previous_role": "app", "new_role": "ai_agent"})
	routingSim(t, sim, obj{"kind": "standby", "phone_number_id": shared.pnid, "user": waID, "text": "Actually, is it too late?"})
	routingSim(t, sim, obj{"kind": "echo", "phone_number_id": shared.pnid, "user": waID, "text": "It is not too late: the parcel has not left yet."})
	b.click("the conversation", row(c.ID))
	b.until("the AI's echo in the history, live", `[...document.querySelectorAll('[data-testid="message"][data-direction="out_other"]')].some(m => m.textContent.includes('not too late'))`)
	b.until("the header names the AI agent", `document.querySelector('[data-testid="thread-owner"]').textContent === 'Handled by the AI agent (ai_agent)'`)
	if label := b.eval(`document.querySelector('[data-testid="message"][data-direction="out_other"]').getAttribute('aria-label')`); !strings.HasPrefix(label, "The AI agent (ai_agent) wrote: ") {
		t.Errorf("the echo's accessible label is %q", label)
	}
	if cls := b.eval(`document.querySelector('[data-testid="message"][data-direction="out_other"]').className`); cls != "msg out_other" {
		t.Errorf("the echo is drawn as %q, not in its own style", cls)
	}
	b.until("the reply box closed, Take and the template form offered", `document.querySelector('[data-testid="reply-input"]').disabled
		&& document.querySelector('[data-testid="take-reason"]').textContent.includes('AI agent') && !document.querySelector('[data-testid="template-form"]').hidden`)
	// a free-form reply now is what the server refuses (409); the box does not offer one
	wantError(t, "reply while the AI owns the thread", apiDo(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", c.ID), ana.Token, obj{"text": "hi"}, nil),
		http.StatusConflict, "thread_controlled_elsewhere")
	b.shot("routing")

	// WhatsApp refuses the first take, accepts the second
	faults := func(body string) {
		if r, err := apiCall(sim, http.MethodPut, "/_sim/faults", "", body, nil); err != nil || r.Status >= 300 {
			t.Fatalf("set simulator faults: %v %s", err, r)
		}
	}
	faults(fmt.Sprintf(`{"per_number":{%q:{"refuse_take":true}}}`, shared.pnid))
	b.click("Take", `[data-testid="take"]`)
	b.until("the refusal shown", `document.querySelector('[data-testid="take-status"]').dataset.take === 'refused'`)
	if got := b.text(`[data-testid="take-status"]`); !strings.Contains(got, "refused") || !strings.Contains(got, "(100)") {
		t.Errorf("the refused take says %q", got)
	}
	faults(`{}`)
	b.click("Take again", `[data-testid="take"]`)
	b.until("the take accepted, the reply box open again", `document.querySelector('[data-testid="take-status"]').dataset.take === 'accepted'
		&& !document.querySelector('[data-testid="reply-input"]').disabled && document.querySelector('[data-testid="thread-owner"]').hidden`)
	b.do("type a reply", chromedp.SendKeys(chromedp.CSS(`[data-testid="reply-input"]`), "Ana here: I changed the address for you."))
	b.click("Send", `[data-testid="reply-send"]`)
	b.until("the reply delivered", `[...document.querySelectorAll('[data-testid="message"][data-direction="out"]')].some(m => m.textContent.includes('Ana here') && ['delivered','read'].includes(m.dataset.status))`)
	b.shot("taken")
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "the first reply stops the SLA clock", func() (bool, string) {
		got := getConv(t, p, c.ID)
		return got.FirstReplyAt != nil && !got.SLABreached, fmt.Sprintf("first_reply_at %v, sla_breached %v", got.FirstReplyAt, got.SLABreached)
	})
	b.until("no SLA badge once answered", fmt.Sprintf(`!document.querySelector('%s [data-testid="sla-badge"]')`, row(c.ID)))

	// a phone-sized screen: the routing controls fit
	b.do("a 390-px screen", chromedp.EmulateViewport(390, 844))
	b.until("the conversation on the phone", `document.querySelector('[data-testid="reply-input"]').offsetWidth <= 390 && document.documentElement.scrollWidth <= 390`)
	b.shot("routing-phone")

	if errs := b.pageErrors(); errs != "" {
		t.Errorf("the console raised errors:%s", errs)
	}
}
