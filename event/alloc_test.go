package event

import (
	"fmt"
	"strings"
	"testing"
)

// allocWithin: parsing body allocates within hostileAllocLimit.
func allocWithin(t *testing.T, name string, body []byte) {
	t.Run(name, func(t *testing.T) {
		var envs []Envelope
		var err error
		allocated := allocatedBytes(func() { envs, err = ParseAndSplit(body, whReceivedAt) })
		limit := hostileAllocLimit(len(body), len(envs))
		if allocated > limit {
			t.Errorf("%d bytes allocated for a %d-byte body, %d events (err %v); limit %d (%.2fx)", allocated, len(body), len(envs), err, limit, float64(allocated)/float64(limit))
		}
	})
}

// TestEditedMessagesAllocate: an edit holds a message, which may hold an
// edit: a sparse array is left out at any depth.
func TestEditedMessagesAllocate(t *testing.T) {
	empties := hwRepeat(hwMany, func(int) string { return `{}` })
	// Edit.Message is a *Message: a message nests messages without end.
	nested := func(edits int, inner string) string {
		return strings.Repeat(`{"edit":{"message":`, edits) + inner + strings.Repeat(`}}`, edits)
	}
	for edits := 1; edits <= 4; edits++ {
		msg := `{"from":"1","id":"m","timestamp":"1749416383","type":"edit","edit":{"message":` +
			nested(edits-1, `{"type":"contacts","contacts":[`+empties+`]}`) + `}}`
		allocWithin(t, fmt.Sprintf("contacts under %d edits", edits), hwValue(`"messages":[`+msg+`]`))
	}
}

// TestDenseArraysAllocate: arrays just dense enough not to be left out
// cost their elements and the slices encoding/json grew on the way
// (sparseCharge), within the bound.
func TestDenseArraysAllocate(t *testing.T) {
	for _, n := range []int{hwMany, 10 * hwMany} {
		msg := func(members, item string) []byte {
			items := hwRepeat(n, func(int) string { return item })
			return hwValue(`"messages":[{"from":"1","id":"m","timestamp":"1749416383",` + fmt.Sprintf(members, items) + `}]`)
		}
		allocWithin(t, fmt.Sprintf("%d phones of 9 bytes", n), msg(`"type":"contacts","contacts":[{"phones":[%s]}]`, `{"x":12}`))
		allocWithin(t, fmt.Sprintf("%d order items of 9 bytes", n), msg(`"type":"order","order":{"product_items":[%s]}`, `{"x":12}`))
		allocWithin(t, fmt.Sprintf("%d errors of 11 bytes", n), msg(`"type":"unsupported","errors":[%s]`, `{"x":1234}`))
		allocWithin(t, fmt.Sprintf("%d shared contacts of 31 bytes", n), msg(`"type":"contacts","contacts":[%s]`, `{"name":{},"x":"aaaaaaaaaaaaa"}`))
	}
}

// TestNestedDenseArraysAllocate: shared contacts whose phones are each
// just dense enough, in contacts just dense enough with them: the phones
// are charged to the contacts too (1.02 to 1.04 times the bound when each level
// was measured alone on the same bytes).
func TestNestedDenseArraysAllocate(t *testing.T) {
	contact := `{"phones":[{"x":""},{"x":""},{"x":""}]}`
	msg := `{"from":"1","id":"m","timestamp":"1749416383","type":"contacts","contacts":[` + hwRepeat(10, func(int) string { return contact }) + `]}`
	allocWithin(t, "messages of contacts of three phones", hwValue(`"messages":[`+hwRepeat(333, func(int) string { return msg })+`]`))
	echo := strings.Replace(msg, `"from":"1",`, `"from":"1","to":"2",`, 1)
	allocWithin(t, "echoes of contacts of three phones", hwBody(`{"id":"W","time":1749416400,"changes":[{"field":"standby","value":{"metadata":{"phone_number_id":"P"},"message_echoes":[`+hwRepeat(333, func(int) string { return echo })+`]}}]}`))
}

// TestHandoversAllocate: a messaging_handovers value of many tiny
// elements that cannot be handovers: they are not decoded. (Tiny elements
// that are handovers: TestMinimalHandoversAllocate.)
func TestHandoversAllocate(t *testing.T) {
	for _, item := range []string{`{}`, `1`, `{"type":"x"}`, `{"control_passed":1}`,
		// escaped names cost handoverCandidate an allocation each: it
		// runs once an element (1.1 to 1.8 times the bound when it ran
		// twice)
		`{"\u0061":0}`, `{"\u0061":0,"\u0062":0,"\u0063":0}`, `{"\u0074ype":"x"}`} {
		items := hwRepeat(hwMany, func(int) string { return item })
		body := hwBody(`{"id":"W","time":1749416400,"changes":[{"field":"messaging_handovers","value":{"messaging_handovers":[` + items + `]}}]}`)
		allocWithin(t, "handovers "+item, body)
	}
}

// TestDeclinedContactsAllocate: value contacts their walker declines (a
// number for a string, an unknown member) are decoded by one call of
// encoding/json for the array, not one each, on both decode paths (the
// trailing member sends a value to the member-by-member decode).
func TestDeclinedContactsAllocate(t *testing.T) {
	for _, item := range []string{`{"wa_id":1234}`, `{"x":"aaaaaa"}`, `{"x":[1,2,3]}`} {
		items := hwRepeat(hwMany, func(int) string { return item })
		allocWithin(t, "value contacts "+item, hwValue(`"contacts":[`+items+`]`))
		allocWithin(t, "value contacts then a member "+item, hwValue(`"contacts":[`+items+`],"x":1`))
	}
}

// TestMinimalHandoversAllocate: thousands of the smallest real handovers
// in one value: each is an event, within the bound's 1.5 KiB an event
// (1.26 to 1.68 times the bound when the handovers' slice grew as it was
// filled and each had wire structs of its own).
func TestMinimalHandoversAllocate(t *testing.T) {
	for _, item := range []string{`{"control_passed":{}}`, `{"type":"control_taken"}`, `{"type":"control_passed","sender":{"wa_id":"1"}}`} {
		items := hwRepeat(hwMany, func(int) string { return item })
		body := hwBody(`{"id":"W","time":1749416400,"changes":[{"field":"messaging_handovers","value":{"messaging_handovers":[` + items + `]}}]}`)
		allocWithin(t, "handovers "+item, body)
	}
}
