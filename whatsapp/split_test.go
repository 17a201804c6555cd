package whatsapp

import (
	"math/rand/v2"
	"testing"
)

// TestContactFinderMatchesScan: the map lookup used for long
// value.contacts lists picks the same entry as a scan for the first entry
// matching either id, duplicates and empty ids included.
func TestContactFinderMatchesScan(t *testing.T) {
	ids := []string{"", "1", "2", "3", "U.1", "U.2"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return ids[rng.IntN(len(ids))] }
	for n := range 40 {
		list := make([]WebhookContact, n)
		for i := range list {
			list[i] = WebhookContact{WaID: pick(), UserID: pick(), Profile: Profile{Name: string(rune('a' + i))}}
		}
		f := newContactFinder(list)
		if (f.byWaID != nil) != (n > linearContacts) {
			t.Fatalf("%d contacts: indexed %v", n, f.byWaID != nil)
		}
		for _, wa := range ids {
			for _, user := range ids {
				want := -1
				for i := range list {
					if (wa != "" && list[i].WaID == wa) || (user != "" && list[i].UserID == user) {
						want = i
						break
					}
				}
				if got := f.find(wa, user); got != want {
					t.Fatalf("%d contacts %+v: find(%q, %q) = %d, want %d", n, list, wa, user, got, want)
				}
			}
		}
	}
}
