package store

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
)

// fieldsJSON is json.Marshal of a record's fields ({} for nil), byte for
// byte, errors included, without its reflection: a record applied from
// the server is written at the cost of checking and copying its values.
// Values that json.Marshal would change (white space, characters it
// escapes) go through json.Compact and json.HTMLEscape, which is what it
// does with them.
func fieldsJSON(m map[string]json.RawMessage) (string, error) {
	keys, ok := plainKeys(m)
	if !ok {
		raw, err := json.Marshal(nonNilFields(m))
		return string(raw), err
	}
	n := 2
	for k, v := range m {
		n += len(k) + len(v) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	var tmp bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, '"', ':')
		v := m[k]
		if v == nil { // as json.RawMessage's MarshalJSON
			v = json.RawMessage("null")
		}
		if plainValue(v) && json.Valid(v) {
			out = append(out, v...)
			continue
		}
		tmp.Reset()
		if err := json.Compact(&tmp, v); err != nil {
			return "", err
		}
		var esc bytes.Buffer
		json.HTMLEscape(&esc, tmp.Bytes())
		out = append(out, esc.Bytes()...)
	}
	out = append(out, '}')
	return string(out), nil
}

// versionsJSON is json.Marshal of a record's field versions ({} for
// nil), byte for byte.
func versionsJSON(m map[string]int64) (string, error) {
	keys, ok := plainKeys(m)
	if !ok {
		raw, err := json.Marshal(nonNilVersions(m))
		return string(raw), err
	}
	out := make([]byte, 0, 2+len(m)*24)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, '"', ':')
		out = strconv.AppendInt(out, m[k], 10)
	}
	out = append(out, '}')
	return string(out), nil
}

// plainKeys returns m's keys sorted, and whether each is one json.Marshal
// writes as it is between quotes: printable ASCII, none of " \ < > &.
func plainKeys[V any](m map[string]V) ([]string, bool) {
	keys := slices.Sorted(maps.Keys(m))
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
// is: not empty, and without white space, < > & or a byte of U+2028 or
// U+2029 (which it escapes), anywhere, in strings or out.
func plainValue(v json.RawMessage) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xe2:
			return false
		}
	}
	return true
}
