package whatsapp

// maxNesting is encoding/json's limit on nested arrays and objects: a
// value nested deeper is not valid JSON to it.
const maxNesting = 10000

// validJSON reports exactly what encoding/json.Valid reports
// (FuzzValidJSON compares the two), faster (BenchmarkValidJSON): the body
// of every webhook is checked once. encoding/json's scanner calls a
// function per byte; segmentio/encoding's Valid, used before, recursed
// once per level (so the nesting had to be counted first) and checked
// every string with an AVX2 routine that runs slower than encoding/json
// itself on some Intel machines. This is one loop over the bytes, with
// the open arrays and objects kept as bits.
func validJSON(b []byte) bool {
	var objects [maxNesting/64 + 1]uint64 // bit d-1: the container at depth d is an object
	depth := 0
	i := skipSpace(b, 0)
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth == maxNesting {
				return false
			}
			word, bit := depth/64, uint64(1)<<(depth%64)
			depth++
			if c == '{' {
				objects[word] |= bit
			} else {
				objects[word] &^= bit
			}
			i = skipSpace(b, i+1)
			if i < len(b) && (b[i] == '}' && c == '{' || b[i] == ']' && c == '[') {
				depth-- // empty: a value ended
				i++
				break
			}
			if c == '{' {
				if i = memberName(b, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			i = stringEnd(b, i)
		case 't':
			i = literalEnd(b, i, "true")
		case 'f':
			i = literalEnd(b, i, "false")
		case 'n':
			i = literalEnd(b, i, "null")
		default:
			i = numberEnd(b, i)
		}
		if i < 0 {
			return false
		}
		// After a value: close what it ends, or go on to the next value.
		for {
			i = skipSpace(b, i)
			if depth == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			object := objects[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if object {
					if i = memberName(b, i); i < 0 {
						return false
					}
				}
			case '}', ']':
				if object != (b[i] == '}') {
					return false
				}
				depth--
				i++
				continue
			default:
				return false
			}
			break
		}
	}
}

// memberName checks the member name and colon at b[i] and returns the
// index of the member's value, or -1.
func memberName(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = stringEnd(b, i); i < 0 {
		return -1
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// stringEnd returns the index after the string that starts at b[i] (a
// quote), or -1: control characters must be escaped, an escape is one of
// JSON's, and \u takes four hex digits. Other bytes, invalid UTF-8 too,
// are taken, as encoding/json takes them.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if i++; i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// numberEnd returns the index after the number that starts at b[i], or
// -1: an optional minus, 0 or digits not starting with 0, then an
// optional fraction and exponent, each with at least one digit.
func numberEnd(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digitsEnd(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i = digitsEnd(b, i+1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digitsEnd(b, i); i < 0 {
			return -1
		}
	}
	return i
}

// digitsEnd returns the index after the digits at b[i]; -1 when there
// are none.
func digitsEnd(b []byte, i int) int {
	start := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// literalEnd returns the index after lit at b[i], or -1.
func literalEnd(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}
