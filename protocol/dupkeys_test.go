package protocol_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

func TestDecodeStrict_DuplicateKeys(t *testing.T) {
	type inner struct {
		Text  string          `json:"text"`
		Extra json.RawMessage `json:"extra,omitempty"`
	}
	type body struct {
		Message inner   `json:"message"`
		List    []inner `json:"list,omitempty"`
	}
	for _, tc := range []struct {
		name, in string
		dup      bool
	}{
		{"none", `{"message":{"text":"a","extra":{"a":1,"b":{"a":2}}},"list":[{"text":"x"},{"text":"y"}]}`, false},
		{"same key in sibling objects", `{"message":{"text":"a"},"list":[{"text":"b"},{"text":"c"}]}`, false},
		{"top level", `{"message":{"text":"a"},"message":{"text":"b"}}`, true},
		{"nested", `{"message":{"text":"a","text":"b"}}`, true},
		{"in extra", `{"message":{"text":"a","extra":{"k":1,"k":2}}}`, true},
		{"in an array element", `{"message":{"text":"a"},"list":[{"text":"x","text":"y"}]}`, true},
		{"escaped spelling", `{"message":{"text":"a","te\u0078t":"b"}}`, true},
		{"after a nested value", `{"message":{"extra":{"a":[1,{"b":2}]},"text":"a","extra":{}}}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b body
			err := protocol.DecodeStrict([]byte(tc.in), &b, "body")
			if got := errors.Is(err, protocol.ErrDuplicateKey); got != tc.dup {
				t.Errorf("DecodeStrict(%s) = %v, want duplicate key error %v", tc.in, err, tc.dup)
			}
			if !tc.dup && err != nil {
				t.Errorf("DecodeStrict(%s) = %v", tc.in, err)
			}
		})
	}
}

// TestDecodeStrict_DuplicateKeyPointer: the error names the repeated
// key's place as a JSON Pointer, through objects and arrays.
func TestDecodeStrict_DuplicateKeyPointer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1,"a":2}`, "/a"},
		{`{"x":[1,{"b":{}},{"c":1,"c":2}]}`, "/x/2/c"},
		{`{"x":[[],{"k":[{"z":1}]}],"y":{"m/n":{"q":1,"q":2}}}`, "/y/m~1n/q"},
		{`{"f":{"a":{"b":1},"c":[0,1],"d":1,"d":2}}`, "/f/d"},
	} {
		var v any
		err := protocol.DecodeStrict([]byte(tc.in), &v, "body")
		var de *protocol.DecodeError
		if !errors.As(err, &de) || de.Pointer() != tc.want {
			t.Errorf("DecodeStrict(%s) = %v, want a duplicate key at %s", tc.in, err, tc.want)
		}
	}
}
