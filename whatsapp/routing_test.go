package whatsapp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func splitFile(t *testing.T, name string) []Item {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "routing", name))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Parse(body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	items := Split(n)
	checkItems(t, items)
	return items
}

// TestSplitRouting: the Conversation Routing payloads (testdata/routing,
// constructed from the documented field names) split into handover, standby
// message, standby echo and status items about the right user and number.
func TestSplitRouting(t *testing.T) {
	for _, tc := range []struct {
		file           string
		typ            HandoverType
		by, prev, next string
		waID, userID   string
		number, meta   string
		unix           int64
	}{
		{"handover_control_passed.json", ControlPassed, "ai_agent", "ai_agent", "app", "16505551234", "", "106540352242922", "customer asked for a person", 1759230000},
		{"handover_control_taken.json", ControlTaken, "ai_agent", "app", "ai_agent", "16505551234", "US.13491208655302741918", "106540352242922", "", 1759230100},
		{"handover_sender_recipient.json", ControlPassed, "", "", "", "16505550000", "", "123456789", "Information about the conversation", 1697041663},
	} {
		items := splitFile(t, tc.file)
		if len(items) != 1 || items[0].Handover == nil {
			t.Fatalf("%s: %d items, want one handover: %+v", tc.file, len(items), items)
		}
		it, h := items[0], items[0].Handover
		if h.Type != tc.typ || h.By() != tc.by || h.PreviousRole != tc.prev || h.NewRole != tc.next || h.Metadata != tc.meta {
			t.Errorf("%s: handover %+v (by %q)", tc.file, *h, h.By())
		}
		if it.Field != FieldMessagingHandovers || it.Contact.WaID != tc.waID || it.Contact.UserID != tc.userID || it.PhoneNumberID != tc.number {
			t.Errorf("%s: item %+v", tc.file, it)
		}
		if it.Time.Unix() != tc.unix {
			t.Errorf("%s: time %v", tc.file, it.Time)
		}
	}

	items := splitFile(t, "standby_message.json")
	if len(items) != 1 || items[0].Message == nil || items[0].Field != FieldStandby || items[0].Contact.UserID != "US.13491208655302741918" {
		t.Fatalf("standby message: %+v", items)
	}
	items = splitFile(t, "standby_echo.json")
	if len(items) != 1 || items[0].Echo == nil || items[0].Echo.ID != "wamid.STANDBY.ECHO.1" ||
		items[0].Contact.WaID != "16505551234" || items[0].Contact.Name != "Sheena Nelson" || items[0].Time.Unix() != 1759230011 {
		t.Fatalf("standby echo: %+v", items)
	}
	items = splitFile(t, "standby_echo_status.json")
	if len(items) != 1 || items[0].Status == nil || items[0].Status.Status != "read" || items[0].Field != FieldStandby {
		t.Fatalf("standby status: %+v", items)
	}
}

// TestSplitHandoverVariants: the other spellings the parser accepts, an
// array of handovers in one value, and values that are not handovers
// (they stay notices, so nothing is lost).
func TestSplitHandoverVariants(t *testing.T) {
	wrap := func(field, value string) []byte {
		return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","time":1759230000,"changes":[{"field":"` + field + `","value":` + value + `}]}]}`)
	}
	for _, tc := range []struct {
		name, field, value string
		handovers          int
		typ                HandoverType
		by                 string
	}{
		{"messenger names", FieldMessagingHandovers, `{"sender":{"wa_id":"1"},"control_taken":{"previous_owner_app_id":"A","new_owner_app_id":"B"}}`, 1, ControlTaken, "B"},
		{"flat roles", FieldMessagingHandovers, `{"sender":{"user_id":"U.1"},"type":"CONTROL_PASSED","previous_role":"ai_agent","current_role":"app"}`, 1, ControlPassed, "ai_agent"},
		{"owner strings", FieldMessagingHandovers, `{"sender":{"wa_id":"1"},"type":"control_taken","control_taken":{"previous_owner":"app","new_owner":"ai_agent"}}`, 1, ControlTaken, "ai_agent"},
		{"array", FieldMessagingHandovers, `{"messaging_handovers":[{"sender":{"wa_id":"1"},"type":"control_passed"},{"sender":{"wa_id":"2"},"type":"control_taken","timestamp":1759230001}]}`, 2, ControlPassed, ""},
		{"unknown type", FieldMessagingHandovers, `{"sender":{"wa_id":"1"},"type":"released"}`, 0, "", ""},
		{"null", FieldMessagingHandovers, `null`, 0, "", ""},
		{"standby without items", FieldStandby, `{"metadata":{"phone_number_id":"P"}}`, 0, "", ""},
	} {
		n, err := Parse(wrap(tc.field, tc.value))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		items := Split(n)
		checkItems(t, items)
		got := 0
		for _, it := range items {
			if it.Handover != nil {
				got++
			}
		}
		if got != tc.handovers {
			t.Fatalf("%s: %d handovers in %+v", tc.name, got, items)
		}
		if got == 0 {
			if len(items) != 1 || items[0].Notice == nil {
				t.Fatalf("%s: %+v, want one notice", tc.name, items)
			}
			continue
		}
		if h := items[0].Handover; h.Type != tc.typ || h.By() != tc.by {
			t.Errorf("%s: %+v by %q", tc.name, *h, h.By())
		}
	}
}

