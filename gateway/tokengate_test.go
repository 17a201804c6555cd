package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A client sending made-up bearer tokens gets a budget of lookups (each
// answered 401) and 429 with Retry-After past it, without a lookup; agents
// whose tokens were valid lately, or were just created, keep working
// meanwhile; the budget refills with time.
func TestUnknownTokensHaveABudgetOfLookups(t *testing.T) {
	e, _, _ := newAPIEnv(t, 0)
	ana := e.createAgent(t, "Ana", "ana@example.com")
	if code, body := e.call(t, "GET", "/v1/conversations", ana.Token, "", nil); code != 200 {
		t.Fatalf("ana before: %d %s", code, body)
	}
	start := time.Now()
	codes := map[int]int{}
	var refusals []string // what each 429 said, by Retry-After and code
	for range 600 {
		raw := make([]byte, 32)
		rand.Read(raw)
		req := httptest.NewRequest("GET", "/v1/conversations", nil)
		req.Header.Set("Authorization", "Bearer "+hex.EncodeToString(raw))
		resp, err := e.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 && (resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), `"too_many_unknown_tokens"`)) {
			refusals = append(refusals, fmt.Sprintf("Retry-After %q, %s", resp.Header.Get("Retry-After"), body))
		}
	}
	// The budget refills while the loop runs: each made-up token the clock
	// gave a lookup to is one more 401.
	most := unknownTokenBurst + int(time.Since(start).Seconds()*unknownTokenRate) + 1
	if codes[401] < unknownTokenBurst || codes[401] > most || codes[429] == 0 || codes[401]+codes[429] != 600 {
		t.Fatalf("600 made-up tokens in %v: %v; want %d to %d answered 401 (looked up) and the rest 429", time.Since(start), codes, unknownTokenBurst, most)
	}
	if len(refusals) > 0 {
		t.Errorf("%d answers 429 without Retry-After 1 and too_many_unknown_tokens, the first: %s", len(refusals), refusals[0])
	}
	bob := e.createAgent(t, "Bob", "bob@example.com")
	for i := range 20 {
		for _, a := range []testAgent{ana, bob} {
			if code, body := e.call(t, "GET", "/v1/conversations", a.Token, "", nil); code != 200 {
				t.Fatalf("%s's request %d while the budget is spent: %d %s", a.Name, i, code, body)
			}
		}
	}
	// A deactivated agent's token is still looked up: 403, not 429.
	e.expect(t, "PATCH", fmt.Sprintf("/v1/agents/%d", bob.ID), adminTestToken, `{"active":false}`, 200, "")
	e.expect(t, "GET", "/v1/conversations", bob.Token, "", 403, "agent_deactivated")
	time.Sleep(300 * time.Millisecond)
	e.expect(t, "GET", "/v1/conversations", "0123", "", 401, "unauthorized")
}

// The gate itself, on a clock of its own: the budget, its refill, the
// lookups given back for valid tokens, forgetting, and the bound on the
// tokens remembered.
func TestTokenGate(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newTokenGate(func() time.Time { return now })
	tok := func(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint(i))) }
	admit := func(h [32]byte) bool { ok, _ := g.admit(h); return ok }
	for i := range unknownTokenBurst {
		if !admit(tok(i)) {
			t.Fatalf("unknown token %d of the burst refused", i)
		}
	}
	if admit(tok(-1)) {
		t.Fatal("an unknown token past the burst admitted")
	}
	g.valid(tok(0), true) // looked up and valid: its lookup comes back
	if !admit(tok(0)) || !admit(tok(0)) {
		t.Fatal("a valid token refused")
	}
	if !admit(tok(-2)) || admit(tok(-3)) {
		t.Fatal("the lookup given back by a valid token is not one lookup")
	}
	now = now.Add(time.Second / unknownTokenRate)
	if !admit(tok(-4)) || admit(tok(-5)) {
		t.Fatal("the budget does not refill at unknownTokenRate")
	}
	g.invalid(tok(0))
	if admit(tok(0)) {
		t.Fatal("a forgotten token admitted with the budget spent")
	}
	now = now.Add(time.Hour)
	for i := range knownTokensMax + 10 {
		g.valid(tok(i), false)
	}
	if len(g.known) != knownTokensMax {
		t.Fatalf("%d tokens remembered, want at most %d", len(g.known), knownTokensMax)
	}
}

// Requests of one agent's token looked up at once (a console loading its
// views, after a restart) each take a lookup from the budget while the
// token is unknown; once it is found valid, every one of them is given
// back, so that agents going about their work leave the budget of
// unknown tokens whole. Creating an agent gives back nothing: it took
// nothing.
func TestTokenGateGivesBackWhatItTook(t *testing.T) {
	now := time.Unix(1000, 0)
	unknown := func(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint("made up ", i))) }
	g := newTokenGate(func() time.Time { return now })
	agent := sha256.Sum256([]byte("agent"))
	var charged []bool
	for range 4 {
		ok, c := g.admit(agent)
		if !ok {
			t.Fatal("an agent's token refused with the budget whole")
		}
		charged = append(charged, c)
	}
	for _, c := range charged {
		g.valid(agent, c)
	}
	for i := range unknownTokenBurst {
		if ok, _ := g.admit(unknown(i)); !ok {
			t.Fatalf("unknown token %d of the burst refused after an agent's four requests looked up at once were found valid", i)
		}
	}

	g = newTokenGate(func() time.Time { return now })
	for i := range unknownTokenBurst {
		g.admit(unknown(i))
	}
	g.valid(sha256.Sum256([]byte("created")), false) // createAgent
	if ok, _ := g.admit(unknown(-1)); ok {
		t.Fatal("creating an agent gave the budget a lookup it never took")
	}
}
