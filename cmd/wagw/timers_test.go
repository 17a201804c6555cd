package main

import (
	"fmt"
	"github.com/wagw/wagw/wagwtest"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// End-to-end tests of the time-based rules (issue 12): `serve` in-process,
// short real windows (seconds), signed webhooks in, the API and the
// decision log out, the events topic read back for partition order.

// createTimedTeam creates a round-robin team of the members with the
// no-reply rule's settings.
func createTimedTeam(t *testing.T, p *serveProc, name string, rules obj, members ...agentOutJSON) int64 {
	t.Helper()
	body := obj{"name": name, "member_ids": agentIDs(members...), "strategy": "round_robin", "online_only": true}
	for k, v := range rules {
		body[k] = v
	}
	var out struct {
		ID int64 `json:"id"`
	}
	apiMust(t, p, http.StatusCreated, http.MethodPost, "/v1/teams", e2eAdminToken, body, &out)
	return out.ID
}

// decisionsWith returns the conversation's decisions whose rule contains rule.
func decisionsWith(t *testing.T, p *serveProc, convID int64, rule string) []decisionJSON {
	t.Helper()
	var out []decisionJSON
	for _, d := range getDecisions(t, p, convID) {
		if strings.Contains(d.Rule, rule) {
			out = append(out, d)
		}
	}
	return out
}

// other returns the one of a and b that is not id.
func other(id int64, a, b agentOutJSON) agentOutJSON {
	if a.ID == id {
		return b
	}
	return a
}

func agentByID(id int64, as ...agentOutJSON) agentOutJSON {
	for _, a := range as {
		if a.ID == id {
			return a
		}
	}
	return agentOutJSON{}
}

// replyAccepted posts an agent's text reply and waits until the Cloud API
// (the simulator) accepted it: the conversation's first_reply_at is set.
func replyAccepted(t *testing.T, p *serveProc, convID int64, a agentOutJSON) {
	t.Helper()
	r := apiDo(t, p, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", convID), a.Token, obj{"text": "on it"}, nil)
	if r.Status != http.StatusCreated && r.Status != http.StatusAccepted {
		t.Fatalf("reply = %s, want 201", r)
	}
	wagwtest.WaitEvery(t, 15*time.Second, 10*time.Millisecond, "the reply is accepted by the Cloud API", func() (bool, string) {
		c := getConv(t, p, convID)
		return c.FirstReplyAt != nil, fmt.Sprintf("first_reply_at %v", c.FirstReplyAt)
	})
}

// Reassign on no reply: the assignee who does not answer within the
// team's window loses the conversation to the other member, once
// (reassign_max 1); then reassign_exhausted "keep" leaves it with the
// second. An assignee who answers in time keeps the conversation.
func TestNoReplyReassignsThroughServe(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	ana, bob := createAgent(t, p, "Ana Late", nil), createAgent(t, p, "Bob Backup", nil)
	setPresence(t, p, ana, "online")
	setPresence(t, p, bob, "online")
	const window = 2
	team := createTimedTeam(t, p, "Reassigning", obj{"reassign_after_seconds": window, "reassign_max": 1, "reassign_exhausted": "keep"}, ana, bob)
	in := testInbox(120)
	putInbox(t, p, in.pnid, obj{"name": "Timed", "default_assign": obj{"team_id": team}})

	// Nobody answers.
	opened := time.Now()
	sayText(t, p, in, "31910000001", "is anyone there?")
	conv := openConv(t, p, in, "31910000001", "the conversation is assigned by round robin", hasAssignees)
	first := agentByID(conv.Assignees[0].AgentID, ana, bob)
	second := other(first.ID, ana, bob)
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "the silent assignee loses the conversation", func() (bool, string) {
		c := getConv(t, p, conv.ID)
		return len(c.Assignees) == 1 && c.Assignees[0].AgentID == second.ID, c.who()
	})
	took := time.Since(opened)
	t.Logf("reassigned %v after the opening message (window %d s)", took.Round(time.Millisecond), window)
	if took < window*time.Second {
		t.Errorf("reassigned after %v, before the %d s window ran out", took, window)
	}
	expectAssignees(t, "after the deadline", getConv(t, p, conv.ID), asg(second, "round_robin"))
	ds := decisionsWith(t, p, conv.ID, "no_reply_reassign")
	if len(ds) != 1 || ds[0].Rule != "no_reply_reassign, round_robin" {
		t.Fatalf("no-reply decisions:%s", dumpDecisions(ds))
	}
	wantReason(t, "who did not answer", ds[0], "no_reply", first.ID, first.Name, "did not reply within 2 s")
	wantReason(t, "who takes over", ds[0], "chosen", second.ID, second.Name)
	if a := getAgent(t, p, first.ID); a.OpenCount != 0 {
		t.Errorf("%s still counts %d open conversations after losing the only one", first.Name, a.OpenCount)
	}

	// The second does not answer either: reassign_max 1 is used up, keep.
	wagwtest.WaitEvery(t, 15*time.Second, 50*time.Millisecond, "the second deadline is decided", func() (bool, string) {
		ds := decisionsWith(t, p, conv.ID, "no_reply_reassign")
		return len(ds) == 2, dumpDecisions(ds)
	})
	last := decisionsWith(t, p, conv.ID, "no_reply_reassign")[1]
	wantReason(t, "exhausted", last, "reassign_exhausted", 0, second.Name, "already reassigned 1 time", "the assignment stays")
	expectAssignees(t, "exhausted, keep", getConv(t, p, conv.ID), asg(second, "round_robin"))

	// An assignee who answers in time keeps the conversation.
	sayText(t, p, in, "31910000002", "hello again")
	answered := openConv(t, p, in, "31910000002", "the second conversation is assigned", hasAssignees)
	who := agentByID(answered.Assignees[0].AgentID, ana, bob)
	replyAccepted(t, p, answered.ID, who)
	time.Sleep(window*time.Second + 1500*time.Millisecond) // past the deadline the reply cancelled
	expectAssignees(t, "answered in time", getConv(t, p, answered.ID), asg(who, "round_robin"))
	if ds := decisionsWith(t, p, answered.ID, "no_reply_reassign"); len(ds) != 0 {
		t.Errorf("an answered conversation was reassigned:%s", dumpDecisions(ds))
	}
	checkExplained(t, "reassigned conversation", getDecisions(t, p, conv.ID))
	p.running(t)
}

// timedReply is an agent's text reply to post in a conversation at a time.
type timedReply struct {
	convID int64
	token  string
	at     time.Time
}

// replyAll posts the replies, each at its time, concurrently, and returns
// once all were answered 201 or 202.
func replyAll(t *testing.T, p *serveProc, replies []timedReply) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(replies))
	for i, r := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(r.at))
			resp, err := apiCall(p.base, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", r.convID), r.token, obj{"text": "racing"}, nil)
			if err == nil && resp.Status != http.StatusCreated && resp.Status != http.StatusAccepted {
				err = fmt.Errorf("reply = %s", resp)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
}

// firstWith is the index of the first id in order with the prefix; -1: none.
func firstWith(order []string, prefix string) int {
	return slices.IndexFunc(order, func(id string) bool { return strings.HasPrefix(id, prefix) })
}

// A reply and its deadline at the same moment: each conversation is
// decided once, in partition order. Where the deadline's command comes
// first the conversation was reassigned (and the late reply changes
// nothing more); where the reply's accepted send comes first, nothing was
// reassigned. Replies are sent around the deadline, so both orders occur.
func TestNoReplyRacesTheReply(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	ana, bob := createAgent(t, p, "Ana Racer", nil), createAgent(t, p, "Bob Racer", nil)
	setPresence(t, p, ana, "online")
	setPresence(t, p, bob, "online")
	const window = 2
	team := createTimedTeam(t, p, "Racing", obj{"reassign_after_seconds": window, "reassign_max": 3}, ana, bob)
	in := testInbox(121)
	putInbox(t, p, in.pnid, obj{"name": "Race", "default_assign": obj{"team_id": team}})

	offsets := []time.Duration{-400, -250, -150, -75, 0, 75, 150, 250, 400}
	type racer struct {
		waID   string
		conv   convJSON
		opened time.Time
	}
	racers := make([]racer, len(offsets))
	for i := range offsets {
		racers[i].waID = fmt.Sprintf("3192000%04d", i)
		racers[i].opened = time.Now()
		sayText(t, p, in, racers[i].waID, "race")
		racers[i].conv = openConv(t, p, in, racers[i].waID, "the racer's conversation is assigned", hasAssignees)
	}
	// Each assignee replies around its conversation's deadline.
	replies := make([]timedReply, len(offsets))
	for i, r := range racers {
		a := agentByID(r.conv.Assignees[0].AgentID, ana, bob)
		replies[i] = timedReply{convID: r.conv.ID, token: a.Token, at: r.opened.Add(window*time.Second + offsets[i]*time.Millisecond)}
	}
	replyAll(t, p, replies)
	brokerAddr := env["KAFKA_EMBEDDED_ADDR"]
	won := map[string]int{}
	for i, r := range racers {
		wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "the racer's reply is accepted", func() (bool, string) {
			c := getConv(t, p, r.conv.ID)
			return c.FirstReplyAt != nil, "first_reply_at not set"
		})
		first := r.conv.Assignees[0].AgentID
		order := partitionOrder(t, brokerAddr, "wa.events", r.waID)
		sent, timer := firstWith(order, "send_result:"), firstWith(order, fmt.Sprintf("timer:no_reply:%d:", r.conv.ID))
		if sent < 0 {
			t.Fatalf("racer %d: no send result on the partition: %v", i, order)
		}
		ds := decisionsWith(t, p, r.conv.ID, "no_reply_reassign")
		c := getConv(t, p, r.conv.ID)
		if timer >= 0 && timer < sent {
			won["deadline"]++
			if len(ds) == 0 || ds[0].EventID != order[timer] || len(c.Assignees) != 1 || c.Assignees[0].AgentID == first {
				t.Errorf("racer %d (offset %d ms): the deadline came first in partition order but assignees are %s after:%s",
					i, offsets[i], c.who(), dumpDecisions(ds))
			}
			continue
		}
		won["reply"]++
		if len(ds) != 0 || len(c.Assignees) != 1 || c.Assignees[0].AgentID != first {
			t.Errorf("racer %d (offset %d ms): the reply came first in partition order but assignees are %s after:%s",
				i, offsets[i], c.who(), dumpDecisions(ds))
		}
	}
	t.Logf("first in partition order: %v", won)
	p.running(t)
}

