package whatsapp

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wagw/wagw/wagwtest"
)

type signingVector struct {
	Name                   string `json:"name"`
	AppSecret              string `json:"app_secret"`
	RawBody                string `json:"raw_body_utf8"`
	Header                 string `json:"x_hub_signature_256"`
	HeaderOfThisBody       string `json:"x_hub_signature_256_of_this_body"`
	ExpectedHeaderFromMeta string `json:"expected_header_from_meta"`
}

func signingVectors(tb testing.TB) []signingVector {
	tb.Helper()
	var f struct {
		Vectors []signingVector `json:"vectors"`
	}
	if err := json.Unmarshal(wagwtest.ReadConformance(tb, "signing_vectors.json"), &f); err != nil {
		tb.Fatalf("signing_vectors.json: %v", err)
	}
	if len(f.Vectors) == 0 {
		tb.Fatal("signing_vectors.json has no vectors")
	}
	return f.Vectors
}

func TestSigningVectors(t *testing.T) {
	for _, v := range signingVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			secret, body := []byte(v.AppSecret), []byte(v.RawBody)
			switch {
			case v.Header != "":
				if got := Sign(secret, body); got != v.Header {
					t.Errorf("Sign = %s, want %s", got, v.Header)
				}
				if !Verify(v.Header, body, secret) {
					t.Error("vector does not verify")
				}
			case v.HeaderOfThisBody != "":
				// A re-serialised body: its own signature is what a
				// framework would compute, and Meta's header must not
				// verify it.
				if got := Sign(secret, body); got != v.HeaderOfThisBody {
					t.Errorf("Sign = %s, want %s", got, v.HeaderOfThisBody)
				}
				if Verify(v.ExpectedHeaderFromMeta, body, secret) {
					t.Error("Meta's header verifies a re-serialised body")
				}
			default:
				t.Fatalf("vector %s has no signature", v.Name)
			}
			// Any flipped byte of the body or of the signature fails.
			h := Sign(secret, body)
			for i := range body {
				mod := []byte(string(body))
				mod[i] ^= 0x01
				if Verify(h, mod, secret) {
					t.Fatalf("body with byte %d flipped verifies", i)
				}
			}
			for i := len("sha256="); i < len(h); i++ {
				mod := []byte(h)
				if mod[i] == '0' {
					mod[i] = '1'
				} else {
					mod[i] = '0'
				}
				if Verify(string(mod), body, secret) {
					t.Fatalf("signature with hex digit %d changed verifies", i)
				}
			}
		})
	}
}

// TestEscapedAndDecodedBodiesAreTheSameJSON: the two vectors that differ in
// signature carry the same notification, so only raw bytes can be verified.
func TestEscapedAndDecodedBodiesAreTheSameJSON(t *testing.T) {
	var escaped, decoded []byte
	for _, v := range signingVectors(t) {
		switch v.Name {
		case "escaped_unicode_as_sent":
			escaped = []byte(v.RawBody)
		case "decoded_reserialised_must_fail":
			decoded = []byte(v.RawBody)
		}
	}
	if escaped == nil || decoded == nil {
		t.Fatal("signing_vectors.json lacks the escaped/decoded pair")
	}
	a, b := split(t, escaped), split(t, decoded)
	if a[0].Message.Body() != b[0].Message.Body() || a[0].Contact != b[0].Contact {
		t.Fatalf("%q/%+v vs %q/%+v", a[0].Message.Body(), a[0].Contact, b[0].Message.Body(), b[0].Contact)
	}
	if want := "J'ai mangé des pâtes 👍 mail: a@b.com https://x.y/z"; a[0].Message.Body() != want || a[0].Contact.Name != "José" {
		t.Fatalf("body %q name %q", a[0].Message.Body(), a[0].Contact.Name)
	}
}

