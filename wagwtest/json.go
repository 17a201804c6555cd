package wagwtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// SameJSON compares two JSON texts by value, numbers by their text; two
// empty texts are the same.
func SameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	x, errA := decodeNumbers(a)
	y, errB := decodeNumbers(b)
	return errA == nil && errB == nil && reflect.DeepEqual(x, y)
}

func decodeNumbers(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// escapeRE matches a run of backslashes followed by u and four hex digits;
// the run's length says whether the last backslash starts an escape.
var escapeRE = regexp.MustCompile(`(\\+)u([0-9a-fA-F]{4})`)

// StorableJSON reports text in b that Postgres refuses in text and jsonb:
// invalid UTF-8, and the escapes \u0000 and unpaired surrogate halves.
func StorableJSON(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("encoding is not UTF-8")
	}
	ms := escapeRE.FindAllSubmatchIndex(b, -1)
	for k, m := range ms {
		if (m[3]-m[2])%2 == 0 {
			continue // an escaped backslash followed by the letter u
		}
		r, _ := strconv.ParseUint(string(b[m[4]:m[5]]), 16, 32)
		switch {
		case r == 0:
			return errors.New("encoding has \\u0000")
		case 0xD800 <= r && r < 0xDC00:
			if k+1 < len(ms) && ms[k+1][0] == m[1] && ms[k+1][3]-ms[k+1][2] == 1 {
				if lo, _ := strconv.ParseUint(string(b[ms[k+1][4]:ms[k+1][5]]), 16, 32); 0xDC00 <= lo && lo < 0xE000 {
					continue
				}
			}
			return fmt.Errorf("encoding has a lone high surrogate at %d", m[0])
		case 0xDC00 <= r && r < 0xE000:
			if k > 0 && ms[k-1][1] == m[0] {
				if hi, _ := strconv.ParseUint(string(b[ms[k-1][4]:ms[k-1][5]]), 16, 32); 0xD800 <= hi && hi < 0xDC00 {
					continue
				}
			}
			return fmt.Errorf("encoding has a lone low surrogate at %d", m[0])
		}
	}
	return nil
}
