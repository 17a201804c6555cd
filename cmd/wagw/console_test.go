package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wagw/wagw/wagwtest"
)

// The console's browser story (issue 13), in headless Chromium against
// serve with its Cloud API simulator. `make test` installs Debian's
// chromium when it is missing; WAGW_CHROMIUM names another binary.
// WAGW_CONSOLE_SCREENSHOTS=dir also writes the README's screenshots there
// (`make screenshots` writes them to docs/).

// browser is one headless Chromium tab on the console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // screenshots

	mu     sync.Mutex
	errors []string // exceptions and console errors of the page
}

func chromiumPath(t *testing.T) string {
	path := os.Getenv("WAGW_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the console test needs Chromium at %s: run `make test` (it installs Debian's chromium), or apt-get install -y chromium, or set WAGW_CHROMIUM", path)
	}
	return path
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base, dir: t.TempDir()}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source == "") { // not the browser's network log (a refused request is a story step)
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs actions, failing the test after 60 s (a loaded machine starts
// Chromium slowly).
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v%s", what, err, b.pageErrors())
	}
}

// until waits for a JavaScript predicate on the page to be true.
func (b *browser) until(what, js string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 50*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		b.shot("failed")
		b.t.Fatalf("waiting for %s: %v%s\npage text:\n%s", what, err, b.pageErrors(), b.text("body"))
	}
}

func (b *browser) text(sel string) string {
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).innerText||''`, sel)))
	return s
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// click clicks an element once it is shown and enabled. It clicks the
// element itself rather than a point of the screen, so that a live update
// moving the layout between aiming and clicking cannot send the click
// elsewhere (the page re-renders while the story runs).
func (b *browser) click(what, sel string) {
	b.t.Helper()
	b.until(what+" to click", fmt.Sprintf(`(() => { const e = document.querySelector(%q);
		if (!e || e.disabled || e.getClientRects().length === 0) return false; e.click(); return true; })()`, sel))
}

// choose picks an option of a select by its value, as a user does, once
// the select is shown and has that option.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.until("option "+value+" of "+sel, fmt.Sprintf(`(() => { const s = document.querySelector(%q);
		if (!s || s.getClientRects().length === 0 || !s.querySelector('option[value=' + JSON.stringify(%q) + ']')) return false;
		s.value = %q; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value === %q; })()`, sel, value, value, value))
}

func (b *browser) pageErrors() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) == 0 {
		return ""
	}
	return "\npage errors:\n  " + strings.Join(b.errors, "\n  ")
}

// docShots are the screenshots the README shows (docs/).
var docShots = map[string]bool{"inbox": true, "conversation": true, "board": true, "phone": true, "window": true, "routing": true, "taken": true}

// shot saves a screenshot of the page as console-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dirs := []string{b.dir}
	if d := os.Getenv("WAGW_CONSOLE_SCREENSHOTS"); d != "" && docShots[name] {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "console-"+name+".png"), png, 0o644); err != nil {
			b.t.Errorf("screenshot %s: %v", name, err)
		}
	}
}

// signIn signs in with token through the form.
func (b *browser) signIn(token, who string) {
	b.t.Helper()
	b.do("sign in as "+who, chromedp.Navigate(b.base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-token"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="login-token"]`), token),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)))
	b.until(who+" signed in, the stream live", `document.getElementById('live').textContent === 'live' && document.getElementById('me-name').textContent === `+jsString(who))
}

func (b *browser) signOut() {
	b.t.Helper()
	b.click("Sign out", "#signout")
	b.until("the sign-in form", `!document.getElementById('login').hidden`)
}

// arrives shows a view, lets a new contact write to the inbox, waits for
// the conversation's row to appear there live, and opens it.
func (b *browser) arrives(p *serveProc, view string, in bizNumber, waID, text string) convJSON {
	b.t.Helper()
	b.click(view, fmt.Sprintf(`[data-testid=%q]`, view))
	sayText(b.t, p, in, waID, text)
	c := openConv(b.t, p, in, waID, "the conversation of "+waID, nil)
	b.until(fmt.Sprintf("conversation %d in %s without a reload", c.ID, view), hasRow(c.ID))
	b.click("the conversation", row(c.ID))
	b.until("the conversation open", `document.getElementById('conv-title').textContent === `+jsString("Contact "+waID))
	return c
}

// addOwner opens the conversation from a view and adds the agent as a
// contact owner from the Contact tab's "Contact owners +".
func (b *browser) addOwner(view string, convID, agentID int64) {
	b.t.Helper()
	b.click(view, fmt.Sprintf(`[data-testid=%q]`, view))
	b.until(fmt.Sprintf("conversation %d in %s", convID, view), hasRow(convID))
	b.click("the conversation", row(convID))
	b.click("the Contact tab", "#tab-contact")
	b.click("Contact owners +", `[data-testid="owners-open"]`)
	b.choose(`[data-testid="owners-agent"]`, fmt.Sprint(agentID))
	b.click("Save owners", `[data-testid="owners-save"]`)
}

