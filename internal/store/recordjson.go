package store

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// fieldsJSON is json.Marshal of a record's fields ({} for nil), byte for
// byte, errors included, without its reflection: a record applied from
// the server is written at the cost of checking and copying its values.
// Values that json.Marshal would change (white space, characters it
// escapes) go through json.Compact and json.HTMLEscape, which is what it
// does with them.
func fieldsJSON(m map[string]json.RawMessage) (string, error) {
	size := 2
	for k, v := range m {
		size += len(k) + len(v) + 4
	}
	var tmp, esc bytes.Buffer
	return objectJSON(m, size, func(out *strings.Builder, v json.RawMessage) error {
		if v == nil { // as json.RawMessage's MarshalJSON
			v = json.RawMessage("null")
		}
		if plainValue(v) && json.Valid(v) {
			out.Write(v)
			return nil
		}
		tmp.Reset()
		if err := json.Compact(&tmp, v); err != nil {
			return err
		}
		esc.Reset()
		json.HTMLEscape(&esc, tmp.Bytes())
		out.Write(esc.Bytes())
		return nil
	})
}

// versionsJSON is json.Marshal of a record's field versions ({} for
// nil), byte for byte.
func versionsJSON(m map[string]int64) (string, error) {
	return objectJSON(m, 2+len(m)*24, func(out *strings.Builder, v int64) error {
		var num [20]byte
		out.Write(strconv.AppendInt(num[:0], v, 10))
		return nil
	})
}

// objectJSON is json.Marshal of m ({} for nil), its keys sorted, each
// value written by value; size is a guess at its length. Keys other than
// plainKeys' go through json.Marshal.
func objectJSON[V any](m map[string]V, size int, value func(out *strings.Builder, v V) error) (string, error) {
	var buf [16]string
	keys, ok := plainKeys(m, buf[:0])
	if !ok {
		if m == nil {
			m = map[string]V{}
		}
		raw, err := json.Marshal(m)
		return string(raw), err
	}
	var out strings.Builder
	out.Grow(size)
	out.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('"')
		out.WriteString(k)
		out.WriteString(`":`)
		if err := value(&out, m[k]); err != nil {
			return "", err
		}
	}
	out.WriteByte('}')
	return out.String(), nil
}

// plainKeys appends m's keys to keys, sorted, and says whether each is
// one json.Marshal writes as it is between quotes: printable ASCII, none
// of " \ < > &.
func plainKeys[V any](m map[string]V, keys []string) ([]string, bool) {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for i := 0; i < len(k); i++ {
			if c := k[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return nil, false
			}
		}
	}
	return keys, true
}

// plainValue reports whether json.Marshal writes the JSON value v as it
// is: not empty, without white space outside strings, and without < > &
// or a byte of U+2028 or U+2029 (which it escapes) anywhere.
func plainValue(v json.RawMessage) bool {
	if len(v) == 0 {
		return false
	}
	inString := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '<', '>', '&', 0xe2:
			return false
		case ' ', '\t', '\n', '\r':
			if !inString {
				return false
			}
		case '"':
			inString = !inString
		case '\\':
			i++ // the escaped byte: a quote there does not end the string
		}
	}
	return true
}
