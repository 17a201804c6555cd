package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/wagw/wagw/loadtest"
	"github.com/wagw/wagw/wagwtest"
)

// routingSim asks serve's Cloud API simulator for a Conversation Routing
// webhook (a handover, a standby message, an echo) and returns the wamid
// of a message or echo.
func routingSim(t *testing.T, sim string, ev obj) string {
	t.Helper()
	var out struct {
		WAMID string `json:"wamid"`
	}
	r, err := apiCall(sim, http.MethodPost, "/_sim/routing", "", ev, nil)
	if err != nil || r.Status != http.StatusAccepted {
		t.Errorf("simulator routing %v: %v %s", ev, err, r) // Errorf: also called from goroutines
		return ""
	}
	_ = json.Unmarshal(r.Body, &out)
	return out.WAMID
}

// routingServe starts serve with an inbox that assigns to one online
// agent through a round-robin team; sim is its simulator's address.
func routingServe(t *testing.T, n int, name string) (p *serveProc, conn *sqlx.DB, sim string, in bizNumber, ana agentOutJSON) {
	t.Helper()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p = startServe(t, env)
	sim = "http://" + env["WAGW_SIMULATOR_ADDR"]
	in = testInbox(n)
	ana = createAgent(t, p, "Ana "+name, nil)
	setPresence(t, p, ana, "online")
	team := createTeam(t, p, name+" team", "round_robin", ana)
	putInbox(t, p, in.pnid, obj{"name": name + " shared with an AI", "default_assign": obj{"team_id": team}})
	return p, conn, sim, in, ana
}

// threadOwnerOf reads a contact's thread owner as "owner" or "owner/role".
func threadOwnerOf(conn *sqlx.DB, waID string) string {
	var owner, role string
	if err := conn.QueryRow(`SELECT thread_owner, thread_owner_role FROM contacts WHERE wa_id = $1`, waID).Scan(&owner, &role); err != nil {
		return err.Error()
	}
	return strings.TrimSuffix(owner+"/"+role, "/")
}

