package whatsapp

import (
	"bytes"
	"unicode/utf8"
)

// storableText returns body with every piece of text that JSON readers or
// Postgres (text and jsonb) refuse replaced by U+FFFD: bytes that are not
// UTF-8 (one U+FFFD each, as encoding/json decodes them), and inside JSON
// strings the escapes \u0000 and lone surrogate halves (\ud800 without its
// low half, or a low half alone). Everything else, escapes included, is
// kept byte for byte. It returns body itself, not a copy, when there is
// nothing to replace. Bodies that are not JSON stay invalid JSON.
func storableText(body []byte) []byte {
	if utf8.Valid(body) && bytes.Index(body, []byte(`\u`)) < 0 {
		return body // no invalid byte, and no \u escape that could be bad
	}
	return storableTextScan(body)
}

// storableTextScan is storableText's byte-by-byte scan.
func storableTextScan(body []byte) []byte {
	var out []byte // nil until the first replacement
	last := 0      // body[last:i] is not yet copied to out
	replace := func(i, n int) {
		out = append(append(out, body[last:i]...), "\\ufffd"...)
		last = i + n
	}
	inString := false
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n == 1 {
				out = append(append(out, body[last:i]...), "\uFFFD"...)
				last = i + 1
			}
			i += n
		case c == '"':
			inString = !inString
			i++
		case c == '\\' && inString:
			n, bad := escapeLen(body[i:])
			if bad {
				replace(i, n)
			}
			i += n
		default:
			i++
		}
	}
	if out == nil {
		return body
	}
	return append(out, body[last:]...)
}

// escapeLen returns the length of the escape sequence b starts with (b[0]
// is a backslash inside a string) and whether it names U+0000 or a lone
// surrogate half. A valid surrogate pair counts as one 12-byte escape.
func escapeLen(b []byte) (n int, bad bool) {
	if len(b) < 2 || b[1] >= utf8.RuneSelf {
		return 1, false // truncated or not an escape: the decoder refuses it
	}
	r, ok := hexEscape(b)
	if !ok {
		return 2, false
	}
	switch {
	case r == 0:
		return 6, true
	case 0xD800 <= r && r < 0xDC00:
		if low, ok := hexEscape(b[6:]); ok && 0xDC00 <= low && low < 0xE000 {
			return 12, false
		}
		return 6, true
	case 0xDC00 <= r && r < 0xE000:
		return 6, true
	}
	return 6, false
}

// hexEscape decodes a \uXXXX escape at the start of b.
func hexEscape(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