// Away and offline: an agent who goes away gives their unanswered
// conversations back to the team's strategy; an answered one stays until
// its contact writes again; a lapsed heartbeat counts as going offline
// (WAGW_PRESENCE_TIMEOUT 2 s here), without anyone calling the API.
func TestAwayReassignsThroughServe(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	env["WAGW_PRESENCE_TIMEOUT"] = "2s"
	p := startServe(t, env)
	ana, bob := createAgent(t, p, "Ana Away", nil), createAgent(t, p, "Bob Here", nil)
	// Bob's app heartbeats all along; Ana's until she goes away.
	var anaBeats sync.WaitGroup
	stopAna, stopBob := make(chan struct{}), make(chan struct{})
	defer close(stopBob)
	heartbeat := func(a agentOutJSON, stop chan struct{}, wg *sync.WaitGroup) {
		if wg != nil {
			defer wg.Done()
		}
		for {
			apiCall(p.base, http.MethodPut, fmt.Sprintf("/v1/agents/%d/presence", a.ID), a.Token, obj{"status": "online"}, nil)
			select {
			case <-stop:
				return
			case <-time.After(400 * time.Millisecond):
			}
		}
	}
	setPresence(t, p, ana, "online")
	setPresence(t, p, bob, "online")
	anaBeats.Add(1)
	go heartbeat(ana, stopAna, &anaBeats)
	go heartbeat(bob, stopBob, nil)
	team := createTimedTeam(t, p, "Away Team", obj{"reassign_on_away": true}, ana, bob)
	in := testInbox(122)
	putInbox(t, p, in.pnid, obj{"name": "Away", "default_assign": obj{"team_id": team}})

	// Round robin: Ana (first in team order) gets the 1st and 3rd.
	var convs [3]convJSON
	for i := range convs {
		wa := fmt.Sprintf("3193000000%d", i)
		sayText(t, p, in, wa, "hello")
		convs[i] = openConv(t, p, in, wa, "the conversation is assigned", hasAssignees)
	}
	waiting, answered := convs[0], convs[2]
	expectAssignees(t, "setup 1st", waiting, asg(ana, "round_robin"))
	expectAssignees(t, "setup 3rd", answered, asg(ana, "round_robin"))
	replyAccepted(t, p, answered.ID, ana)

	close(stopAna) // Ana's app stops before she goes away
	anaBeats.Wait()
	setPresence(t, p, ana, "away")
	wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, "Ana's waiting conversation goes to Bob", func() (bool, string) {
		c := getConv(t, p, waiting.ID)
		return len(c.Assignees) == 1 && c.Assignees[0].AgentID == bob.ID, c.who()
	})
	wantReason(t, "away", lastDecision(t, p, waiting.ID), "away_reassign", ana.ID, "Ana Away", "is away while the contact waits")
	wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, "the answered conversation's decision", func() (bool, string) {
		return len(decisionsWith(t, p, answered.ID, "away_reassign")) == 1, "no away decision yet"
	})
	wantReason(t, "answered", lastDecision(t, p, answered.ID), "answered", ana.ID, "answered and the contact has not written since")
	expectAssignees(t, "answered, Ana away", getConv(t, p, answered.ID), asg(ana, "round_robin"))

	// Reassign replies: the contact writes while Ana is still away.
	sayText(t, p, in, "31930000002", "are you still there?")
	wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, "the answered conversation goes to Bob when its contact writes", func() (bool, string) {
		c := getConv(t, p, answered.ID)
		return len(c.Assignees) == 1 && c.Assignees[0].AgentID == bob.ID, c.who()
	})

	// Heartbeat timeout: Ana comes back with one heartbeat, takes a new
	// conversation, and sends no heartbeat after that.
	// The clock starts before the heartbeat is sent: the server's record
	// of it can only be later, so the lapse is never measured short.
	lastBeat := time.Now()
	setPresence(t, p, ana, "online")
	sayText(t, p, in, "31930000009", "new one")
	lapsing := openConv(t, p, in, "31930000009", "the new conversation is assigned", hasAssignees)
	expectAssignees(t, "Ana back online", lapsing, asg(ana, "round_robin"))
	wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "Ana's heartbeat lapses and Bob gets the conversation", func() (bool, string) {
		c := getConv(t, p, lapsing.ID)
		return len(c.Assignees) == 1 && c.Assignees[0].AgentID == bob.ID, c.who()
	})
	took := time.Since(lastBeat)
	t.Logf("reassigned %v after Ana's last heartbeat (timeout 2 s)", took.Round(time.Millisecond))
	if took < 2*time.Second {
		t.Errorf("reassigned %v after the last heartbeat, before the 2 s timeout", took)
	}
	wantReason(t, "lapsed", lastDecision(t, p, lapsing.ID), "away_reassign", ana.ID, "Ana Away", "no heartbeat for")
	for _, c := range []int64{waiting.ID, answered.ID, lapsing.ID} {
		checkExplained(t, fmt.Sprintf("conversation %d", c), getDecisions(t, p, c))
	}
	p.running(t)
}

