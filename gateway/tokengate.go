package gateway

import (
	"sync"
	"time"
)

// Unknown bearer tokens: each costs a Postgres lookup to find it is
// nobody's (about 30 µs of Postgres's CPU beside serve's 40 µs, against
// 17 µs for a request without a token), so a client sending made-up
// tokens in a loop could take a core of Postgres from the webhooks. The
// lookups of tokens not seen valid lately are therefore budgeted; once
// the budget is spent, such a request is answered 429 without a lookup.
// Tokens seen valid are always looked up (the lookup, not this gate,
// decides whether they are still valid), so agents keep working while
// someone guesses.
const (
	// unknownTokenRate is how many lookups a second tokens not seen valid
	// lately get, on average.
	unknownTokenRate = 50
	// unknownTokenBurst is how many such lookups may come at once.
	unknownTokenBurst = 200
	// knownTokensMax bounds the tokens remembered as seen valid; when it
	// is reached, one is forgotten for each new one (it then needs the
	// budget once).
	knownTokensMax = 10000
)

// tokenGate remembers the tokens (sha256) that were valid lately and
// budgets the lookups of the others.
type tokenGate struct {
	now    func() time.Time
	mu     sync.Mutex
	budget float64
	last   time.Time
	known  map[[32]byte]struct{}
}

func newTokenGate(now func() time.Time) *tokenGate {
	return &tokenGate{now: now, budget: unknownTokenBurst, last: now(), known: make(map[[32]byte]struct{})}
}

// admit reports whether the token hashing to h may be looked up: always
// when it was valid lately, else when the budget has a lookup left (it
// takes one: charged). Requests of one token looked up at once (a console
// loading its views) are each charged until the token is known.
func (g *tokenGate) admit(h [32]byte) (admitted, charged bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.known[h]; ok {
		return true, false
	}
	now := g.now()
	if el := now.Sub(g.last); el > 0 {
		g.budget = min(unknownTokenBurst, g.budget+el.Seconds()*unknownTokenRate)
		g.last = now
	}
	if g.budget < 1 {
		return false, false
	}
	g.budget--
	return true, true
}

// valid records that the token hashing to h belongs to an active agent;
// the lookup that found it, when admit charged it, is given back, so that
// agents' own lookups leave the budget as it was.
func (g *tokenGate) valid(h [32]byte, charged bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if charged {
		g.budget = min(unknownTokenBurst, g.budget+1)
	}
	if _, ok := g.known[h]; ok {
		return
	}
	if len(g.known) >= knownTokensMax {
		for k := range g.known {
			delete(g.known, k)
			break
		}
	}
	g.known[h] = struct{}{}
}

// invalid forgets the token hashing to h: it belongs to nobody now, or to
// a deactivated agent.
func (g *tokenGate) invalid(h [32]byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.known, h)
}
