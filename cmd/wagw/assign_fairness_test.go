package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/wagwtest"
)

// fairRig is serve (2 consumer workers) and a second `wagw consumer`
// process (2 more) in one group over 8 partitions.
type fairRig struct {
	p               *serveProc
	conn            *sqlx.DB
	consumerRunning func(t *testing.T) // fails t when the second consumer has exited
}

// startFairRig starts both and waits until the group has the 4 members
// sharing the 8 partitions.
func startFairRig(t *testing.T) *fairRig {
	t.Helper()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	env["KAFKA_PARTITIONS"] = "8"
	env["WAGW_CONSUMER_WORKERS"] = "2"
	r := &fairRig{p: startServe(t, env), conn: conn}
	brokerAddr := env["KAFKA_EMBEDDED_ADDR"]

	cenv := map[string]string{"KAFKA_BROKERS": brokerAddr, "DATABASE_URL": dsn, "WAGW_CONSUMER_WORKERS": "2",
		"KAFKA_PARTITIONS": "8", "WAGW_LOG_LEVEL": "warn"}
	ctx, cancel := context.WithCancel(context.Background())
	cdone := make(chan error, 1)
	cout, clog := &wagwtest.SyncBuffer{}, runLog(t)
	go func() { cdone <- run(ctx, []string{"consumer"}, func(k string) string { return cenv[k] }, cout, clog) }()
	cexited := false
	t.Cleanup(func() {
		if cexited {
			return
		}
		cancel()
		select {
		case err := <-cdone:
			if err != nil {
				t.Errorf("second consumer returned %v on shutdown", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("second consumer did not stop within 15 s")
		}
	})
	r.consumerRunning = func(t *testing.T) {
		t.Helper()
		select {
		case err := <-cdone:
			cexited = true
			t.Fatalf("second consumer exited: %v\noutput:\n%s", err, cout)
		default:
		}
	}
	wagwtest.WaitEvery(t, 30*time.Second, 100*time.Millisecond, "the group has both processes' 4 members sharing the 8 partitions", func() (bool, string) {
		r.consumerRunning(t)
		m, n, err := groupMembers(brokerAddr, "wagw")
		return err == nil && m == 4 && n == 8, fmt.Sprintf("%d members, %d partitions assigned, err %v", m, n, err)
	})
	return r
}

// Fair assignment with two consumer processes in one group (fairRig).
func TestFairnessAcrossTwoConsumers(t *testing.T) {
	t.Parallel()
	r := startFairRig(t)
	t.Run("round robin shares 1,000 conversations opened at once evenly, rotating through the members", r.roundRobin)
	t.Run("least open picks a member with the fewest open conversations, ties to the least recently assigned", r.leastOpen)
	r.consumerRunning(t)
	r.p.running(t)
}

// roundRobin opens 1,000 conversations from distinct contacts at once
// into a round-robin team of 5 online agents: each gets 200 ± 1, and the
// team's decisions, in the order the team lock serialised them, rotate
// through the members.
func (r *fairRig) roundRobin(t *testing.T) {
	p, conn := r.p, r.conn
	rr := make([]agentOutJSON, 5)
	for i := range rr {
		rr[i] = createAgent(t, p, fmt.Sprintf("Robin %d", i+1), nil)
		setPresence(t, p, rr[i], "online")
	}
	rrTeam := createTeam(t, p, "Fair Robin", "round_robin", rr...)
	rrIn := testInbox(10)
	putInbox(t, p, rrIn.pnid, obj{"name": "Fair RR", "default_assign": obj{"team_id": rrTeam}})
	const total, posts = 1000, 10
	start := time.Now()
	sendAtOnce(t, p, rrIn, "3170", total, posts, func(i int) string { return fmt.Sprintf("hello %d", i) })
	wagwtest.WaitEvery(t, 45*time.Second, 100*time.Millisecond, "1,000 round-robin conversations assigned", func() (bool, string) {
		r.consumerRunning(t)
		p.running(t)
		n := sqlCount(t, conn, `SELECT count(DISTINCT a.conversation_id) FROM conversation_assignees a
			JOIN conversations c ON c.id = a.conversation_id WHERE c.inbox = $1`, rrIn.pnid)
		return n == total, fmt.Sprintf("%d of %d assigned", n, total)
	})
	t.Logf("1,000 conversations opened and assigned by round robin in %v", time.Since(start).Round(time.Millisecond))
	if n := sqlCount(t, conn, `SELECT count(*) FROM conversations WHERE inbox = $1`, rrIn.pnid); n != total {
		t.Errorf("%d conversations on the round-robin bizNumber, want %d", n, total)
	}
	if n := sqlCount(t, conn, `SELECT count(*) FROM (SELECT a.conversation_id FROM conversation_assignees a
		JOIN conversations c ON c.id = a.conversation_id WHERE c.inbox = $1 GROUP BY 1 HAVING count(*) <> 1) x`, rrIn.pnid); n != 0 {
		t.Errorf("%d round-robin conversations have more than one assignee", n)
	}
	var per []string
	for _, a := range rr {
		var list struct {
			Conversations []convJSON `json:"conversations"`
		}
		apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations?assignee=%d&team_id=%d&limit=1000", a.ID, rrTeam), e2eAdminToken, nil, &list)
		n := len(list.Conversations)
		per = append(per, fmt.Sprintf("%s: %d", a.Name, n))
		if n < total/len(rr)-1 || n > total/len(rr)+1 {
			t.Errorf("%s got %d of %d round-robin conversations, want %d ± 1", a.Name, n, total, total/len(rr))
		}
		if got := getAgent(t, p, a.ID).OpenCount; got != n {
			t.Errorf("%s: open_count %d, but %d open conversations are assigned", a.Name, got, n)
		}
	}
	t.Logf("round robin shares: %s", strings.Join(per, ", "))
	var chosen []int64
	if err := conn.Select(&chosen, `SELECT (d.decision->'chosen'->>0)::bigint FROM decisions d
		JOIN conversations c ON c.id = d.conversation_id WHERE c.inbox = $1 ORDER BY d.id`, rrIn.pnid); err != nil {
		t.Fatal(err)
	}
	if len(chosen) != total {
		t.Errorf("%d round-robin decisions, want %d", len(chosen), total)
	}
	for i, id := range chosen {
		if want := rr[i%len(rr)].ID; id != want {
			t.Errorf("round-robin decision %d (in team-lock order) picked agent %d, want %d: the rotation broke", i+1, id, want)
			break
		}
	}
}

// leastOpen gives 5 agents starting loads of 0, 3, 6, 10 and 15 open
// conversations, by flow steps of another inbox (no team, so no
// round-robin history), then opens 100 conversations at once into their
// least_open team: replaying the team's decisions in order from the
// starting counts, every pick is a member with the fewest open
// conversations at that moment (ties to the least recently assigned),
// each decision saw the exact count, and the final counts differ by ≤ 1.
func (r *fairRig) leastOpen(t *testing.T) {
	p := r.p
	lo := make([]agentOutJSON, 5)
	loads := []int{0, 3, 6, 10, 15}
	words := []string{"alpha", "bravo", "charlie", "delta", "echo"}
	var routing arr
	for i := range lo {
		lo[i] = createAgent(t, p, fmt.Sprintf("Lea %d", i+1), nil)
		setPresence(t, p, lo[i], "online")
		routing = append(routing, obj{"when": obj{"keyword": words[i]}, "assign": obj{"agent_ids": agentIDs(lo[i])}})
	}
	loadIn := testInbox(11)
	putInbox(t, p, loadIn.pnid, obj{"name": "Fair loads", "routing": routing})
	var loadMsgs []inText
	for i, n := range loads {
		for j := 0; j < n; j++ {
			loadMsgs = append(loadMsgs, inText{waID: fmt.Sprintf("3171%02d%05d", i, j), text: "about " + words[i], wamid: nextWAMID("load")})
		}
	}
	p.webhook(t, loadIn.webhookBody(loadMsgs...))
	wagwtest.WaitEvery(t, 20*time.Second, 50*time.Millisecond, "starting loads applied", func() (bool, string) {
		var got []int
		for _, a := range lo {
			got = append(got, getAgent(t, p, a.ID).OpenCount)
		}
		return slices.Equal(got, loads), fmt.Sprintf("open counts %v, want %v", got, loads)
	})
	loTeam := createTeam(t, p, "Fair Least Open", "least_open", lo...)
	loIn := testInbox(12)
	putInbox(t, p, loIn.pnid, obj{"name": "Fair LO", "default_assign": obj{"team_id": loTeam}})
	const loTotal = 100
	sendAtOnce(t, p, loIn, "3172", loTotal, 4, func(i int) string { return fmt.Sprintf("question %d", i) })
	var loConvs struct {
		Conversations []convJSON `json:"conversations"`
	}
	wagwtest.WaitEvery(t, 30*time.Second, 50*time.Millisecond, "100 least-open conversations assigned", func() (bool, string) {
		r.consumerRunning(t)
		apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations?team_id=%d&limit=1000", loTeam), e2eAdminToken, nil, &loConvs)
		n := 0
		for _, c := range loConvs.Conversations {
			if len(c.Assignees) > 0 {
				n++
			}
		}
		return n == loTotal, fmt.Sprintf("%d of %d assigned", n, loTotal)
	})
	var all []decisionJSON
	for _, c := range loConvs.Conversations {
		all = append(all, getDecisions(t, p, c.ID)...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	if len(all) != loTotal {
		t.Fatalf("%d least-open decisions, want %d", len(all), loTotal)
	}
	checkExplained(t, "least-open decisions", all)
	counts := replayLeastOpen(t, lo, loads, all)
	var final []string
	lowest, highest := 1<<30, 0
	for _, a := range lo {
		got := getAgent(t, p, a.ID).OpenCount
		final = append(final, fmt.Sprintf("%s: %d", a.Name, got))
		if got != counts[a.ID] {
			t.Errorf("%s has open_count %d; replaying the decision log gives %d", a.Name, got, counts[a.ID])
		}
		lowest, highest = min(lowest, got), max(highest, got)
	}
	if highest-lowest > 1 {
		t.Errorf("after least-open assignment the open counts differ by %d: %s", highest-lowest, strings.Join(final, ", "))
	}
	t.Logf("least-open final open counts: %s", strings.Join(final, ", "))
}

// replayLeastOpen replays the least_open team's decisions, in order, from
// the members' starting loads: each pick must be the member with the
// fewest open conversations (ties to the least recently assigned, then
// member order) and its reason must state the count it saw. It returns
// the open counts the log ends with.
func replayLeastOpen(t *testing.T, lo []agentOutJSON, loads []int, all []decisionJSON) map[int64]int {
	t.Helper()
	counts := map[int64]int{}
	lastPick := map[int64]int{} // decision index of the team's last pick; -1: never
	position := map[int64]int{}
	for i, a := range lo {
		counts[a.ID], lastPick[a.ID], position[a.ID] = loads[i], -1, i
	}
	openRe := regexp.MustCompile(`: (\d+) open conversations?`)
	for i, d := range all {
		r, ok := d.reason("chosen", 0)
		if !ok {
			t.Fatalf("least-open decision %d picked nobody:%s", i+1, dumpDecisions([]decisionJSON{d}))
		}
		best := lo[0].ID
		for _, a := range lo[1:] {
			x, b := a.ID, best
			if counts[x] < counts[b] || (counts[x] == counts[b] && (lastPick[x] < lastPick[b] ||
				(lastPick[x] == lastPick[b] && position[x] < position[b]))) {
				best = x
			}
		}
		if counts[r.AgentID] > counts[best] {
			t.Fatalf("least-open decision %d (#%d) picked agent %d with %d open conversations while agent %d had %d; counts then %v",
				i+1, d.ID, r.AgentID, counts[r.AgentID], best, counts[best], counts)
		}
		if r.AgentID != best {
			t.Errorf("least-open decision %d (#%d) picked agent %d; with ties going to the least recently assigned it should be %d (counts %v)",
				i+1, d.ID, r.AgentID, best, counts)
		}
		m := openRe.FindStringSubmatch(r.Text)
		if m == nil {
			t.Errorf("least-open reason %q does not say how many open conversations the pick had", r.Text)
		} else if n, _ := strconv.Atoi(m[1]); n != counts[r.AgentID] {
			t.Errorf("least-open decision %d (#%d) saw %d open conversations for agent %d; replaying the log gives %d: counts were not exact",
				i+1, d.ID, n, r.AgentID, counts[r.AgentID])
		}
		counts[r.AgentID]++
		lastPick[r.AgentID] = i
	}
	return counts
}