// An agent going away while their no-reply deadline falls due: two
// deadlines, one conversation, one reassignment. Whichever deadline comes
// first in partition order moves the conversation; the other finds
// nothing left to do.
func TestAwayRacesTheNoReplyDeadline(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	const window = 2
	offsets := []time.Duration{-200, -80, 0, 80, 200}
	type racer struct {
		waID   string
		x, y   agentOutJSON
		conv   convJSON
		opened time.Time
	}
	racers := make([]racer, len(offsets))
	for i := range racers {
		r := &racers[i]
		r.x, r.y = createAgent(t, p, fmt.Sprintf("Xena Racer%d", i), nil), createAgent(t, p, fmt.Sprintf("Yuri Racer%d", i), nil)
		setPresence(t, p, r.x, "online")
		setPresence(t, p, r.y, "online")
		team := createTimedTeam(t, p, fmt.Sprintf("Race %d", i), obj{"reassign_after_seconds": window, "reassign_on_away": true}, r.x, r.y)
		in := testInbox(130 + i)
		putInbox(t, p, in.pnid, obj{"name": fmt.Sprintf("Race %d", i), "default_assign": obj{"team_id": team}})
		r.waID = fmt.Sprintf("3194000000%d", i)
		r.opened = time.Now()
		sayText(t, p, in, r.waID, "race")
		r.conv = openConv(t, p, in, r.waID, "the racer's conversation is assigned", hasAssignees)
		expectAssignees(t, "racer setup", r.conv, asg(r.x, "round_robin"))
	}
	var wg sync.WaitGroup
	for i, off := range offsets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := racers[i]
			time.Sleep(time.Until(r.opened.Add(window*time.Second + off*time.Millisecond)))
			apiCall(p.base, http.MethodPut, fmt.Sprintf("/v1/agents/%d/presence", r.x.ID), r.x.Token, obj{"status": "away"}, nil)
		}()
	}
	wg.Wait()
	brokerAddr := env["KAFKA_EMBEDDED_ADDR"]
	first := map[string]int{}
	for i, r := range racers {
		wagwtest.WaitEvery(t, 15*time.Second, 20*time.Millisecond, "the racer's conversation moves to Yuri", func() (bool, string) {
			c := getConv(t, p, r.conv.ID)
			return len(c.Assignees) == 1 && c.Assignees[0].AgentID == r.y.ID, c.who()
		})
		time.Sleep(300 * time.Millisecond) // the later deadline is applied by now
		var moved []decisionJSON
		for _, d := range getDecisions(t, p, r.conv.ID) {
			if (strings.HasPrefix(d.Rule, "no_reply_reassign") || strings.HasPrefix(d.Rule, "away_reassign")) && strings.Contains(d.Summary, "added") {
				moved = append(moved, d)
			}
		}
		if len(moved) != 1 {
			t.Errorf("racer %d (offset %d ms): %d decisions moved the conversation, want 1:%s", i, offsets[i], len(moved), dumpDecisions(moved))
			continue
		}
		order := partitionOrder(t, brokerAddr, "wa.events", r.waID)
		firstTimer := ""
		for _, id := range order {
			if strings.HasPrefix(id, "timer:") {
				firstTimer = id
				break
			}
		}
		if moved[0].EventID != firstTimer {
			t.Errorf("racer %d: the conversation was moved by %s, but the first deadline in partition order is %s (%v)", i, moved[0].EventID, firstTimer, order)
		}
		first[strings.SplitN(moved[0].Rule, ",", 2)[0]]++
	}
	t.Logf("moved by: %v", first)
	p.running(t)
}

