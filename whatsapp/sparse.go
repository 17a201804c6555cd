package whatsapp

import (
	"bytes"
	"unsafe"
)

// A message or a status holds arrays of its own (errors, shared contacts
// and their phones, emails, addresses and links, order items), decoded by
// encoding/json. An array of tiny elements ("{}", or 1) costs a typed item
// for each (a shared contact is 216 bytes): a message of 10,000 empty
// shared contacts allocated 5.8 times TestHostileBodiesAllocate's bound.
// lenientItem decodes such an item from a copy in which those arrays are
// empty; the item's Raw keeps them, so nothing is lost. The typed result
// never holds a sparse array, so an envelope's typed message decodes to
// what was encoded (a rule applied again at that decode could find the
// typed encoding sparser than the bytes Meta sent, and drop what the
// gateway kept).

// sparseDepth is how deep sparseSpans looks: a message's deepest typed
// array (a shared contact's phones) is at depth 4, in an array of message
// echoes at depth 5. Deeper values are skipped whole.
const sparseDepth = 8

// lenientItem decodes an item (a message, a status, a message echo, or an
// array of them) as lenient does, without its sparse arrays.
func lenientItem(raw []byte, dst any) error {
	return lenient(withoutSparse(raw), dst)
}

// withoutSparse returns raw, or a copy of it with every sparse array
// (sparseSpans) written as [].
func withoutSparse(raw []byte) []byte {
	spans := sparseSpans(raw)
	if len(spans) == 0 {
		return raw
	}
	out := make([]byte, 0, len(raw))
	last := 0
	for _, s := range spans {
		out = append(out, raw[last:s[0]]...)
		out = append(out, "[]"...)
		last = s[1]
	}
	return append(out, raw[last:]...)
}

// sparseFrame is an array or an object sparseSpans is in.
type sparseFrame struct {
	start, n int    // where it starts; an array's elements so far
	cost     int    // an array's typed element, in bytes; 0: not decoded
	array    bool   // an array, else an object
	next     bool   // an element (array) or a member name (object) comes next
	key      []byte // an object's last member name
}

// sparseSpans returns where the arrays of raw (valid JSON) that would cost
// more than 8 bytes typed per byte are, outermost only, in order. An
// array's elements cost their type's size (sparseCost of the member that
// holds it) and a place in the slice header's array, 24 bytes: encoding/json
// grows the slice as it goes. One pass, no recursion, nothing allocated
// unless a sparse array is found.
func sparseSpans(raw []byte) [][2]int {
	var stack [sparseDepth]sparseFrame
	depth := 0
	var spans [][2]int
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case ' ', '\t', '\n', '\r', ':':
			continue
		case ',':
			if depth > 0 {
				stack[depth-1].next = true
			}
			continue
		case ']', '}':
			if depth == 0 {
				return nil // not valid JSON: lenient will say so
			}
			depth--
			if f := &stack[depth]; f.array && f.cost > 0 && f.n*(f.cost+24) > 8*(i+1-f.start) {
				for len(spans) > 0 && spans[len(spans)-1][0] > f.start {
					spans = spans[:len(spans)-1] // inside this one
				}
				spans = append(spans, [2]int{f.start, i + 1})
			}
			continue
		}
		cost := 0
		if depth > 0 {
			top := &stack[depth-1]
			if !top.array && top.next { // a member name
				end, err := skipString(raw, i)
				if err != nil {
					return nil
				}
				top.key, top.next, i = raw[i+1:end-1], false, end-1
				continue
			}
			if top.array && top.next {
				top.n++
				top.next = false
			}
			if !top.array {
				cost = sparseCost(top.key)
			}
		}
		switch {
		case (c == '[' || c == '{') && depth < sparseDepth:
			stack[depth] = sparseFrame{start: i, array: c == '[', next: true, cost: cost}
			if c == '[' {
				// "[]": no element; next is cleared by the first one.
				stack[depth].next = skipSpace(raw, i+1) < len(raw) && raw[skipSpace(raw, i+1)] != ']'
			}
			depth++
		default:
			end, err := skipValue(raw, i)
			if err != nil {
				return nil
			}
			i = end - 1
		}
	}
	return spans
}

// sparseCost is the size of a typed element of the array a member of that
// name holds in a message or a status (encoding/json matches names
// case-folded), 0 when none is decoded. A name with an escape could be
// any of them: it costs the most.
func sparseCost(name []byte) int {
	items := [...]struct {
		name string
		size uintptr
	}{
		{"contacts", unsafe.Sizeof(SharedContact{})}, {"errors", unsafe.Sizeof(ErrorDetail{})},
		{"phones", unsafe.Sizeof(ContactPhone{})}, {"emails", unsafe.Sizeof(ContactEmail{})},
		{"addresses", unsafe.Sizeof(ContactAddress{})}, {"urls", unsafe.Sizeof(ContactURL{})},
		{"product_items", unsafe.Sizeof(OrderItem{})},
	}
	most := 0
	escaped := bytes.IndexByte(name, '\\') >= 0
	for _, it := range items {
		if escaped {
			most = max(most, int(it.size))
		} else if bytes.EqualFold(name, []byte(it.name)) {
			return int(it.size)
		}
	}
	return most
}
