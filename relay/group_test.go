package relay

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// The calls that arrive while a write is in flight go out together in the
// next write, written by one of them; each call gets the error of the
// write that carried it, and every item is written once.
func TestGroupWritesTheWaitingCallsTogether(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var writes [][]int
	fail := errors.New("refused")
	g := &group[int]{write: func(_ context.Context, items []int) error {
		mu.Lock()
		writes = append(writes, slices.Clone(items))
		first := len(writes) == 1
		mu.Unlock()
		if first {
			<-release // in flight while the others arrive
			return nil
		}
		if slices.Contains(items, 7) {
			return fail
		}
		return nil
	}}
	errs := make([]error, 11)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = g.do(context.Background(), 0) }()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(writes) == 1 })
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = g.do(context.Background(), i) }()
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiting) == 10 })
	close(release)
	wg.Wait()

	if len(writes) != 2 || len(writes[0]) != 1 || len(writes[1]) != 10 {
		t.Fatalf("writes %v: want the first call alone, then the ten that waited in one write", writes)
	}
	got := slices.Sorted(slices.Values(writes[1]))
	if !slices.Equal(got, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Errorf("second write carried %v", writes[1])
	}
	if errs[0] != nil {
		t.Errorf("the first call: %v, want its own write's nil", errs[0])
	}
	for i := 1; i <= 10; i++ {
		if !errors.Is(errs[i], fail) {
			t.Errorf("call %d: %v, want the error of the write that carried it", i, errs[i])
		}
	}
	if g.busy || len(g.waiting) != 0 {
		t.Errorf("after the writes: busy %v, %d waiting", g.busy, len(g.waiting))
	}
	// Idle again: a lone call writes at once, alone.
	if err := g.do(context.Background(), 11); err != nil || len(writes) != 3 || !slices.Equal(writes[2], []int{11}) {
		t.Errorf("a lone call: %v, writes %v", err, writes)
	}
}

// Under many concurrent callers every item is written exactly once and no
// call is left waiting.
func TestGroupWritesEveryItemOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	writes := 0
	g := &group[int]{write: func(_ context.Context, items []int) error {
		time.Sleep(time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		writes++
		for _, v := range items {
			seen[v]++
		}
		return nil
	}}
	var wg sync.WaitGroup
	const n = 2000
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); g.do(context.Background(), i) }()
	}
	wg.Wait()
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("item %d written %d times", i, seen[i])
		}
	}
	t.Logf("%d items in %d writes", n, writes)
	if writes >= n {
		t.Errorf("%d writes for %d concurrent items: nothing was grouped", writes, n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