// A messaging_handovers change is never acknowledged in part: what the
// parser cannot read as a handover (an element of another type) and the
// value's errors are kept whole in a notice after the handovers it read,
// and messages or statuses beside the handovers are items of their own.
func TestSplitHandoversKeepTheRest(t *testing.T) {
	wrap := func(value string) []byte {
		return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","time":1759230000,"changes":[{"field":"messaging_handovers","value":` + value + `}]}]}`)
	}
	for _, tc := range []struct {
		name, value                  string
		handovers, notices, messages int
	}{
		{"one read", `{"sender":{"wa_id":"1"},"type":"control_passed"}`, 1, 0, 0},
		{"one of two read", `{"messaging_handovers":[{"sender":{"wa_id":"1"},"type":"control_passed"},{"sender":{"wa_id":"1"},"type":"control_requested"}]}`, 1, 1, 0},
		{"errors beside it", `{"sender":{"wa_id":"1"},"type":"control_taken","errors":[{"code":131000,"title":"Something went wrong"}]}`, 1, 1, 0},
		{"a message beside it", `{"sender":{"wa_id":"1"},"type":"control_passed","messages":[{"from":"1","id":"wamid.M","timestamp":"1759230002","type":"text","text":{"body":"hi"}}]}`, 1, 0, 1},
		{"a message beside one of two read", `{"messaging_handovers":[{"sender":{"wa_id":"1"},"type":"control_passed"},{"sender":{"wa_id":"1"},"type":"control_requested"}],` +
			`"statuses":[{"id":"wamid.S","recipient_id":"1","status":"read","timestamp":"1759230003"}],"messages":[{"from":"1","id":"wamid.M","timestamp":"1759230002","type":"text","text":{"body":"hi"}}]}`, 1, 1, 2},
	} {
		n, err := Parse(wrap(tc.value))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		items := Split(n)
		checkItems(t, items)
		handovers, notices, messages := 0, 0, 0
		for i, it := range items {
			switch {
			case it.Handover != nil:
				handovers++
				if notices+messages > 0 {
					t.Errorf("%s: handover at %d after a notice or message", tc.name, i)
				}
			case it.Notice != nil:
				notices++
			case it.Message != nil || it.Status != nil:
				messages++
			}
		}
		if handovers != tc.handovers || notices != tc.notices || messages != tc.messages {
			t.Errorf("%s: %d handovers, %d notices, %d messages and statuses, want %d, %d and %d",
				tc.name, handovers, notices, messages, tc.handovers, tc.notices, tc.messages)
		}
	}
}

// A handover keeps the notification as sent, fields no type names
// included, so nothing of it is lost once it is acknowledged.
func TestHandoverKeepsItsRawNotification(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messaging_handovers","value":` +
		`{"sender":{"wa_id":"1"},"type":"control_passed","control_passed":{"previous_owner_role":"ai_agent","new_owner_role":"app"},"conversation_summary":"asked for a refund"}}]}]}`)
	n, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	items := Split(n)
	if len(items) != 1 || items[0].Handover == nil {
		t.Fatalf("items %+v, want one handover", items)
	}
	if raw := string(items[0].Handover.Raw); !strings.Contains(raw, `"conversation_summary":"asked for a refund"`) {
		t.Errorf("handover raw %s lost a field", raw)
	}
}

// TestHandoversWithoutCandidatesAllocateNothing: a messaging_handovers
// value with nothing that may be a handover costs no allocation (the
// decoder is made at the first candidate, the marks of up to 256
// elements are on the stack).
func TestHandoversWithoutCandidatesAllocateNothing(t *testing.T) {
	for _, raw := range []string{
		`{"messaging_handovers":[{"type":"x"}],"x":1}`,
		`{"messaging_handovers":[{},1,"a",{"control_passed":1}]}`,
		`{"type":"x"}`,
	} {
		b := []byte(raw)
		if n := testing.AllocsPerRun(100, func() { _, _ = parseHandovers(b) }); n != 0 {
			t.Errorf("%s: %v allocations, want 0", raw, n)
		}
	}
}

// TestHandoversBeforeABrokenElement: an array that cannot be walked to
// its end (a Value built by hand: Parse validates the body first) gives
// the handovers before the break, and all is false.
func TestHandoversBeforeABrokenElement(t *testing.T) {
	hs, all := parseHandovers([]byte(`{"messaging_handovers":[{"control_passed":{}}, ,{"control_taken":{}}]}`))
	if len(hs) != 1 || hs[0].h.Type != ControlPassed || all {
		t.Fatalf("got %d handovers (%+v), all %v; want the control_passed before the break, all false", len(hs), hs, all)
	}
}
