package whatsapp

import (
	"bytes"

	segjson "github.com/segmentio/encoding/json"
)

// maxNesting is encoding/json's limit on nested arrays and objects: a
// value nested deeper is not valid JSON to it.
const maxNesting = 10000

// validJSON reports exactly what encoding/json.Valid reports, faster
// (BenchmarkValidJSON): the body of every webhook is checked once, and
// encoding/json's scanner (a function call per byte) was a sixth of the
// handler's CPU. segmentio/encoding's Valid accepts the same texts but
// has no nesting limit and recurses once per level, so the nesting is
// checked first: by counting the opening brackets (a body with no more
// than the limit cannot nest deeper), else by a scan that only looks at
// brackets and strings. FuzzValidJSON compares the two.
func validJSON(b []byte) bool {
	opens := bytes.Count(b, []byte("[")) + bytes.Count(b, []byte("{"))
	return (opens <= maxNesting || nestedWithin(b, maxNesting)) && segjson.Valid(b)
}

// nestedWithin reports whether no array or object of b lies more than
// limit levels deep. It does not validate: brackets inside strings are skipped,
// anything else is only counted. An unterminated string is invalid JSON,
// so it reports false.
func nestedWithin(b []byte, limit int) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, err := skipString(b, i)
			if err != nil {
				return false
			}
			i = end - 1
		case '[', '{':
			if depth++; depth > limit {
				return false
			}
		case ']', '}':
			depth--
		}
	}
	return true
}
