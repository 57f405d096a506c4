package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// pointerToken escapes one JSON Pointer token (RFC 6901).
func pointerToken(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

// ErrDuplicateKey is wrapped by DecodeError when an object of a strictly
// decoded document has the same key twice, as in {"text":"a","text":"b"}:
// encoding/json would silently keep the last one.
var ErrDuplicateKey = errors.New("duplicate key")

// DuplicateKeyError is the error, wrapping ErrDuplicateKey, for a key
// repeated in an object; Pointer is the JSON Pointer of the repeated key's
// value ("/fields/title").
type DuplicateKeyError struct {
	Key     string
	Pointer string
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("%v %q at %s", ErrDuplicateKey, e.Key, e.Pointer)
}

func (e *DuplicateKeyError) Unwrap() error { return ErrDuplicateKey }

// checkDuplicateKeys scans one JSON document and returns a
// *DuplicateKeyError at the first object, at any depth, that repeats a key.
// Keys are compared exactly, as JSON defines them. The document is
// assumed well formed; a syntax error ends the scan without an error.
func checkDuplicateKeys(data []byte) error {
	type frame struct {
		keys    map[string]struct{} // nil for an array
		wantKey bool
		path    string // the container's JSON Pointer
		key     string // the key of the value being read (object)
		index   int    // the index of the next value (array)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.wantKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				continue
			}
			key, _ := tok.(string)
			if _, dup := top.keys[key]; dup {
				return &DuplicateKeyError{Key: key, Pointer: top.path + "/" + pointerToken(key)}
			}
			top.keys[key] = struct{}{}
			top.wantKey, top.key = false, key
			continue
		}
		// The pointer of the value tok begins.
		path := ""
		if top != nil {
			if top.keys != nil {
				top.wantKey = true // after this value, a key or '}'
				path = top.path + "/" + pointerToken(top.key)
			} else if tok != json.Delim(']') {
				path = top.path + "/" + strconv.Itoa(top.index)
				top.index++
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]struct{}{}, wantKey: true, path: path})
		case json.Delim('['):
			stack = append(stack, &frame{path: path})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return nil
		}
	}
}
