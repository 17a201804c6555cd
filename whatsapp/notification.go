package whatsapp

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// walkNotification decodes a body that validJSON accepted into n, as
// json.Unmarshal would, by walking its outer structure (the object, its
// entries and their changes) once with the raw walkers of rawjson.go
// instead of a second, reflective pass of encoding/json over the whole
// body; each change value still goes to Value.UnmarshalJSON.
//
// It takes only the shapes it decodes exactly like encoding/json: ok is
// false, and n must be decoded again with json.Unmarshal, as soon as it
// meets anything else: a member it does not know (a field added to
// Notification, Entry or Change is then still decoded, by encoding/json),
// a member named twice, a member of an unexpected JSON type (null
// included), or a change value that fails to decode. Real notifications
// never take that path.
func walkNotification(body []byte, n *Notification) (ok bool) {
	_, ok = walkObject(body, skipSpace(body, 0), []member{
		{"object", walkInto(&n.Object)},
		{"entry", func(b []byte, i int) (int, bool) {
			return walkArray(b, i, &n.Entry, func(b []byte, i int, e *Entry) (int, bool) {
				return walkObject(b, i, []member{
					{"id", walkInto(&e.ID)},
					{"time", func(b []byte, i int) (int, bool) { return walkTime(b, i, &e.Time) }},
					{"changes", func(b []byte, i int) (int, bool) { return walkArray(b, i, &e.Changes, walkChange) }},
				})
			})
		}},
	})
	return ok
}

func walkChange(b []byte, i int, c *Change) (int, bool) {
	return walkObject(b, i, []member{
		{"field", walkInto(&c.Field)},
		{"value", func(b []byte, i int) (int, bool) {
			end, err := skipValue(b, i)
			if err != nil || b[i] != '{' || c.Value.UnmarshalJSON(b[i:end]) != nil {
				return 0, false
			}
			return end, true
		}},
	})
}

// member is a field walkObject decodes: its JSON name, and the function
// that decodes the value starting at b[i] and returns the index after it.
type member struct {
	name   string
	decode func(b []byte, i int) (end int, ok bool)
}

// walkObject decodes the object at b[i] member by member, matching names
// to fields as encoding/json does, and returns the index after it. It
// reports false when there is no object at b[i], or a member matches no
// field or a field already decoded, or a field's decode fails.
func walkObject(b []byte, i int, fields []member) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	var seen uint64
	for i = skipSpace(b, i+1); i < len(b) && b[i] != '}'; {
		end, err := skipString(b, i)
		if err != nil || b[i] != '"' {
			return 0, false
		}
		name := b[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			return 0, false // an escaped name: left to encoding/json
		}
		f := matchField(string(name), fields)
		if f < 0 || seen&(1<<f) != 0 {
			return 0, false
		}
		seen |= 1 << f
		if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		ok := false
		if i, ok = fields[f].decode(b, skipSpace(b, i+1)); !ok {
			return 0, false
		}
		i = nextItem(b, i)
	}
	return closed(b, i)
}

// nextItem returns the index of what follows the member or element that
// ended at b[i]: past the spaces, and the comma if there is one.
func nextItem(b []byte, i int) int {
	if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	return i
}

// closed returns the index after the closing bracket at b[i].
func closed(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	return i + 1, true
}

// matchField is the index of the field a member name selects (exactly,
// else case-folded), or -1.
func matchField(name string, fields []member) int {
	for f := range fields {
		if name == fields[f].name {
			return f
		}
	}
	for f := range fields {
		if memberIs(name, fields[f].name) {
			return f
		}
	}
	return -1
}

// walkArray decodes the array of objects at b[i] into *dst, one element
// by elem, and returns the index after it.
func walkArray[T any](b []byte, i int, dst *[]T, elem func(b []byte, i int, v *T) (int, bool)) (int, bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	out := []T{}
	for i = skipSpace(b, i+1); i < len(b) && b[i] != ']'; {
		if len(out) == cap(out) && len(out) >= growCounted {
			// Many elements: the rest are counted, and the slice grown
			// once to its size. Grown by doubling, it would cost twice
			// its size on the way (a body of "{}" entries: 5 times the
			// size TestHostileBodiesAllocate allows).
			n, ok := countItems(b, i)
			if !ok {
				return 0, false
			}
			out = slices.Grow(out, n)
		}
		out = append(out, *new(T))
		ok := false
		if i, ok = elem(b, i, &out[len(out)-1]); !ok {
			return 0, false
		}
		i = nextItem(b, i)
	}
	*dst = out
	return closed(b, i)
}

// growCounted is the number of elements after which walkArray counts the
// rest of an array instead of growing its slice by doubling: a
// notification has one entry of one change, or a few.
const growCounted = 8

// countItems counts the elements from b[i] to the end of their array,
// without decoding them.
func countItems(b []byte, i int) (int, bool) {
	n := 0
	_, ok := eachItem(b, i, func([]byte) bool { n++; return true })
	return n, ok
}

// eachItem calls fn with each element of an array from the one at b[i]
// (or its closing bracket) on, and returns the index of the closing
// bracket; false when an element is not a value or fn returned false.
func eachItem(b []byte, i int, fn func(item []byte) bool) (int, bool) {
	for i < len(b) && b[i] != ']' {
		end, err := skipValue(b, i)
		if err != nil || !fn(b[i:end]) {
			return 0, false
		}
		i = nextItem(b, end)
	}
	return i, i < len(b)
}

// walkString decodes the string at b[i] into *dst.
func walkString(b []byte, i int, dst *string) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	end, err := skipString(b, i)
	if err != nil {
		return 0, false
	}
	s := b[i+1 : end-1]
	if bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		*dst = string(s)
		return end, true
	}
	return end, json.Unmarshal(b[i:end], dst) == nil
}

// walkInto is the decode of a string member into *dst.
func walkInto(dst *string) func(b []byte, i int) (int, bool) {
	return func(b []byte, i int) (int, bool) { return walkString(b, i, dst) }
}

// walkBool decodes the literal true or false at b[i] into *dst.
func walkBool(b []byte, i int, dst *bool) (int, bool) {
	switch {
	case len(b)-i >= 4 && string(b[i:i+4]) == "true":
		*dst = true
		return i + 4, true
	case len(b)-i >= 5 && string(b[i:i+5]) == "false":
		*dst = false
		return i + 5, true
	}
	return 0, false
}

// walkBoolInto is the decode of a boolean member into *dst.
func walkBoolInto(dst *bool) func(b []byte, i int) (int, bool) {
	return func(b []byte, i int) (int, bool) { return walkBool(b, i, dst) }
}

// walkTime decodes the number or string at b[i] as encoding/json would:
// with UnixTime.UnmarshalJSON.
func walkTime(b []byte, i int, dst *UnixTime) (int, bool) {
	if i >= len(b) || (b[i] != '"' && b[i] != '-' && (b[i] < '0' || b[i] > '9')) {
		return 0, false // an object, array, literal: left to encoding/json
	}
	end, err := skipValue(b, i)
	if err != nil || dst.UnmarshalJSON(b[i:end]) != nil {
		return 0, false
	}
	return end, true
}