func jsString(s string) string { j, _ := json.Marshal(s); return string(j) }

func row(convID int64) string {
	return fmt.Sprintf(`[data-testid="conversation-row"][data-conversation-id="%d"]`, convID)
}

func hasRow(convID int64) string { return fmt.Sprintf(`!!document.querySelector(%q)`, row(convID)) }

func TestConsoleStory(t *testing.T) {
	start := time.Now()
	dsn, _ := newTestDB(t)
	p := startServe(t, serveEnv(t, dsn))
	ana := createAgent(t, p, "Ana", nil)
	ben := createAgent(t, p, "Ben", nil)
	support := createTeam(t, p, "Support", "round_robin", ana, ben)
	night := createTeam(t, p, "Night", "round_robin", ben)
	sales, walkIn, after := testInbox(1301), testInbox(1302), testInbox(1303)
	putInbox(t, p, sales.pnid, obj{"name": "Sales", "default_assign": obj{"team_id": support}})
	putInbox(t, p, walkIn.pnid, obj{"name": "Walk-in"})
	putInbox(t, p, after.pnid, obj{"name": "After hours", "default_assign": obj{"team_id": night}})

	b := newBrowser(t, p.base)

	// Ana signs in; her token stays out of the URL, in this tab's storage
	b.signIn(ana.Token, "Ana")
	if u := b.eval(`location.href`); strings.Contains(u, ana.Token) {
		t.Fatalf("the token is in the URL: %s", u)
	}
	if got := b.eval(`sessionStorage.getItem('wagw.token')`); got != ana.Token {
		t.Fatalf("sessionStorage holds %q, want the token", got)
	}
	// presence: she goes online from the console, which also sends the heartbeat
	b.choose(`[data-testid="presence"]`, "online")
	wagwtest.WaitEvery(t, 10*time.Second, 50*time.Millisecond, "Ana online through the console", func() (bool, string) {
		a := getAgent(t, p, ana.ID)
		return a.Presence == "online", a.Presence
	})

	// a signed webhook from a new contact appears live in Mine (the
	// round robin of Support: Ben is offline, so Ana)
	b.click("Mine", `[data-testid="view-mine"]`)
	sayText(t, p, sales, "15550130001", "Hi, is my order on its way?")
	first := openConv(t, p, sales, "15550130001", "the first conversation, assigned", hasAssignees)
	b.until("the new conversation in Mine without a reload", hasRow(first.ID))
	b.shot("inbox")

	// open it and read why it is Ana's
	b.click("the conversation", row(first.ID))
	b.until("the conversation open", `document.querySelectorAll('[data-testid="message"][data-direction="in"]').length === 1`)
	b.click("the why", "#why-title")
	b.until("the reasons", `document.getElementById('why-title').textContent === 'Why is this conversation assigned to Ana?' && document.querySelectorAll('[data-testid="decision-reason"]').length > 0`)
	reasons := b.text("#why-body")
	if !strings.Contains(reasons, "Skipped:") || !strings.Contains(reasons, "Ben") {
		t.Errorf("the why does not name the skipped candidate Ben:\n%s", reasons)
	}

	// reply; the simulator's status webhook brings the delivered tick
	b.do("type a reply", chromedp.SendKeys(chromedp.CSS(`[data-testid="reply-input"]`), "Yes, it ships today."))
	b.click("Send", `[data-testid="reply-send"]`)
	b.until("the reply delivered", `[...document.querySelectorAll('[data-testid="message"][data-direction="out"]')].some(m => ['delivered','read'].includes(m.dataset.status))`)

	// Assigned to +: Ben as a second member
	b.click("Assigned to +", `[data-testid="assign-open"]`)
	b.choose(`[data-testid="assign-agent"]`, fmt.Sprint(ben.ID))
	b.click("Save", `[data-testid="assign-save"]`)
	b.until("Ben among the assignees", `document.querySelector('[data-testid="conversation-assignees"]').textContent.includes('Ben')`)
	b.shot("conversation")
	if c := getConv(t, p, first.ID); len(c.Assignees) != 2 {
		t.Fatalf("assignees after Assigned to +: %s, want Ana and Ben", c.who())
	}

	// claim and resolve another: an unassigned one from the walk-in inbox
	second := b.arrives(p, "view-unassigned", walkIn, "15550130002", "Anyone there?")
	b.until("its claim button", `!document.querySelector('[data-testid="claim"]').disabled`)
	b.click("Claim", `[data-testid="claim"]`)
	b.until("claimed by Ana", `document.querySelector('[data-testid="conversation-assignees"]').textContent.includes('Ana') && document.querySelector('[data-testid="conversation-assignees"]').textContent.includes('claim')`)
	b.click("Resolve", `[data-testid="resolve"]`)
	b.until("resolved", `document.getElementById('conv-sub').textContent.includes('resolved')`)
	if c := getConv(t, p, second.ID); c.Status != "resolved" || c.who() != fmt.Sprintf("[%d:claim]", ana.ID) {
		t.Fatalf("after Claim and Resolve: %s %s", c.Status, c.who())
	}

	// Contact owners +: today an agent may not set owners (admin only), and
	// the console says so instead of losing the request
	b.addOwner("view-mine", first.ID, ben.ID)
	b.until("the refusal shown", `document.getElementById('conv-error').textContent.includes('admin')`)

	// An agent has no settings (admin only) and the inbox settings are
	// refused to their token; what they may not see is checked below, once
	// the Night team's conversation exists.
	if hidden := b.eval(`String(document.getElementById('nav-settings').hidden)`); hidden != "true" {
		t.Errorf("an agent sees the Settings screen")
	}
	if r := apiDo(t, p, http.MethodGet, "/v1/inboxes", ana.Token, nil, nil); r.Status != http.StatusForbidden {
		t.Errorf("GET /v1/inboxes as an agent: %s, want 403", r)
	}
	b.signOut()

	// the admin: owners, the board, the first-responder setting
	b.signIn(e2eAdminToken, "admin token")
	b.addOwner("view-all", first.ID, ben.ID)
	b.until("Ben owns the contact", `document.getElementById('owners').textContent.includes('Ben')`)
	var ct contactJSON
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/contacts/%d", first.ContactID), e2eAdminToken, nil, &ct)
	if len(ct.OwnerIDs) != 1 || ct.OwnerIDs[0] != ben.ID {
		t.Fatalf("owners %v, want Ben", ct.OwnerIDs)
	}

	// the board: the After hours conversation waits in Night's queue (Ben
	// is offline), live
	b.click("Team board", `[data-screen="board"]`)
	sayText(t, p, after, "15550130003", "Hello at midnight")
	queued := openConv(t, p, after, "15550130003", "the after-hours conversation queued", func(c convJSON) bool { return c.Queued })
	b.until("the queued conversation on the board", fmt.Sprintf(`!!document.querySelector('[data-testid="queue-board"] [data-testid="queue-item"][data-conversation-id="%d"]')`, queued.ID))
	b.shot("board")

	// settings: first responder becomes the contact's owner on Walk-in
	b.click("Settings", `[data-screen="settings"]`)
	card := fmt.Sprintf(`form[data-inbox="%s"]`, walkIn.pnid)
	b.until("the Walk-in settings", fmt.Sprintf(`!!document.querySelector('%s [data-testid="setting-first-responder"]')`, card))
	b.click("the first-responder setting", card+` [data-testid="setting-first-responder"]`)
	b.click("Save", card+` [data-testid="settings-save"]`)
	b.until("saved", fmt.Sprintf(`document.querySelector('%s [role="status"]').textContent === 'Saved.'`, card))
	b.shot("settings")
	b.signOut()

	// the next walk-in conversation: Ana replies first and becomes the owner
	b.signIn(ana.Token, "Ana")
	// visibility: the After hours conversation belongs to Night, a team Ana
	// is not in, and has no assignee: All does not list it for her, and
	// its id answers 404 to her token
	b.click("All", `[data-testid="view-all"]`)
	b.choose("#filter-status", "")
	b.until("All, any status, listed (the resolved walk-in one too)", hasRow(second.ID))
	if b.eval("String("+hasRow(queued.ID)+")") == "true" {
		t.Errorf("Ana sees conversation %d of the Night team in All", queued.ID)
	}
	if r := apiDo(t, p, http.MethodGet, fmt.Sprintf("/v1/conversations/%d", queued.ID), ana.Token, nil, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET the Night team's conversation as Ana: %s, want 404", r)
	}
	b.arrives(p, "view-unassigned", walkIn, "15550130004", "First time writing")
	b.until("the reply box", `!document.querySelector('[data-testid="reply-input"]').disabled`)
	b.do("type a reply", chromedp.SendKeys(chromedp.CSS(`[data-testid="reply-input"]`), "Welcome! How can I help?"))
	b.click("Send", `[data-testid="reply-send"]`)
	b.click("the Contact tab", "#tab-contact")
	b.until("Ana the contact's owner, live", `document.getElementById('owners').textContent.includes('Ana')`)

	// a phone-sized screen
	b.do("a 390-px screen", chromedp.EmulateViewport(390, 844))
	b.click("the Conversation tab", "#tab-conv")
	b.until("the conversation on the phone", `!document.querySelector('.list-pane').offsetParent && document.querySelector('[data-testid="reply-input"]').offsetWidth <= 390`)
	b.shot("phone")

	if errs := b.pageErrors(); errs != "" {
		t.Errorf("the console raised errors:%s", errs)
	}
	t.Logf("console story in %v; screenshots in %s", time.Since(start).Round(time.Millisecond), b.dir)
}
