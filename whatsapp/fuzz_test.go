package whatsapp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// corpusSeeds returns every JSON file of the conformance corpus (webhook
// bodies, send_api bodies and the signing vectors' bodies).
func corpusSeeds(f *testing.F) [][]byte {
	f.Helper()
	dir := whCorpus(f)
	var seeds [][]byte
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		seeds = append(seeds, b)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range signingVectors(f) {
		seeds = append(seeds, []byte(v.RawBody))
	}
	if len(seeds) == 0 {
		f.Fatalf("no seeds in %s", dir)
	}
	return seeds
}

// FuzzParse: no input panics; an accepted body splits into envelopes that
// each have an id, a kind, a key and survive JSON.
func FuzzParse(f *testing.F) {
	for _, s := range corpusSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{}],"statuses":[{}]}}]}]}`))
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"type":"interactive","interactive":[]}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		envs, err := ParseAndSplit(body, whReceivedAt)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotNotification) {
				t.Fatalf("error wraps neither sentinel: %v", err)
			}
			if envs != nil {
				t.Fatal("envelopes returned with an error")
			}
			return
		}
		for i := range envs {
			e := &envs[i]
			if e.Key() == "" || e.ID == "" || e.Version != EnvelopeVersion {
				t.Fatalf("envelope %d: key %q id %q version %d", i, e.Key(), e.ID, e.Version)
			}
			switch e.Kind {
			case KindMessage:
				if e.Message == nil || len(e.Message.Raw) == 0 {
					t.Fatalf("message envelope %d without message or raw", i)
				}
				_, _, _, _ = e.Message.Body(), e.Message.ReplyID(), e.Message.Opens(), e.Message.Time()
			case KindStatus:
				if e.Status == nil || len(e.Status.Raw) == 0 {
					t.Fatalf("status envelope %d without status or raw", i)
				}
				_, _ = e.Status.Rank(), e.Status.Time()
			case KindNotice:
				if len(e.Raw) == 0 {
					t.Fatalf("notice envelope %d without raw", i)
				}
			default:
				t.Fatalf("envelope %d: kind %q", i, e.Kind)
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("envelope %d does not marshal: %v", i, err)
			}
			var back Envelope
			if err := json.Unmarshal(b, &back); err != nil || back.ID != e.ID || back.Key() != e.Key() {
				t.Fatalf("envelope %d round trip: %v", i, err)
			}
		}
	})
}

// FuzzVerify: no input panics; a signature made with a secret verifies,
// and Verify never accepts a header that Sign would not produce.
func FuzzVerify(f *testing.F) {
	for _, v := range signingVectors(f) {
		h := v.Header
		if h == "" {
			h = v.ExpectedHeaderFromMeta
		}
		f.Add(h, []byte(v.RawBody), []byte(v.AppSecret))
	}
	for _, s := range corpusSeeds(f) {
		f.Add(Sign([]byte("test_app_secret"), s), s, []byte("test_app_secret"))
	}
	f.Add("", []byte{}, []byte{})
	f.Add("sha256=", []byte("x"), []byte("k"))
	f.Fuzz(func(t *testing.T, header string, body, secret []byte) {
		ok := Verify(header, body, secret)
		want := Sign(secret, body)
		if ok && len(secret) == 0 {
			t.Fatal("verified with an empty secret")
		}
		if ok && !equalFoldHex(header, want) {
			t.Fatalf("Verify accepted %q, Sign gives %q", header, want)
		}
		if len(secret) > 0 && !Verify(want, body, secret) {
			t.Fatal("own signature does not verify")
		}
		if len(secret) > 0 && !Verify(want, body, []byte("other"), secret) {
			t.Fatal("own signature does not verify as the second secret")
		}
	})
}

// equalFoldHex compares headers allowing upper-case hex digits.
func equalFoldHex(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'F' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
