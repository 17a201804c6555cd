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

// sparseBytes is what an array inside an item may cost decoded for each of
// its bytes (sparseCharge) before it is left out. Less than the 16 of
// TestHostileBodiesAllocate's bound: arrays nest, and the item costs its
// own fields too. Two shared contacts of a name alone,
// [{"name":{"formatted_name":"Ana"}},{"name":{"formatted_name":"Bo"}}],
// cost 10.2 bytes per byte (at 8 they were left out).
const sparseBytes = 12

// typedArray is an array sparseSpans is in that a typed field decodes.
type typedArray struct {
	start, level, n, cost int // where it starts, its depth, its elements so far, one element's size
	nested                int // what the typed arrays kept inside it cost
}

// sparseSpans returns where the arrays of raw (valid JSON) that would cost
// more than sparseBytes per byte decoded are, outermost only, in order. An
// array's elements cost their type's size (sparseCost of the member that
// holds it) and their place in a list, 24 bytes, and the typed arrays it
// holds that are kept cost it what they cost (shared contacts of three
// phones each, each level just dense enough on its own, cost 1.02 to 1.04
// times TestHostileBodiesAllocate's bound when each level was measured alone
// on the same bytes); and encoding/json grows
// the slice one element at a time: the slices it leaves behind add up to
// about the final one up to 256 elements (doubling), to 4 times it beyond
// (a quarter more each time). One pass, without recursion, at any depth
// (an edited message holds a message: typed arrays nest without end); it
// keeps a byte for each level it is in and a frame for each typed array.
func sparseSpans(raw []byte) [][2]int {
	var kindsBuf [64]byte // '[' or '{' for each level
	var arraysBuf [8]typedArray
	kinds, arrays := kindsBuf[:0], arraysBuf[:0]
	var spans [][2]int
	expectKey := false // the next string in an object is a member name
	cost := 0          // the element size of an array that starts as the last member's value
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch c {
		case ' ', '\t', '\n', '\r', ':':
			continue
		case ',':
			expectKey = len(kinds) > 0 && kinds[len(kinds)-1] == '{'
			continue
		case ']', '}':
			if len(kinds) == 0 {
				return nil // not valid JSON: lenient will say so
			}
			kinds, expectKey = kinds[:len(kinds)-1], false
			if k := len(arrays) - 1; k >= 0 && arrays[k].level == len(kinds) {
				a := arrays[k]
				arrays = arrays[:k]
				charge := sparseCharge(a.n, a.cost) + a.nested
				switch {
				case charge > sparseBytes*(i+1-a.start):
					for len(spans) > 0 && spans[len(spans)-1][0] > a.start {
						spans = spans[:len(spans)-1] // inside this one
					}
					spans = append(spans, [2]int{a.start, i + 1})
				case k > 0:
					arrays[k-1].nested += charge // on the same bytes
				}
			}
			continue
		}
		if expectKey { // a member name
			end, err := skipString(raw, i)
			if err != nil {
				return nil
			}
			cost, expectKey, i = sparseCost(raw[i+1:end-1]), false, end-1
			continue
		}
		if k := len(arrays) - 1; k >= 0 && arrays[k].level == len(kinds)-1 {
			arrays[k].n++ // an element of the innermost array, a typed one
		}
		inObject := len(kinds) > 0 && kinds[len(kinds)-1] == '{'
		switch c {
		case '[':
			if inObject && cost > 0 {
				arrays = append(arrays, typedArray{start: i, level: len(kinds), cost: cost})
			}
			kinds = append(kinds, c)
		case '{':
			kinds, expectKey = append(kinds, c), true
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

// sparseCharge is what n elements of size bytes cost decoded: their
// places in a list, and the elements of every slice encoding/json made on
// the way (sparseSpans): 2n-1 of them while it doubles (up to 256), then
// about 5n.
func sparseCharge(n, size int) int {
	elems := 2*n - 1
	if n > 256 {
		elems = 5 * n
	}
	return elems*size + 24*n
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
