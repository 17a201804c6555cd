package whatsapp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The functions here walk JSON that encoding/json has already validated
// (the bytes an UnmarshalJSON method is given), so that a change value is
// cut into its members and array elements in one light pass instead of a
// second full decode. They still check every index they use: input that
// is not valid JSON gives an error, never a panic.

var errRawJSON = errors.New("whatsapp: unexpected JSON")

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] ('"').
// It looks for each quote with bytes.IndexByte, which is much faster than
// a loop over the bytes of a long text; a quote ends the string when an
// even number of backslashes precede it.
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			break
		}
		end, n := i+k, 0
		for p := end - 1; p >= i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return end + 1, nil
		}
		i = end + 1
	}
	return 0, errRawJSON
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errRawJSON
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errRawJSON
	}
	start := i
	for ; i < len(b); i++ { // number, true, false, null
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == start { // no value: a closing bracket or a space where one belongs
				return 0, errRawJSON
			}
			return i, nil
		}
	}
	return i, nil
}

// objectMembers calls fn with the name (unquoted as encoding/json does)
// and the raw value of each member of the object b, in order. name is
// only valid during the call: it is a slice of b, or of a buffer the
// names with escapes are decoded into one after another (when each was
// unquoted by encoding/json, 10,000 handover elements of three escaped
// names each cost 0.94 times TestHostileBodiesAllocate's bound).
func objectMembers(b []byte, fn func(name, value []byte)) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errRawJSON
	}
	var buf []byte // made at the first name with an escape, then reused
	for i = skipSpace(b, i+1); i < len(b) && b[i] != '}'; {
		end, err := skipString(b, i)
		if err != nil || b[i] != '"' {
			return errRawJSON
		}
		name := b[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			if buf == nil {
				buf = make([]byte, 0, 64) // names are short
			}
			var ok bool
			if buf, ok = appendUnescaped(buf[:0], name); !ok {
				return errRawJSON
			}
			name = buf
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errRawJSON
		}
		start := skipSpace(b, i+1)
		if i, err = skipValue(b, start); err != nil {
			return err
		}
		fn(name, b[start:i])
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	if i >= len(b) {
		return errRawJSON
	}
	return nil
}

// appendUnescaped appends the JSON string body s (without its quotes)
// decoded to dst, as encoding/json decodes it (escapes, surrogate pairs,
// a lone surrogate as U+FFFD), except that bytes that are not UTF-8 are
// kept as they are where encoding/json writes U+FFFD: the names it
// decodes are only matched, case-folded, against names that hold none.
// ok is false for an escape encoding/json refuses.
func appendUnescaped(dst, s []byte) (out []byte, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst, i = append(dst, c), i+1
		} else if r, ok := hexEscape(s[i:]); ok {
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := hexEscape(s[i:])
				if r = utf16.DecodeRune(r, r2); ok2 && r != utf8.RuneError {
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		} else if b, ok := unescapeByte(s, i+1); ok {
			dst, i = append(dst, b), i+2
		} else {
			return dst, false
		}
	}
	return dst, true
}

// unescapeByte is the byte the one-letter JSON escape whose letter is
// s[i] stands for.
func unescapeByte(s []byte, i int) (byte, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch c := s[i]; c {
	case '"', '\\', '/':
		return c, true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// arrayElements returns the raw elements of the array b; nil for null.
func arrayElements(b []byte) ([]json.RawMessage, error) {
	i := skipSpace(b, 0)
	if bytes.Equal(b[i:], []byte("null")) {
		return nil, nil
	}
	if i >= len(b) || b[i] != '[' {
		return nil, errNotArray
	}
	out := []json.RawMessage{}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != ']'; {
		start := i
		end, err := skipValue(b, start)
		if err != nil {
			return nil, err
		}
		out = append(out, b[start:end])
		if i = skipSpace(b, end); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	if i >= len(b) {
		return nil, errRawJSON
	}
	return out, nil
}

var errNotArray = errors.New("not an array")

// memberIs reports whether a member name selects the field of JSON name
// field the way encoding/json matches them: exactly, else case-folded.
func memberIs(name, field string) bool { return name == field || strings.EqualFold(name, field) }
