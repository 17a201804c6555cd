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
// only valid during the call: it is usually a slice of b.
func objectMembers(b []byte, fn func(name, value []byte)) error {
	var unquoteErr error
	err := eachMember(b, func(quoted, value []byte) bool {
		name := quoted[1 : len(quoted)-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var unquoted string
			if unquoteErr = json.Unmarshal(quoted, &unquoted); unquoteErr != nil {
				return false
			}
			name = []byte(unquoted)
		}
		fn(name, value)
		return true
	})
	if unquoteErr != nil {
		return unquoteErr
	}
	return err
}

// eachMember calls fn with each member of the object b, its name as
// written (quotes and escapes included) and its value, until fn returns
// false.
func eachMember(b []byte, fn func(quoted, value []byte) bool) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errRawJSON
	}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != '}'; {
		end, err := skipString(b, i)
		if err != nil || b[i] != '"' {
			return errRawJSON
		}
		quoted := b[i:end]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errRawJSON
		}
		start := skipSpace(b, i+1)
		if i, err = skipValue(b, start); err != nil {
			return err
		}
		if !fn(quoted, b[start:i]) {
			return nil
		}
		if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	if i >= len(b) {
		return errRawJSON
	}
	return nil
}

// quotedNameIs reports whether the JSON string quoted (quotes included)
// names want as encoding/json matches names (case-folded), without
// allocating: escapes are decoded into a buffer on the stack. valid is
// false for an escape encoding/json would refuse.
func quotedNameIs(quoted []byte, want string) (is, valid bool) {
	s := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return strings.EqualFold(string(s), want), true
	}
	var buf [64]byte // the names it is asked about fit, folded (the Kelvin sign for k takes 3 bytes)
	out := buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out, i = append(out, c), i+1
		} else if r, ok := hexEscape(s[i:]); ok {
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := hexEscape(s[i:])
				if r = utf16.DecodeRune(r, r2); ok2 && r != utf8.RuneError {
					i += 6
				}
			}
			out = utf8.AppendRune(out, r)
		} else if b, ok := unescapeByte(s, i+1); ok {
			out, i = append(out, b), i+2
		} else {
			return false, false
		}
		if len(out) > len(buf)-utf8.UTFMax {
			return false, true // longer than any name it is asked about
		}
	}
	return bytes.EqualFold(out, []byte(want)), true
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
