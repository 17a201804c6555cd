package db

import (
	"database/sql"
	"database/sql/driver"
	"strconv"
	"strings"
)

// Array parameters of the apply engine's bulk statements, written as the
// text literal Postgres reads ({"a","b\"c",NULL}) into one buffer sized
// before it is written. pq.Array grows its buffer as it goes and copies it
// once more at the end, and for slices of sql.NullString or
// sql.NullInt64 it reflects on every element; a batch sends a dozen such
// arrays of its rows (the messages insert alone ten), and they were 15 %
// of the bytes serve allocated at 5,000 webhooks/s. A nil slice is SQL
// NULL, an empty one the empty array, as with pq.Array.

// texts is a text[] parameter.
type texts []string

// Value implements driver.Valuer.
func (a texts) Value() (driver.Value, error) {
	if a == nil {
		return nil, nil
	}
	return textArray(len(a), func(i int) (string, bool) { return a[i], true }), nil
}

// nullTexts is a text[] parameter whose invalid elements are NULL.
type nullTexts []sql.NullString

// Value implements driver.Valuer.
func (a nullTexts) Value() (driver.Value, error) {
	if a == nil {
		return nil, nil
	}
	return textArray(len(a), func(i int) (string, bool) { return a[i].String, a[i].Valid }), nil
}

// textArray is the literal of n elements, element i being elem(i): a
// string, NULL when it is not valid.
func textArray(n int, elem func(int) (string, bool)) string {
	size := 2 + max(n-1, 0)
	for i := range n {
		if s, ok := elem(i); ok {
			size += quotedLen(s)
		} else {
			size += len("NULL")
		}
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if s, ok := elem(i); ok {
			writeQuoted(&b, s)
		} else {
			b.WriteString("NULL")
		}
	}
	b.WriteByte('}')
	return b.String()
}

// nullInt64s is a bigint[] (or int[]) parameter whose invalid elements
// are NULL.
type nullInt64s []sql.NullInt64

// Value implements driver.Valuer.
func (a nullInt64s) Value() (driver.Value, error) {
	if a == nil {
		return nil, nil
	}
	buf := make([]byte, 0, 2+len(a)*8)
	buf = append(buf, '{')
	for i, v := range a {
		if i > 0 {
			buf = append(buf, ',')
		}
		if v.Valid {
			buf = strconv.AppendInt(buf, v.Int64, 10)
		} else {
			buf = append(buf, "NULL"...)
		}
	}
	return string(append(buf, '}')), nil
}

// quotedLen is the length of s as a quoted array element: in double
// quotes, with a backslash before each double quote and backslash.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			n++
		}
	}
	return n
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	from := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteString(s[from:i])
			b.WriteByte('\\')
			from = i
		}
	}
	b.WriteString(s[from:])
	b.WriteByte('"')
}
