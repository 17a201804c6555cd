package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
)

// End-to-end tests of issue 12 rule 3 through `serve`: auto-resolve with a
// 2 s window, its closing message through the Cloud API simulator, and
// the sticky assignee.

const closingText = "Thanks for writing, we close this conversation now."

// simTexts counts the text messages the simulator received on the inbox
// with the body, by recipient.
func simTexts(sim string, in bizNumber, body string) (map[string]int, error) {
	r, err := apiCall(sim, http.MethodGet, "/_sim/messages?phone_number_id="+in.pnid, "", nil, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Messages []struct {
			To   string `json:"to"`
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	json.Unmarshal(r.Body, &out)
	got := map[string]int{}
	for _, m := range out.Messages {
		if m.Type == "text" && m.Text == body {
			got[m.To]++
		}
	}
	return got, nil
}

// resolvedBy waits until the conversation is resolved and returns the
// decisions that resolved it by auto-resolve.
func resolvedBy(t *testing.T, p *serveProc, convID int64) []decisionJSON {
	t.Helper()
	wagwtest.WaitEvery(t, 20*time.Second, 20*time.Millisecond, "the quiet conversation is resolved", func() (bool, string) {
		c := getConv(t, p, convID)
		return c.Status == "resolved", c.Status
	})
	var out []decisionJSON
	for _, d := range decisionsWith(t, p, convID, "auto_resolve") {
		if strings.Contains(d.Summary, "resolved") {
			out = append(out, d)
		}
	}
	return out
}

// A quiet conversation is resolved after the window with the closing
// message, sent through the Cloud API simulator; one whose opening
// message is 25 hours old is resolved without it (outside the 24-hour
// window), and the decision says so.
func TestAutoResolveThroughServe(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	sim := "http://" + env["WAGW_SIMULATOR_ADDR"]
	ana := createAgent(t, p, "Ana Quiet", nil)
	setPresence(t, p, ana, "online")
	team := createTeam(t, p, "Quiet Team", "round_robin", ana)
	in := testInbox(150)
	const window = 2
	putInbox(t, p, in.pnid, obj{"name": "Quiet", "default_assign": obj{"team_id": team},
		"auto_resolve_after_seconds": window, "closing_message": closingText})

	// Quiet: resolved with the closing message.
	opened := time.Now().Truncate(time.Second)
	p.webhook(t, in.webhookBody(inText{waID: "31960000001", text: "hello", wamid: nextWAMID("quiet"), at: opened}))
	conv := openConv(t, p, in, "31960000001", "the conversation is assigned", hasAssignees)
	ds := resolvedBy(t, p, conv.ID)
	if took := time.Since(opened); took < window*time.Second {
		t.Errorf("resolved %v after the opening message, before the %d s window", took, window)
	}
	if len(ds) != 1 {
		t.Fatalf("auto-resolve decisions:%s", dumpDecisions(decisionsWith(t, p, conv.ID, "auto_resolve")))
	}
	wantReason(t, "resolved", ds[0], "auto_resolved", 0, "No message in either direction for 2 s")
	wantReason(t, "closing", ds[0], "closing", 0, "The closing message was queued")
	if a := getAgent(t, p, ana.ID); a.OpenCount != 0 {
		t.Errorf("Ana counts %d open conversations after the auto-resolve, want 0", a.OpenCount)
	}
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "the simulator received the closing message", func() (bool, string) {
		got, err := simTexts(sim, in, closingText)
		return got["31960000001"] == 1, fmt.Sprint(got, err)
	})
	checkExplained(t, "auto-resolved conversation", getDecisions(t, p, conv.ID))

	// A replayed message 25 hours old: resolved at once, no closing message.
	old := time.Now().Add(-25 * time.Hour)
	p.webhook(t, in.webhookBody(inText{waID: "31960000002", text: "from yesterday", wamid: nextWAMID("old"), at: old}))
	var stale convJSON
	wagwtest.WaitFor(t, 15*time.Second, "the old message's conversation exists", func() (bool, string) {
		r := apiDo(t, p, http.MethodGet, "/v1/conversations?inbox="+in.pnid+"&status=resolved", e2eAdminToken, nil, nil)
		var list struct {
			Conversations []convJSON `json:"conversations"`
		}
		json.Unmarshal(r.Body, &list)
		for _, c := range list.Conversations {
			if c.ContactWaID == "31960000002" {
				stale = c
				return true, ""
			}
		}
		return false, r.String()
	})
	ds = resolvedBy(t, p, stale.ID)
	if len(ds) != 1 {
		t.Fatalf("auto-resolve decisions of the old conversation:%s", dumpDecisions(getDecisions(t, p, stale.ID)))
	}
	wantReason(t, "outside the window", ds[0], "closing_skipped", 0, "last wrote 1 day 1 h ago", "24-hour customer-service window")
	if n := sqlCount(t, conn, `SELECT count(*) FROM outbox WHERE conversation_id = $1 AND kind = 'closing'`, stale.ID); n != 0 {
		t.Errorf("%d closing messages queued outside the window", n)
	}
	time.Sleep(500 * time.Millisecond) // the relay would have sent it by now
	if got, err := simTexts(sim, in, closingText); err != nil || got["31960000002"] != 0 {
		t.Errorf("the simulator received a closing message outside the window: %v %v", got, err)
	}
	p.running(t)
}

// Messages racing the deadline: each contact writes again around the
// moment its conversation's deadline falls due, and each conversation is
// decided once, in partition order. Where the deadline's command comes
// first, the conversation was resolved by it and the late message opened
// a new one; where the message comes first, the deadline's command found
// it moved and the conversation was resolved later, after the message,
// by the deadline that message set.
func TestAutoResolveRacesTheMessage(t *testing.T) {
	t.Parallel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	in := testInbox(151)
	const window = 2
	putInbox(t, p, in.pnid, obj{"name": "Race", "auto_resolve_after_seconds": window})

	offsets := []time.Duration{-600, -300, -150, -50, 0, 50, 150, 300, 600}
	type racer struct {
		waID, late string
		conv       convJSON
		due        time.Time
	}
	racers := make([]racer, len(offsets))
	for i := range racers {
		r := &racers[i]
		r.waID = fmt.Sprintf("3197000%04d", i)
		at := time.Now().Truncate(time.Second)
		r.due = at.Add(window * time.Second) // Meta's timestamps are whole seconds
		p.webhook(t, in.webhookBody(inText{waID: r.waID, text: "race", wamid: nextWAMID("race"), at: at}))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(offsets))
	for i, off := range offsets {
		r := &racers[i]
		r.late = nextWAMID("late")
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(r.due.Add(off * time.Millisecond)))
			errs[i] = postWebhook(p.base, in.webhookBody(inText{waID: r.waID, text: "still there?", wamid: r.late}))
		}()
	}
	wg.Wait()
	brokerAddr := env["KAFKA_EMBEDDED_ADDR"]
	won := map[string]int{}
	for i := range racers {
		r := &racers[i]
		if errs[i] != nil {
			t.Fatalf("racer %d: %v", i, errs[i])
		}
		var contact contactJSON
		apiMust(t, p, http.StatusOK, http.MethodGet, "/v1/contacts?wa_id="+r.waID, e2eAdminToken, nil, &contact)
		var first convJSON
		wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "the racer's first conversation is resolved", func() (bool, string) {
			var list struct {
				Conversations []convJSON `json:"conversations"`
			}
			apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations?contact_id=%d&status=resolved", contact.ID), e2eAdminToken, nil, &list)
			for _, c := range list.Conversations {
				if first.ID == 0 || c.ID < first.ID {
					first = c
				}
			}
			return first.ID != 0, "no resolved conversation yet"
		})
		ds := resolvedBy(t, p, first.ID)
		if len(ds) != 1 {
			t.Errorf("racer %d: %d auto-resolve decisions resolved the conversation, want 1:%s", i, len(ds), dumpDecisions(getDecisions(t, p, first.ID)))
			continue
		}
		order := partitionOrder(t, brokerAddr, "wa.events", r.waID)
		late, by := slices.Index(order, r.late), slices.Index(order, ds[0].EventID)
		if late < 0 || by < 0 || !strings.HasPrefix(ds[0].EventID, fmt.Sprintf("timer:auto_resolve:%d:", first.ID)) {
			t.Fatalf("racer %d: resolved by %q, late message %s, partition order %v", i, ds[0].EventID, r.late, order)
		}
		var lateConv int64
		wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "the late message is stored in a conversation", func() (bool, string) {
			conn.Get(&lateConv, `SELECT COALESCE(conversation_id, 0) FROM messages WHERE wamid = $1`, r.late)
			return lateConv != 0, "not yet"
		})
		if by < late {
			won["deadline"]++
			if lateConv == first.ID {
				t.Errorf("racer %d (offset %d ms): the deadline came first, but the late message joined the resolved conversation", i, offsets[i])
			}
			continue
		}
		won["message"]++
		if lateConv != first.ID {
			t.Errorf("racer %d (offset %d ms): the message came first, yet it is in conversation %d, not %d", i, offsets[i], lateConv, first.ID)
		}
		// A deadline published before the message (its due time, the first
		// one's) decided nothing.
		for _, id := range order[:late] {
			if strings.HasPrefix(id, "timer:auto_resolve:") {
				t.Errorf("racer %d: deadline %s came before the message, but the conversation was resolved by %s", i, id, ds[0].EventID)
			}
		}
	}
	t.Logf("first in partition order: %v", won)
	p.running(t)
}

