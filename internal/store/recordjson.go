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
	var buf [16]string
	keys, ok := plainKeys(m, buf[:0])
	if !ok {
		raw, err := json.Marshal(nonNilFields(m))
		return string(raw), err
	}
	n := 2
	for k, v := range m {
		n += len(k) + len(v) + 4
	}
	var out strings.Builder
	out.Grow(n)
	out.WriteByte('{')
	var tmp bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('"')
		out.WriteString(k)
		out.WriteString(`":`)
		v := m[k]
		if v == nil { // as json.RawMessage's MarshalJSON
			v = json.RawMessage("null")
		}
		if plainValue(v) && json.Valid(v) {
			out.Write(v)
			continue
		}
		tmp.Reset()
		if err := json.Compact(&tmp, v); err != nil {
			return "", err
		}
		var esc bytes.Buffer
		json.HTMLEscape(&esc, tmp.Bytes())
		out.Write(esc.Bytes())
	}
	out.WriteByte('}')
	return out.String(), nil
}

// versionsJSON is json.Marshal of a record's field versions ({} for
// nil), byte for byte.
func versionsJSON(m map[string]int64) (string, error) {
	var buf [16]string
	keys, ok := plainKeys(m, buf[:0])
	if !ok {
		raw, err := json.Marshal(nonNilVersions(m))
		return string(raw), err
	}
	var out strings.Builder
	out.Grow(2 + len(m)*24)
	out.WriteByte('{')
	var num [20]byte
	for i, k := range keys {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('"')
		out.WriteString(k)
		out.WriteString(`":`)
		out.Write(strconv.AppendInt(num[:0], m[k], 10))
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
