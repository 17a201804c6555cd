package whatsapp

import "encoding/json"

// A change value of the common shapes is decoded in two passes instead of
// the three of the member-by-member decode (cut the members out, cut each
// array's elements out, decode each item): scanValue skips through it
// without allocating, checks that walkValue can take all of it and counts
// each array's items; walkValue then decodes it into slices of their
// exact size, each item by its walker or, when that declines, by lenient,
// as decodeItems does. Nothing walkValue decodes is thrown away, so a
// hostile value costs what the member-by-member decode would
// (TestHostileBodiesAllocate). Any other value goes to the
// member-by-member decode of Value.UnmarshalJSON; FuzzValueMatchesReference
// holds the two to the same result.

// valueCounts are the items of a change value's arrays.
type valueCounts struct {
	contacts, messages, statuses int
	contactsBytes                int // the contacts array's size, for sparse
}

// scanValue reports whether walkValue takes the value raw: an object
// whose members are its product and event (strings), metadata (an
// object), contacts, messages and statuses (arrays of objects), each at
// most once and matched as encoding/json matches names, and nothing else.
// It counts the arrays' items.
func scanValue(raw []byte) (c valueCounts, ok bool) {
	end, ok := walkObject(raw, skipSpace(raw, 0), []member{
		{"messaging_product", skipKind('"')}, {"event", skipKind('"')}, {"metadata", skipKind('{')},
		{"contacts", func(b []byte, i int) (int, bool) {
			end, ok := countObjects(&c.contacts)(b, i)
			c.contactsBytes = end - i
			return end, ok
		}}, {"messages", countObjects(&c.messages)},
		{"statuses", countObjects(&c.statuses)},
	})
	return c, ok && skipSpace(raw, end) == len(raw)
}

// walkValue decodes the change value raw, which is v.Raw (so that the
// items' Raw are slices of it), when scanValue takes it, and reports
// whether it did: false before anything is decoded when scanValue
// declines, and when lenient fails on an item (the member-by-member
// decode then reports the error).
func walkValue(raw []byte, v *Value) bool {
	c, ok := scanValue(raw)
	if !ok {
		return false
	}
	end, ok := walkObject(raw, skipSpace(raw, 0), []member{
		{"messaging_product", walkInto(&v.MessagingProduct)}, {"event", walkInto(&v.Event)},
		{"metadata", func(b []byte, i int) (int, bool) {
			v.Metadata = new(Metadata)
			return walkOrLenient(b, i, v.Metadata, walkMetadataAt)
		}},
		{"contacts", func(b []byte, i int) (int, bool) {
			end := i + c.contactsBytes
			var err error
			v.Contacts, err = decodeCounted(v, b[i:end], c.contacts, "contacts", nil, walkContact)
			return end, err == nil
		}},
		{"messages", func(b []byte, i int) (int, bool) {
			return walkItems(b, i, c.messages, &v.Messages, walkMessageAt, func(m *Message) *json.RawMessage { return &m.Raw })
		}},
		{"statuses", func(b []byte, i int) (int, bool) {
			return walkItems(b, i, c.statuses, &v.Statuses, walkStatusAt, func(s *Status) *json.RawMessage { return &s.Raw })
		}},
	})
	return ok && skipSpace(raw, end) == len(raw)
}

// walkItems decodes the array of n objects at b[i] into *dst, nil when
// empty (as decodeArray), each item by walkOrLenient, and keeps each
// item's bytes in the field raw names, when raw is not nil.
func walkItems[T any](b []byte, i, n int, dst *[]T, walk func(b []byte, i int, v *T) (int, bool), raw func(*T) *json.RawMessage) (int, bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	var out []T
	if n > 0 {
		out = make([]T, n)
	}
	k := 0
	for i = skipSpace(b, i+1); i < len(b) && b[i] != ']'; k++ {
		if k == n {
			return 0, false // more items than scanValue counted: not the same bytes
		}
		end, ok := walkOrLenient(b, i, &out[k], walk)
		if !ok {
			return 0, false
		}
		if raw != nil {
			*raw(&out[k]) = b[i:end]
		}
		i = nextItem(b, end)
	}
	if k != n {
		return 0, false
	}
	*dst = out
	return closed(b, i)
}

// walkOrLenient decodes the object at b[i] into *v by walk or, when walk
// declines, by lenient from a zero value, and returns the index after it.
func walkOrLenient[T any](b []byte, i int, v *T, walk func(b []byte, i int, v *T) (int, bool)) (int, bool) {
	if end, ok := walk(b, i, v); ok {
		return end, true
	}
	end, err := skipValue(b, i)
	if err != nil {
		return 0, false
	}
	*v = *new(T)
	return end, lenientItem(b[i:end], v) == nil
}

// skipKind skips the value at b[i] if it starts with first.
func skipKind(first byte) func(b []byte, i int) (int, bool) {
	return func(b []byte, i int) (int, bool) {
		if i >= len(b) || b[i] != first {
			return 0, false
		}
		end, err := skipValue(b, i)
		return end, err == nil
	}
}

// countObjects skips the array at b[i] if each of its elements is an
// object, counting them into *n.
func countObjects(n *int) func(b []byte, i int) (int, bool) {
	return func(b []byte, i int) (int, bool) {
		if i >= len(b) || b[i] != '[' {
			return 0, false
		}
		i, ok := eachItem(b, skipSpace(b, i+1), func(item []byte) bool { *n++; return item[0] == '{' })
		if !ok {
			return 0, false
		}
		return closed(b, i)
	}
}