// Conversation Routing webhooks through `serve`, sent signed by the
// simulator: while the AI owns the thread, the user's standby messages
// and the AI's echoes (with their statuses) are stored, and nothing is
// opened, assigned or sent; control passed to wagw opens a conversation
// with that history, assigned by the usual rules, the decision log says it
// was handed over by ai_agent, the conversation shows thread_owner wagw and
// the messages' directions in / out_other, and free-form replies go.
func TestRoutingWebhooksThroughServe(t *testing.T) {
	t.Parallel()
	p, conn, sim, in, ana := routingServe(t, 1207, "Routing")
	const waID = "5511900012071"

	routingSim(t, sim, obj{"kind": "control_taken", "phone_number_id": in.pnid, "user": waID, "previous_role": "app", "new_role": "ai_agent"})
	sb := routingSim(t, sim, obj{"kind": "standby", "phone_number_id": in.pnid, "user": waID, "text": "what are your hours?"})
	echo := routingSim(t, sim, obj{"kind": "echo", "phone_number_id": in.pnid, "user": waID, "text": "9 to 5"})
	wagwtest.WaitEvery(t, 20*time.Second, 20*time.Millisecond, "the standby message and the read echo are stored", func() (bool, string) {
		var dirs string // the simulator's webhooks may arrive in any order
		conn.QueryRow(`SELECT COALESCE(string_agg(m.wamid || ' ' || m.direction || ' ' || m.status, ', ' ORDER BY m.direction), '')
			FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE c.wa_id = $1`, waID).Scan(&dirs)
		return dirs == sb+" in , "+echo+" out_other read", dirs
	})
	if got := threadOwnerOf(conn, waID); got != "other/ai_agent" {
		t.Errorf("thread owner %s, want other/ai_agent", got)
	}
	var convs, outbox int
	conn.QueryRow(`SELECT (SELECT count(*) FROM conversations v JOIN contacts c ON c.id = v.contact_id WHERE c.wa_id = $1),
		(SELECT count(*) FROM outbox o JOIN contacts c ON c.id = o.contact_id WHERE c.wa_id = $1)`, waID).Scan(&convs, &outbox)
	if convs != 0 || outbox != 0 {
		t.Fatalf("while the AI owns the thread: %d conversations, %d outbox rows; want none", convs, outbox)
	}

	routingSim(t, sim, obj{"kind": "control_passed", "phone_number_id": in.pnid, "user": waID, "previous_role": "ai_agent", "new_role": "app"})
	c := openConv(t, p, in, waID, "control passed to wagw opens an assigned conversation", func(c convJSON) bool { return len(c.Assignees) == 1 })
	if c.Assignees[0].AgentID != ana.ID {
		t.Errorf("assigned %s, want Ana by the inbox's team", c.who())
	}
	var view struct {
		ThreadOwner struct {
			Owner string `json:"owner"`
		} `json:"thread_owner"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations/%d", c.ID), ana.Token, nil, &view)
	if view.ThreadOwner.Owner != "wagw" {
		t.Errorf("thread_owner %+v, want wagw", view.ThreadOwner)
	}
	ds := getDecisions(t, p, c.ID)
	if len(ds) == 0 || !strings.HasPrefix(ds[0].Rule, "handover") || !strings.Contains(reasonsText(ds[0]), "Handed over by ai_agent") {
		t.Errorf("decisions %v; want the opening logged as handed over by ai_agent", ds)
	}
	var msgs struct {
		Messages []struct {
			WAMID     string `json:"wamid"`
			Direction string `json:"direction"`
		} `json:"messages"`
	}
	apiMust(t, p, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/conversations/%d/messages", c.ID), ana.Token, nil, &msgs)
	var dirs []string
	for _, m := range msgs.Messages {
		if m.WAMID == sb || m.WAMID == echo {
			dirs = append(dirs, m.Direction)
		}
	}
	slices.Sort(dirs) // partition order: the simulator's webhooks may arrive in either order
	if strings.Join(dirs, ",") != "in,out_other" {
		t.Errorf("conversation history directions %v, want in,out_other", dirs)
	}
	apiMust(t, p, http.StatusCreated, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/messages", c.ID), ana.Token, obj{"text": "Ana here"}, nil)
}

// The race of a take and a handover webhook: an agent asks for the thread
// (POST take → relay → Cloud API → its result on the contact's partition)
// while Meta's webhook says the AI took it again (control_taken) or passed
// it (control_passed), at several offsets. Whatever the order, each event
// is decided once, and the final owner is the one the last owner-changing
// decision of the log (partition order) says.
func TestTakeRacesHandover(t *testing.T) {
	t.Parallel()
	p, conn, sim, in, ana := routingServe(t, 1208, "Race")
	rounds := 0
	for _, kind := range []string{"control_taken", "control_passed"} {
		for _, offset := range []time.Duration{0, 0, 5 * time.Millisecond, 20 * time.Millisecond, 150 * time.Millisecond, 500 * time.Millisecond, -5 * time.Millisecond} {
			rounds++
			waID := fmt.Sprintf("55119000120%02d", rounds)
			sayText(t, p, in, waID, "hello")
			c := openConv(t, p, in, waID, "the conversation opens", nil)
			routingSim(t, sim, obj{"kind": "control_taken", "phone_number_id": in.pnid, "user": waID, "previous_role": "app", "new_role": "ai_agent"})
			wagwtest.WaitEvery(t, 20*time.Second, 20*time.Millisecond, "the AI owns the thread", func() (bool, string) {
				got := threadOwnerOf(conn, waID)
				return got == "other/ai_agent", got
			})
			prev, next := "app", "ai_agent"
			if kind == "control_passed" {
				prev, next = "ai_agent", "app"
			}
			atOnce(2, func(i int) {
				if (i == 0) == (offset >= 0) {
					// 202: queued while the AI owned the thread; 200: wagw owned it already
					r, err := apiCall(p.base, http.MethodPost, fmt.Sprintf("/v1/conversations/%d/take", c.ID), ana.Token, nil, nil)
					if err != nil || (r.Status != http.StatusAccepted && r.Status != http.StatusOK) {
						t.Errorf("take: %v %s", err, r)
					}
					return
				}
				time.Sleep(offset.Abs())
				// its own metadata: not a redelivery of the first control_taken of the same second
				routingSim(t, sim, obj{"kind": kind, "phone_number_id": in.pnid, "user": waID, "previous_role": prev, "new_role": next, "metadata": "race"})
			})
			checkRaceRound(t, conn, c.ID, waID, kind)
		}
	}
}

// checkRaceRound waits until the take and the webhook are both decided,
// then checks each was decided once and the final owner follows the log.
func checkRaceRound(t *testing.T, conn *sqlx.DB, convID int64, waID, kind string) {
	t.Helper()
	type row struct{ event, rule string }
	var log []row
	wagwtest.WaitEvery(t, 30*time.Second, 20*time.Millisecond, "the take and the "+kind+" are decided", func() (bool, string) {
		log = nil
		rows, err := conn.Query(`SELECT event_id, rule FROM decisions WHERE conversation_id = $1 ORDER BY id`, convID)
		if err != nil {
			return false, err.Error()
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			rows.Scan(&r.event, &r.rule)
			log = append(log, r)
		}
		var take string
		conn.QueryRow(`SELECT COALESCE((SELECT state FROM outbox WHERE conversation_id = $1 AND kind = 'take'), 'none')`, convID).Scan(&take)
		handovers := 0
		for _, r := range log {
			if r.rule == "handover" || r.rule == "control_taken" {
				handovers++
			}
		}
		// the first control_taken, the racing webhook, and the take's
		// result when the take was queued (its row then sent)
		want := 2
		if take != "none" {
			want = 3
		}
		return handovers == want && (take == "none" || take == "sent"), fmt.Sprintf("take %s, log %v", take, log)
	})
	seen := map[string]bool{}
	last := ""
	for _, r := range log {
		if seen[r.event] {
			t.Errorf("%s: event %s decided twice: %v", waID, r.event, log)
		}
		seen[r.event] = true
		if r.rule == "handover" || r.rule == "control_taken" {
			last = r.rule
		}
	}
	t.Logf("%s %s: %v", waID, kind, log)
	want := map[string]string{"handover": "wagw", "control_taken": "other/ai_agent"}[last]
	if got := threadOwnerOf(conn, waID); got != want {
		t.Errorf("%s: thread owner %s, but the log ends with %s: %v", waID, got, last, log)
	}
}

// `wagw loadtest run -routing-share` against serve: a third of the
// contacts start with the AI owning their thread (handovers, standby
// messages and echoes mixed into the traffic), and the verifier still
// finds nothing lost, duplicated or reordered, every conversation
// assigned and welcomed; the standby traffic was stored as such.
func TestLoadtestRoutingMix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dsn, conn := newTestDB(t)
	env := serveEnv(t, dsn)
	p := startServe(t, env)
	getenv := func(k string) string { return env[k] }
	dir := t.TempDir()
	var out bytes.Buffer
	if err := runLoadtest(ctx, []string{"setup", "-api", p.base, "-agents", "3"}, getenv, &out); err != nil {
		t.Fatalf("loadtest setup: %v\n%s", err, out.String())
	}
	out.Reset()
	err := runLoadtest(ctx, []string{"run", "-url", p.base + "/webhook", "-rate", "100", "-poisson", "-duration", "3s",
		"-contacts", "60", "-seed", "11", "-routing-share", "0.35", "-out", dir, "-settle", "25s",
		"-expect-welcome", "-expect-assigned"}, getenv, &out)
	if err != nil {
		t.Fatalf("loadtest run with routing traffic: %v\n%s", err, out.String())
	}
	rep, err := loadtest.ReadReport(filepath.Join(dir, loadtest.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if v := rep.Verify; !v.Passed || v.Lost != 0 || v.Duplicated != 0 || v.Reordered != 0 || v.Expected == 0 {
		t.Fatalf("verification with routing traffic: %+v", v.Failures())
	}
	var standby, echoes, handedOver int
	conn.QueryRow(`SELECT (SELECT count(*) FROM messages m WHERE direction = 'in' AND raw IS NOT NULL AND EXISTS
			(SELECT 1 FROM contacts c WHERE c.id = m.contact_id AND c.thread_owner = 'other')),
		(SELECT count(*) FROM messages WHERE direction = 'out_other'),
		(SELECT count(*) FROM decisions WHERE rule LIKE 'handover,%')`).Scan(&standby, &echoes, &handedOver)
	if echoes == 0 || handedOver == 0 {
		t.Fatalf("routing traffic not applied: %d standby messages of AI-owned contacts, %d echoes, %d handed-over openings", standby, echoes, handedOver)
	}
	t.Logf("%d echoes stored, %d conversations opened by a handover, %d messages of contacts the AI still owns", echoes, handedOver, standby)
}
