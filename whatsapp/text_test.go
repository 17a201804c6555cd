package whatsapp

import (
	"bytes"
	"testing"
)

func TestStorableText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":"b"}`, `{"a":"b"}`},
		{`"é😀\u00e9\ud83d\ude00\n\"\\"`, `"é😀\u00e9\ud83d\ude00\n\"\\"`},
		{`"\u0000"`, `"\ufffd"`},
		{`"\\u0000"`, `"\\u0000"`}, // an escaped backslash, then text
		{`"\\\u0000"`, `"\\\ufffd"`},
		{`"\ud800"`, `"\ufffd"`},
		{`"\uDBFF\uDFFF"`, `"\uDBFF\uDFFF"`},
		{`"\udc00\ud800"`, `"\ufffd\ufffd"`},
		{`"\ud800\ud800\udc00"`, `"\ufffd\ud800\udc00"`},
		{`"\ud800\u0041"`, `"\ufffd\u0041"`},
		{`"\ud800\u00"`, `"\ufffd\u00"`},
		{"\"a\xffb\xc3\"", "\"a\uFFFDb\uFFFD\""},
		{"\xff{}", "\uFFFD{}"},
		{`\u0000 outside a string`, `\u0000 outside a string`},
		{`{"\u0000":"x"}`, `{"\ufffd":"x"}`},
		{`"\`, `"\`},
		{`"\u12`, `"\u12`},
		{"\"\\\xff\"", "\"\\\uFFFD\""},
		{`"a" "\u0000`, `"a" "\ufffd`},
	} {
		if got := storableText([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("storableText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	clean := []byte(`{"object":"whatsapp_business_account","a":"\u00e9\ud83d\ude00"}`)
	if got := storableText(clean); &got[0] != &clean[0] || !bytes.Equal(got, clean) {
		t.Error("a clean body was copied")
	}
}

// FuzzStorableTextFastPath: the shortcut for a body with no invalid byte
// and no \u escape gives what the full scan gives.
func FuzzStorableTextFastPath(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `"\u0000"`, "\"a\xffb\"", `"é"`, `"\\u0000"`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := storableText(b)
		want := storableTextScan(b)
		if !bytes.Equal(got, want) {
			t.Fatalf("storableText(%q) = %q, the full scan gives %q", b, got, want)
		}
	})
}