func TestVerifyRotation(t *testing.T) {
	body := wagwtest.ReadConformance(t, "meta_text_message.json")
	oldS, newS, other := []byte("old-secret"), []byte("new-secret"), []byte("other")
	hOld, hNew := Sign(oldS, body), Sign(newS, body)
	for _, tc := range []struct {
		name    string
		header  string
		secrets [][]byte
		want    bool
	}{
		{"old header, both secrets", hOld, [][]byte{newS, oldS}, true},
		{"new header, both secrets", hNew, [][]byte{newS, oldS}, true},
		{"new header, old secret only", hNew, [][]byte{oldS}, false},
		{"old header, unrelated secrets", hOld, [][]byte{other, newS}, false},
		{"no secrets", hOld, nil, false},
		{"empty secret skipped", Sign(nil, body), [][]byte{nil, {}}, false},
		{"empty secret next to a good one", hNew, [][]byte{{}, newS}, true},
	} {
		if got := Verify(tc.header, body, tc.secrets...); got != tc.want {
			t.Errorf("%s: Verify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestVerifyMalformedHeaders(t *testing.T) {
	secret := []byte("test_app_secret")
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	good := Sign(secret, body)
	hexPart := strings.TrimPrefix(good, "sha256=")
	if !Verify(good, body, secret) {
		t.Fatal("good header fails")
	}
	// Upper-case hex is the same digest; accepted.
	if !Verify("sha256="+strings.ToUpper(hexPart), body, secret) {
		t.Error("upper-case hex digits rejected")
	}
	for _, h := range []string{
		"",
		"sha256=",
		hexPart,                  // no prefix
		"sha1=" + hexPart,        // wrong algorithm
		"SHA256=" + hexPart,      // prefix is lower case
		"sha256:" + hexPart,      // wrong separator
		"sha256= " + hexPart[1:], // space
		" " + good,               // leading space
		good + " ",               // trailing space
		good + "\n",              // trailing newline
		good[:len(good)-1],       // 63 digits
		good + "0",               // 65 digits
		good + good[7:],          // two digests
		"sha256=" + strings.Repeat("z", 64),
		"sha256=" + hexPart[:62] + "g0",
		"sha256=" + strings.Repeat("0", 64),
		"sha256=" + hexPart + "," + hexPart,
	} {
		if Verify(h, body, secret) {
			t.Errorf("Verify(%q) = true", h)
		}
	}
	if Verify(good, body) {
		t.Error("Verify without secrets = true")
	}
}

func TestSignFormat(t *testing.T) {
	h := Sign([]byte("k"), []byte("body"))
	if !strings.HasPrefix(h, "sha256=") || len(h) != 7+64 || strings.ToLower(h) != h {
		t.Fatalf("Sign = %q", h)
	}
	if SignatureHeader != "X-Hub-Signature-256" {
		t.Fatal(SignatureHeader)
	}
}

func TestHandshake(t *testing.T) {
	for _, tc := range []struct {
		name                           string
		mode, token, challenge, verify string
		wantOK                         bool
		wantBody                       string
	}{
		{"ok", "subscribe", "tok", "1158201444", "tok", true, "1158201444"},
		{"challenge echoed raw", "subscribe", "tok", "a b&c<script>", "tok", true, "a b&c<script>"},
		{"empty challenge", "subscribe", "tok", "", "tok", true, ""},
		{"wrong token", "subscribe", "nope", "1", "tok", false, ""},
		{"token prefix", "subscribe", "to", "1", "tok", false, ""},
		{"token longer", "subscribe", "tok2", "1", "tok", false, ""},
		{"token case", "subscribe", "TOK", "1", "tok", false, ""},
		{"missing token", "subscribe", "", "1", "tok", false, ""},
		{"wrong mode", "unsubscribe", "tok", "1", "tok", false, ""},
		{"mode case", "Subscribe", "tok", "1", "tok", false, ""},
		{"missing mode", "", "tok", "1", "tok", false, ""},
		{"no configured token", "subscribe", "", "1", "", false, ""},
		{"no configured token, some token", "subscribe", "x", "1", "", false, ""},
	} {
		body, ok := Handshake(tc.mode, tc.token, tc.challenge, tc.verify)
		if ok != tc.wantOK || body != tc.wantBody {
			t.Errorf("%s: Handshake = %q, %v; want %q, %v", tc.name, body, ok, tc.wantBody, tc.wantOK)
		}
	}
}

// TestMetaEscape: the bytes are Meta's, the JSON value is unchanged.
func TestMetaEscape(t *testing.T) {
	in, _ := json.Marshal(map[string]string{"t": "José/👍"})
	out := MetaEscape(in)
	if want := `{"t":"Jos\u00e9\/\ud83d\udc4d"}`; string(out) != want {
		t.Errorf("got %s want %s", out, want)
	}
	var v map[string]string
	if err := json.Unmarshal(out, &v); err != nil || v["t"] != "José/👍" {
		t.Errorf("escaped JSON decodes to %v (%v)", v, err)
	}
}

// TestVerifierReusesItsStates: a Verifier's pooled HMAC states give the
// same answers as fresh ones, call after call and from many goroutines at
// once (run with -race), whatever the previous body was; it keeps its own
// copy of the secrets.
func TestVerifierReusesItsStates(t *testing.T) {
	old, cur := []byte("old-secret"), []byte("current-secret")
	v := NewVerifier(nil, old, cur)
	bodies := [][]byte{[]byte(`{"a":1}`), []byte(strings.Repeat("x", 300)), {}}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				body := bodies[(g+i)%len(bodies)]
				other := bodies[(g+i+1)%len(bodies)]
				if !v.Verify(Sign(cur, body), body) || !v.Verify(Sign(old, body), body) {
					t.Error("a body signed with one of the secrets did not verify")
					return
				}
				if v.Verify(Sign(cur, other), body) || v.Verify(Sign([]byte("x"), body), body) {
					t.Error("a wrong signature verified")
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	copy(cur, "CURRENT-SECRET")
	if !v.Verify(Sign([]byte("current-secret"), bodies[0]), bodies[0]) {
		t.Error("the Verifier follows its caller's slice instead of keeping the secret")
	}
	if NewVerifier(nil, []byte{}).Verify(Sign(nil, bodies[0]), bodies[0]) {
		t.Error("an empty secret verified")
	}
}