// Sticky: the contact's second conversation goes to the agent of the
// first (round robin would pick the other member), and when that agent is
// offline the third goes by round robin, with the reason in the log.
func TestStickyThroughServe(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	ana, bob := createAgent(t, p, "Ana Sticky", nil), createAgent(t, p, "Bob Next", nil)
	setPresence(t, p, ana, "online")
	setPresence(t, p, bob, "online")
	team := createTeam(t, p, "Sticky Team", "round_robin", ana, bob)
	in := testInbox(152)
	putInbox(t, p, in.pnid, obj{"name": "Sticky", "default_assign": obj{"team_id": team}, "sticky_days": 7})
	const wa = "31980000001"
	resolve := func(c convJSON) {
		apiMust(t, p, http.StatusOK, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/resolve", c.ID), e2eAdminToken, nil, nil)
	}

	sayText(t, p, in, wa, "first")
	c1 := openConv(t, p, in, wa, "the first conversation is assigned", hasAssignees)
	expectAssignees(t, "first", c1, asg(ana, "round_robin"))
	wantReason(t, "first, nothing earlier", lastDecision(t, p, c1.ID), "sticky_skipped", 0, "no earlier resolved conversation")
	resolve(c1)

	sayText(t, p, in, wa, "second")
	c2 := openConv(t, p, in, wa, "the second conversation is assigned", hasAssignees)
	expectAssignees(t, "second: the previous agent", c2, asg(ana, "sticky"))
	d := lastDecision(t, p, c2.ID)
	if d.Rule != "sticky" || d.TeamID == nil || *d.TeamID != team {
		t.Errorf("sticky decision: rule %q team %v", d.Rule, d.TeamID)
	}
	wantReason(t, "sticky", d, "sticky", ana.ID, "Ana Sticky had the contact's previous conversation")
	resolve(c2)

	setPresence(t, p, ana, "offline")
	sayText(t, p, in, wa, "third")
	c3 := openConv(t, p, in, wa, "the third conversation is assigned", hasAssignees)
	expectAssignees(t, "third: previous agent offline", c3, asg(bob, "round_robin"))
	wantReason(t, "sticky skipped", lastDecision(t, p, c3.ID), "sticky_skipped", 0, "Ana Sticky, who had the previous conversation, is not eligible: offline")
	for _, c := range []convJSON{c1, c2, c3} {
		checkExplained(t, fmt.Sprintf("conversation %d", c.ID), getDecisions(t, p, c.ID))
	}
	p.running(t)
}
