package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wagw/wagw/event"
	"github.com/wagw/wagw/whatsapp"
)

func genTestConfig() GenConfig {
	return GenConfig{Seed: 42, Contacts: 200, Rate: 1000, Poisson: true,
		Start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Inboxes: []string{"106540352242922", "106540352242923"}}
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := NewGenerator(genTestConfig()), NewGenerator(genTestConfig())
	for i := range 2000 {
		ra, _ := a.Next()
		rb, _ := b.Next()
		if !bytes.Equal(ra.Body, rb.Body) || ra.At != rb.At {
			t.Fatalf("request %d differs between two generators with the same config", i)
		}
	}
	cfg := genTestConfig()
	cfg.Seed = 43
	c := NewGenerator(cfg)
	ra, _ := NewGenerator(genTestConfig()).Next()
	rc, _ := c.Next()
	if bytes.Equal(ra.Body, rc.Body) {
		t.Fatal("another seed gave the same first request")
	}
}

// TestGenerateParsesAndMatchesRefs: every body is a notification the
// gateway understands, escaped like Meta's, and the refs the verifier
// relies on say exactly what the body carries.
func TestGenerateParsesAndMatchesRefs(t *testing.T) {
	g := NewGenerator(genTestConfig())
	seenMsg := map[string]bool{}
	seenStatus := map[string]bool{}
	lastSeq := map[string]int{}
	types := map[string]int{}
	var batches, redeliveries, statusPosts, multiContact, total int
	var prevAt time.Duration
	for i := range 5000 {
		req, ok := g.Next()
		if !ok {
			t.Fatal("generator ran out")
		}
		if req.At < prevAt {
			t.Fatalf("request %d: At went backwards", i)
		}
		prevAt = req.At
		for _, c := range req.Body {
			if c >= 0x80 {
				t.Fatalf("request %d: raw non-ASCII byte in body; Meta escapes it", i)
			}
		}
		if bytes.Contains(req.Body, []byte("https://")) {
			t.Fatalf("request %d: unescaped slash", i)
		}
		events, err := event.ParseAndSplit(req.Body, time.Now())
		if err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, req.Body)
		}
		var msgs []event.Envelope
		var sts []string
		for _, e := range events {
			switch e.Kind {
			case event.KindMessage:
				msgs = append(msgs, e)
			case event.KindStatus:
				sts = append(sts, e.ID)
			default:
				t.Fatalf("request %d: unexpected %s event", i, e.Kind)
			}
		}
		if len(msgs) != len(req.Messages) || len(sts) != len(req.Statuses) {
			t.Fatalf("request %d: body has %d messages and %d statuses, refs say %d and %d", i, len(msgs), len(sts), len(req.Messages), len(req.Statuses))
		}
		contacts := map[string]bool{}
		for j, e := range msgs {
			ref := req.Messages[j]
			if e.ID != ref.WAMID || e.Contact.Key() != ref.Contact || e.PhoneNumberID != ref.Inbox || e.Message.Type != ref.Type || e.Message.Opens() != ref.Opens {
				t.Fatalf("request %d message %d: body %s/%s/%s/%s, ref %+v", i, j, e.ID, e.Contact.Key(), e.PhoneNumberID, e.Message.Type, ref)
			}
			contacts[ref.Contact] = true
			if e.Message.Type == whatsapp.TypeText && !strings.HasSuffix(e.Message.Body(), " #"+itoa(ref.Seq)) {
				t.Fatalf("request %d: text %q does not end with its sequence number %d", i, e.Message.Body(), ref.Seq)
			}
			if e.Message.Time().IsZero() {
				t.Fatalf("request %d: message without timestamp", i)
			}
		}
		for j, s := range sts {
			if s != req.Statuses[j] {
				t.Fatalf("request %d: status %s, ref %s", i, s, req.Statuses[j])
			}
		}
		total++
		if req.Redelivery {
			redeliveries++
			for _, m := range req.Messages {
				if !seenMsg[m.WAMID] {
					t.Fatalf("request %d: redelivery of an unseen message", i)
				}
			}
			continue
		}
		if len(req.Statuses) > 0 {
			statusPosts++
		}
		if len(req.Messages) > 1 {
			batches++
		}
		if len(contacts) > 1 {
			multiContact++
		}
		for _, m := range req.Messages {
			if seenMsg[m.WAMID] {
				t.Fatalf("request %d: wamid %s repeated outside a redelivery", i, m.WAMID)
			}
			seenMsg[m.WAMID] = true
			if m.Seq != lastSeq[m.Contact]+1 {
				t.Fatalf("request %d: contact %s sequence %d after %d", i, m.Contact, m.Seq, lastSeq[m.Contact])
			}
			lastSeq[m.Contact] = m.Seq
			types[m.Type]++
		}
		for _, s := range req.Statuses {
			if seenStatus[s] {
				t.Fatalf("request %d: status %s repeated outside a redelivery", i, s)
			}
			seenStatus[s] = true
		}
	}
	if redeliveries == 0 || statusPosts == 0 || batches == 0 || multiContact == 0 {
		t.Fatalf("mix lacks something: %d redeliveries, %d status POSTs, %d batches, %d multi-contact", redeliveries, statusPosts, batches, multiContact)
	}
	n := len(seenMsg)
	if types[whatsapp.TypeText] < n/2 || types[whatsapp.TypeImage] == 0 || types[whatsapp.TypeReaction] == 0 ||
		types[whatsapp.TypeLocation] == 0 || types[whatsapp.TypeInteractive] == 0 {
		t.Fatalf("type mix %v", types)
	}
	// Skew: the busiest contact writes far more than the median one.
	var counts []int
	for _, s := range lastSeq {
		counts = append(counts, s)
	}
	hi, lo := 0, 1<<30
	for _, c := range counts {
		hi, lo = max(hi, c), min(lo, c)
	}
	if hi < 5*lo || hi < 20 {
		t.Fatalf("contacts not skewed: busiest %d, quietest %d", hi, lo)
	}
	t.Logf("%d requests: %d messages %v, %d statuses, %d batches, %d redeliveries, busiest contact %d, %d contacts", total, n, types, len(seenStatus), batches, redeliveries, hi, len(lastSeq))
}

