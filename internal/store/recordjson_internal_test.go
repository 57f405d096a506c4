package store

import (
	"encoding/json"
	"testing"
)

// fieldsSeeds are field sets as JSON objects whose values fieldsJSON
// must write as json.Marshal does.
var fieldsSeeds = []string{
	`{}`,
	`{"title":"task one","done":false,"rank":12,"n":null,"tags":["a","b"],"o":{"k":{"z":1,"a":2}}}`,
	`{"a":"x < y & z > w","b":"\u2028\u2029 ok","c":"é ✓"}`,
	`{"spaced":[ 1 ,  2 ], "obj":{ "k" : "v w" }, "s":"a\tb\n"}`,
	`{"<key>":1,"k&":2,"é":3,"q\"":4,"b\\":5,"ctl\u0001":6}`,
	`{"num":-1.5e+30,"big":123456789012345678901234567890}`,
}

func TestFieldsJSON_SameAsMarshal(t *testing.T) {
	for _, seed := range fieldsSeeds {
		checkFieldsJSON(t, []byte(seed))
	}
	checkFieldsJSONMap(t, nil)
	checkFieldsJSONMap(t, map[string]json.RawMessage{"bad": json.RawMessage(`{"x":`)})
	checkFieldsJSONMap(t, map[string]json.RawMessage{"bad": json.RawMessage(`tru`)})
	checkFieldsJSONMap(t, map[string]json.RawMessage{"empty": nil})
	for _, v := range []map[string]int64{nil, {}, {"a": 1, "<b>": -2, "c": 1 << 62}, {"z": 0, "a": 9}} {
		got, gotErr := versionsJSON(v)
		if v == nil {
			v = map[string]int64{}
		}
		want, wantErr := json.Marshal(v)
		if got != string(want) || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("versionsJSON(%v) = %s, %v; json.Marshal: %s, %v", v, got, gotErr, want, wantErr)
		}
	}
}

func checkFieldsJSON(t *testing.T, data []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return
	}
	checkFieldsJSONMap(t, m)
}

func checkFieldsJSONMap(t *testing.T, m map[string]json.RawMessage) {
	t.Helper()
	got, gotErr := fieldsJSON(m)
	want, wantErr := json.Marshal(nonNilFields(m))
	if (gotErr == nil) != (wantErr == nil) || gotErr == nil && got != string(want) {
		t.Fatalf("fieldsJSON(%s) = %s, %v; json.Marshal: %s, %v", m, got, gotErr, want, wantErr)
	}
}

func FuzzFieldsJSON(f *testing.F) {
	for _, seed := range fieldsSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFieldsJSON(t, data)
	})
}
