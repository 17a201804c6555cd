package event

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wagw/wagw/wagwtest"
	"github.com/wagw/wagw/whatsapp"
)

// BenchmarkVerifyParseSplit measures what the gateway does per POST: verify
// the signature over the raw body, parse it and split it into envelopes.
func BenchmarkVerifyParseSplit(b *testing.B) {
	secret := []byte("bench-app-secret")
	now := time.Unix(1749416400, 0).UTC()
	cases := []struct {
		name string
		body []byte
		envs int
	}{
		{"typical", wagwtest.ReadConformance(b, "meta_text_message.json"), 1},
		{"batch100", batchBody(b, 100, 20), 100},
	}
	for _, c := range cases {
		header := whatsapp.Sign(secret, c.body)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				if !whatsapp.Verify(header, c.body, secret) {
					b.Fatal("signature")
				}
				envs, err := ParseAndSplit(c.body, now)
				if err != nil || len(envs) != c.envs {
					b.Fatalf("%d envelopes, %v", len(envs), err)
				}
			}
		})
	}
}

// batchBody builds one notification of n text messages from the given
// number of contacts, as Meta batches them.
func batchBody(tb testing.TB, n, contacts int) []byte {
	tb.Helper()
	type obj = map[string]any
	var cs, ms []obj
	for i := range contacts {
		cs = append(cs, obj{
			"profile": obj{"name": fmt.Sprintf("Contact %d", i)},
			"wa_id":   fmt.Sprintf("1650555%04d", i),
			"user_id": fmt.Sprintf("US.%020d", i),
		})
	}
	for i := range n {
		c := i % contacts
		ms = append(ms, obj{
			"from":         fmt.Sprintf("1650555%04d", c),
			"from_user_id": fmt.Sprintf("US.%020d", c),
			"id":           fmt.Sprintf("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEw%06d=", i),
			"timestamp":    fmt.Sprint(1749416383 + i),
			"type":         "text",
			"text":         obj{"body": fmt.Sprintf("message %d: does it come in another color?", i)},
		})
	}
	body, err := json.Marshal(obj{
		"object": "whatsapp_business_account",
		"entry": []obj{{
			"id": "102290129340398",
			"changes": []obj{{
				"field": "messages",
				"value": obj{
					"messaging_product": "whatsapp",
					"metadata":          obj{"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
					"contacts":          cs,
					"messages":          ms,
				},
			}},
		}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}
