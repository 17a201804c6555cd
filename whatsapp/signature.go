package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// SignatureHeader is the header in which Meta sends the body's signature.
const SignatureHeader = "X-Hub-Signature-256"

const signaturePrefix = "sha256="

// Sign returns the X-Hub-Signature-256 value for body: "sha256=" followed by
// the lowercase hex HMAC-SHA256 of the raw body bytes keyed with the app
// secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	var sum [sha256.Size]byte
	return signaturePrefix + hex.EncodeToString(mac.Sum(sum[:0]))
}

// Verify reports whether header is a valid X-Hub-Signature-256 of body
// under any of secrets (several during a secret rotation). body must be the
// raw bytes as received, never a re-encoding. The comparison is constant
// time. A missing or malformed header (wrong prefix, not 64 hex digits)
// fails, and so does an empty secret: an empty key would let anyone sign.
// A caller that checks many bodies under the same secrets uses a Verifier.
func Verify(header string, body []byte, secrets ...[]byte) bool {
	return NewVerifier(secrets...).Verify(header, body)
}

// A Verifier checks signatures as Verify does under a fixed set of
// secrets, keeping the keyed HMAC states between calls instead of keying
// a new one per body. It is safe for concurrent use.
type Verifier struct {
	macs []*sync.Pool // one per non-empty secret
}

// NewVerifier returns a Verifier for secrets; empty secrets are ignored.
func NewVerifier(secrets ...[]byte) *Verifier {
	v := &Verifier{}
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		key := append([]byte(nil), secret...)
		v.macs = append(v.macs, &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }})
	}
	return v
}

// Verify reports whether header is a valid X-Hub-Signature-256 of body
// under any of the Verifier's secrets.
func (v *Verifier) Verify(header string, body []byte) bool {
	if len(header) != len(signaturePrefix)+2*sha256.Size || header[:len(signaturePrefix)] != signaturePrefix {
		return false
	}
	var digits [2 * sha256.Size]byte
	copy(digits[:], header[len(signaturePrefix):])
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], digits[:]); err != nil {
		return false
	}
	ok := false
	var sum [sha256.Size]byte
	for _, pool := range v.macs {
		mac := pool.Get().(hash.Hash)
		mac.Reset()
		mac.Write(body)
		if hmac.Equal(mac.Sum(sum[:0]), want[:]) {
			ok = true
		}
		pool.Put(mac)
	}
	return ok
}

// MetaEscape rewrites encoding/json output the way Meta escapes the
// webhook bodies it signs: "/" as "\/" and every non-ASCII character as a
// \uXXXX escape (a UTF-16 surrogate pair above the BMP). Both only occur
// inside strings, so the JSON value is unchanged while the bytes (and so
// the signature) are Meta's.
func MetaEscape(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/16)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '/':
			out = append(out, '\\', '/')
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			i += size
			if r >= 0x10000 {
				r1, r2 := utf16.EncodeRune(r)
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
		}
	}
	return out
}