// Snooze: the conversation is snoozed until its time, and does not count
// toward its assignee's open conversations meanwhile; the contact writing
// wakes it early. Bad times are refused.
func TestSnoozeThroughServe(t *testing.T) {
	t.Parallel()
	dsn, _ := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	ana := createAgent(t, p, "Ana Snoozer", nil)
	setPresence(t, p, ana, "online")
	team := createTeam(t, p, "Snooze Team", "round_robin", ana)
	in := testInbox(140)
	putInbox(t, p, in.pnid, obj{"name": "Snooze", "default_assign": obj{"team_id": team}})
	sayText(t, p, in, "31950000001", "hello")
	conv := openConv(t, p, in, "31950000001", "the conversation is assigned", hasAssignees)
	path := fmt.Sprintf("/v1/conversations/%d/snooze", conv.ID)
	wantError(t, "snooze in the past", apiDo(t, p, http.MethodPost, path, ana.Token, obj{"until": time.Now().Add(-time.Minute).Format(time.RFC3339)}, nil),
		http.StatusUnprocessableEntity, "invalid")
	wantError(t, "snooze without a time", apiDo(t, p, http.MethodPost, path, ana.Token, obj{"until": "tomorrow"}, nil), http.StatusBadRequest, "bad_json")

	type snoozedJSON struct {
		Status       string     `json:"status"`
		SnoozedUntil *time.Time `json:"snoozed_until"`
	}
	status := func() snoozedJSON {
		var s snoozedJSON
		apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations/%d", conv.ID), e2eAdminToken, nil, &s)
		return s
	}
	// Its time comes.
	until := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
	var ans commandAnswer
	apiMust(t, p, http.StatusOK, http.MethodPost, path, ana.Token, obj{"until": until.Format(time.RFC3339Nano)}, &ans)
	if ans.Conversation.Status != "snoozed" || ans.Decision.Rule != "snooze" {
		t.Errorf("snooze answered status %q, rule %q", ans.Conversation.Status, ans.Decision.Rule)
	}
	if s := status(); s.Status != "snoozed" || s.SnoozedUntil == nil || !s.SnoozedUntil.Equal(until) {
		t.Errorf("snoozed conversation: %+v, want snoozed until %v", s, until)
	}
	if a := getAgent(t, p, ana.ID); a.OpenCount != 0 {
		t.Errorf("Ana's open count %d while her only conversation is snoozed, want 0", a.OpenCount)
	}
	wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, "the snooze ends at its time", func() (bool, string) {
		s := status()
		return s.Status == "open", s.Status
	})
	if time.Now().Before(until) {
		t.Errorf("woken before %v", until)
	}
	if a := getAgent(t, p, ana.ID); a.OpenCount != 1 {
		t.Errorf("Ana's open count %d after the snooze, want 1", a.OpenCount)
	}
	wantReason(t, "woken", lastDecision(t, p, conv.ID), "snooze_ended", 0, "The snooze ended at")

	// The contact writes first.
	apiMust(t, p, http.StatusOK, http.MethodPost, path, ana.Token, obj{"until": time.Now().Add(time.Hour).Format(time.RFC3339)}, nil)
	sayText(t, p, in, "31950000001", "I am back")
	wagwtest.WaitEvery(t, 10*time.Second, 20*time.Millisecond, "the contact's message wakes the conversation", func() (bool, string) {
		s := status()
		return s.Status == "open", s.Status
	})
	wantReason(t, "woken by the contact", lastDecision(t, p, conv.ID), "snooze_ended", 0, "The contact wrote")
	checkExplained(t, "snoozed conversation", getDecisions(t, p, conv.ID))
	p.running(t)
}
