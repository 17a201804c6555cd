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

// The console's second story (issue 13), on the rig of TestConsoleStory: a
// supervisor watches the board forecast who the round robin picks next and
// the next conversation go to that member; she sees the settings of her
// own team only and changes its time-based rules; a contact who last
// wrote 25 hours ago is outside the 24-hour window, so the reply box says
// why and offers the template form, and a template goes out and is
// delivered by the simulator.
func TestConsoleStoryBoardSettingsWindow(t *testing.T) {
	dsn, _ := newTestDB(t)
	p := startServe(t, serveEnv(t, dsn))
	sue, ben, cai := createAgent(t, p, "Sue", nil), createAgent(t, p, "Ben", nil), createAgent(t, p, "Cai", nil)
	apiMust(t, p, http.StatusOK, http.MethodPatch, fmt.Sprintf("/v1/agents/%d", sue.ID), e2eAdminToken, obj{"role": "supervisor"}, nil)
	support := createTeam(t, p, "Support", "round_robin", sue, ben)
	other := createTeam(t, p, "Other", "round_robin", cai)
	in := testInbox(1311)
	putInbox(t, p, in.pnid, obj{"name": "Orders", "default_assign": obj{"team_id": support}})
	setPresence(t, p, ben, "online")

	b := newBrowser(t, p.base)
	b.signIn(sue.Token, "Sue")
	b.choose(`[data-testid="presence"]`, "online")
	wagwtest.WaitEvery(t, 10*time.Second, 50*time.Millisecond, "Sue online through the console", func() (bool, string) {
		a := getAgent(t, p, sue.ID)
		return a.Presence == "online", a.Presence
	})

	// the board forecasts who the round robin picks next; the next
	// conversation goes to that member, and the forecast moves on, live
	b.click("Team board", `[data-screen="board"]`)
	nextOnBoard := func(team int64) string {
		return fmt.Sprintf(`((document.querySelector('[data-testid="queue-board"] [data-team-id="%d"] [data-testid="next-pick"]')||{}).dataset||{}).agentId`, team)
	}
	for i := range 2 {
		want := nextPick(t, p, support, e2eAdminToken)
		if want.AgentID == nil {
			t.Fatalf("nobody forecast in Support: %+v", want.Reasons)
		}
		b.until(fmt.Sprintf("the board forecasts agent %d", *want.AgentID), fmt.Sprintf(`%s === "%d"`, nextOnBoard(support), *want.AgentID))
		waID := fmt.Sprintf("1555013110%d", i)
		sayText(t, p, in, waID, "Where is my parcel?")
		c := openConv(t, p, in, waID, "the conversation assigned", hasAssignees)
		if c.Assignees[0].AgentID != *want.AgentID {
			t.Errorf("the board forecast agent %d; the conversation went to %s", *want.AgentID, c.who())
		}
		b.until("the forecast moves on", fmt.Sprintf(`%s !== "%d"`, nextOnBoard(support), *want.AgentID))
	}
	if got := b.eval(`String(document.querySelectorAll('[data-testid="queue-board"] [data-team-id]').length)`); got != "1" {
		t.Errorf("the board of a supervisor of one team shows %s teams", got)
	}

	// settings: only her team, with its time-based rules
	b.click("Settings", `[data-screen="settings"]`)
	card := fmt.Sprintf(`form[data-testid="team-settings"][data-team-id="%d"]`, support)
	b.until("Support's settings", fmt.Sprintf(`!!document.querySelector('%s')`, card))
	if got := b.eval(fmt.Sprintf(`String(document.querySelectorAll('[data-testid="team-settings"]').length) + ' ' + !!document.querySelector('[data-team-id="%d"]') + ' ' + document.getElementById('inbox-settings-title').hidden`, other)); got != "1 false true" {
		t.Errorf("a supervisor's settings: %s; want one team form, none of Other, no inboxes", got)
	}
	b.do("reassign after 10 minutes", chromedp.SetValue(chromedp.CSS(card+` input[name="reassign_after"]`), "600"))
	b.click("reassign on away", card+` input[name="on_away"]`)
	b.choose(card+` [data-testid="setting-visibility"]`, "assigned")
	b.click("Save team", card+` [data-testid="team-save"]`)
	b.until("saved", fmt.Sprintf(`document.querySelector('%s [role="status"]').textContent === 'Saved.'`, card))
	b.shot("settings-supervisor")
	var team struct {
		ReassignAfter   *int    `json:"reassign_after_seconds"`
		OnAway          bool    `json:"reassign_on_away"`
		AgentVisibility string  `json:"agent_visibility"`
		MemberIDs       []int64 `json:"member_ids"`
		Strategy        string  `json:"strategy"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/teams/%d", support), e2eAdminToken, nil, &team)
	if team.ReassignAfter == nil || *team.ReassignAfter != 600 || !team.OnAway || team.AgentVisibility != "assigned" ||
		len(team.MemberIDs) != 2 || team.Strategy != "round_robin" {
		t.Errorf("Support after the supervisor saved it: %+v", team)
	}

	// outside the 24-hour window: the reply box says why and offers a template
	late := "15550131199"
	p.webhook(t, in.webhookBody(inText{waID: late, text: "Still waiting for an answer", wamid: nextWAMID("late"), at: time.Now().Add(-25 * time.Hour)}))
	c := openConv(t, p, in, late, "the late conversation", nil)
	b.click("Inbox", `[data-screen="inbox"]`)
	b.click("All", `[data-testid="view-all"]`)
	b.until("the late conversation listed", hasRow(c.ID))
	if badge := b.text(row(c.ID) + ` [data-testid="window-badge"]`); badge != "window closed" {
		t.Errorf("the late conversation's row says %q, want window closed", badge)
	}
	b.click("the late conversation", row(c.ID))
	b.until("the window closed, the template form offered", `document.querySelector('[data-testid="window-reason"]').dataset.window === 'closed'
		&& document.querySelector('[data-testid="reply-input"]').disabled && !document.querySelector('[data-testid="template-form"]').hidden`)
	if why := b.text(`[data-testid="window-reason"]`); !strings.Contains(why, "more than a day ago") || !strings.Contains(why, "templates") {
		t.Errorf("the reply box says %q; want why the window is closed", why)
	}
	b.do("name a template", chromedp.SendKeys(chromedp.CSS(`[data-testid="template-name"]`), "order_update"))
	b.click("Send template", `[data-testid="template-send"]`)
	b.until("the template delivered", `[...document.querySelectorAll('[data-testid="message"][data-direction="out"]')].some(m => ['delivered','read'].includes(m.dataset.status))`)
	b.shot("window")

	// the SLA badge's renderer on its own, for each shape of the fields
	// (no SLA on this inbox: every row above rendered without a badge;
	// TestConsoleStoryRoutingSLA shows the real ones)
	b.eval(`(import('./dom.js').then((m) => {
		const due = (ms, extra) => Object.assign({ status: 'open', first_response_due_at: new Date(Date.now() + ms).toISOString() }, extra);
		const show = (c) => { const e = m.slaBadge(c); return e ? e.dataset.sla + ':' + e.textContent : 'none'; };
		window.slaSeen = [show(due(10 * 60000)), show(due(-1000)), show({ status: 'open', sla_breached: true }),
			show(due(60000, { first_reply_at: new Date().toISOString() })), show({ status: 'open' })].join(' | ');
	}), '')`)
	b.until("the SLA badges rendered", `typeof window.slaSeen === 'string'`)
	if got, want := b.eval(`window.slaSeen`), "due:reply due in 10m | breached:SLA breached | breached:SLA breached | none | none"; got != want {
		t.Errorf("SLA badges: %s\nwant %s", got, want)
	}

	if errs := b.pageErrors(); errs != "" {
		t.Errorf("the console raised errors:%s", errs)
	}
}