func TestGenerateSingleProfile(t *testing.T) {
	g := NewGenerator(GenConfig{Profile: ProfileSingle, Seed: 3, Contacts: 10000, Rate: 5000})
	seen := map[string]bool{}
	for i := range 3000 {
		req, _ := g.Next()
		if len(req.Messages) != 1 || len(req.Statuses) != 0 || req.Redelivery || req.Messages[0].Type != whatsapp.TypeText {
			t.Fatalf("request %d is not a single text message: %+v", i, req)
		}
		if seen[req.Messages[0].WAMID] {
			t.Fatalf("duplicate wamid")
		}
		seen[req.Messages[0].WAMID] = true
		if want := time.Duration(i) * time.Second / 5000; req.At != want {
			t.Fatalf("fixed rate: request %d at %v, want %v", i, req.At, want)
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// Statuses name their recipient as Meta has since April 2026: with
// recipient_user_id whenever the contact has a user id (beside
// recipient_id when it has a number), so that a status has its contact's
// key and lands on its partition; legacy contacts (a number only) keep
// recipient_id alone.
func TestGenerateStatusesKeyedAsTheirContact(t *testing.T) {
	g := NewGenerator(genTestConfig())
	keyOf := map[string]string{} // each id of a contact seen in messages -> its key
	var both, legacy, userOnly int
	for i := range 5000 {
		req, _ := g.Next()
		events, err := event.ParseAndSplit(req.Body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			c := e.Contact
			switch e.Kind {
			case event.KindMessage:
				for _, id := range []string{c.WaID, c.UserID} {
					if id != "" {
						keyOf[id] = c.Key()
					}
				}
			case event.KindStatus:
				for _, id := range []string{c.WaID, c.UserID} {
					if k, ok := keyOf[id]; ok && k != c.Key() {
						t.Fatalf("request %d: status %s keyed %q, its contact's messages %q", i, e.ID, c.Key(), k)
					}
				}
				switch {
				case c.WaID != "" && c.UserID != "":
					both++
				case c.WaID != "":
					legacy++
				default:
					userOnly++
				}
			}
		}
	}
	if both == 0 || legacy == 0 || userOnly == 0 {
		t.Fatalf("statuses naming both ids %d, a number only %d, a user id only %d: want some of each", both, legacy, userOnly)
	}
	t.Logf("statuses naming both ids %d, a number only %d, a user id only %d", both, legacy, userOnly)
}
