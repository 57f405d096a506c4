package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

// syncPageSeeds are sync pages of every shape the fast decoder must agree
// on with encoding/json: plain, and each thing that makes it hand over.
var syncPageSeeds = []string{
	`{"feed":{"position":{"epoch":"f","seq":3,"event_id":"fe3"}},"events":[` + plainEvent + `,` + plainEvent + `],"channels":[{"cid":"messaging:a","status":"ok","position":{"epoch":"e","seq":2,"event_id":"ev2"}}],"more":true,"synced_at":"2026-11-29T10:00:00Z"}`,
	`{"events":[],"synced_at":"2026-11-29T10:00:00Z","feed":{"position":{"epoch":"f","seq":1,"event_id":"x"}}}`,
	` { "events" : [ ` + plainEvent + ` ] , "feed" : { "reset" : true , "channels" : [ "messaging:a" ] , "position" : { "epoch" : "f" , "seq" : 1 , "event_id" : "x" } } } `,
	`{"events":[` + strings.Replace(plainEvent, `"text":"hello"`, `"text":"h\u00e9llo \"q\""`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"text":"hello"`, `"text":"héllo ✓"`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"text":"hello"`, "\"text\":\"bad \xff utf8\"", 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"version":7`, `"version":7.0`, 1) + `,` + plainEvent + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"version":7`, `"version":99999999999999999999`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"version":7`, `"version":-0`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"version":7`, `"version":"7"`, 1) + `,` + plainEvent + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"id":"ev1"`, `"ID":"ev9","id":"ev1"`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"id":"ev1"`, `"id":"ev1","id":"ev2"`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"type":"message.new"`, `"type":"message.new","hard_delete":true,"future":{"a":[1,2]}`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"message":{`, `"message":null,"x":{`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"created_at":"2026-11-29T09:00:00Z","user_id"`, `"created_at":"2026-11-29 09:00:00","user_id"`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"created_at":"2026-11-29T09:00:00Z","user_id"`, `"user_id"`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"message":{"id":"m1"`, `"message":{"id":"m1","reaction_counts":{"like":2},"deleted_at":null,"extra":{"k":"v"}`, 1) + `]}`,
	`{"events":[` + strings.Replace(plainEvent, `"cid":"messaging:a","seq"`, `"cid":"bad cid","seq"`, 1) + `]}`,
	`{"events":[{"id":"ev1","type":"message.new","cid":"messaging:a","created_at":"2026-11-29T09:00:00Z","message":{"id":"m0","text":"first"},"message":{"cid":"messaging:a"}}]}`,
	`{"events":[` + strings.Replace(plainEvent, `"text":"hello"`, `"text":"hello","text":"again"`, 1) + `]}`,
	`{"events":[{}, 1, "x", null, []]}`,
	`{"events":[` + plainEvent + `],"Events":[]}`,
	`{"events":[` + plainEvent + `],"events":[]}`,
	`{"events":null}`,
	`{"events":[` + plainEvent + `,]}`,
	`{"events":[` + plainEvent + `] x}`,
	`{"events":[` + plainEvent + `]}{}`,
	`{"events":[{"id":"a" "type":"x"}]}`,
	`{"events":[` + plainEvent + `],"more":"yes"}`,
	`{"feed":{"events":[` + plainEvent + `,{"id":"","type":"message.new"}],"position":{"epoch":"f","seq":1,"event_id":"x"}},"events":[]}`,
	`{"feed":{"events":[{"id":5}],"position":{"epoch":"f","seq":1,"event_id":"x"}},"events":[` + plainEvent + `]}`,
	`[]`, `null`, ``, `{`, `{"events":[`, `{"events":[{"id":"a"`,
}

const plainEvent = `{"id":"ev1","type":"message.new","cid":"messaging:a","seq":7,"epoch":"e","created_at":"2026-11-29T09:00:00Z","user_id":"u","message":{"id":"m1","cid":"messaging:a","user_id":"u","text":"hello","parent_id":"p","seq":7,"created_at":"2026-11-29T09:00:00.123456789+01:00","updated_at":"2026-11-29T09:00:00Z","version":7}}`

// checkSameDecode fails unless DecodeSyncPage and encoding/json alone
// agree on data: the same page, the same number of dropped events, and
// an error for the same inputs.
func checkSameDecode(t *testing.T, data []byte) {
	t.Helper()
	got, gotDropped, gotErr := DecodeSyncPage(data)
	want, wantDropped, wantErr := decodeSyncPageSlow(data)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", data, gotErr, wantErr)
	}
	if len(gotDropped) != len(wantDropped) {
		t.Fatalf("%q: dropped %v, encoding/json drops %v", data, gotDropped, wantDropped)
	}
	for i := range gotDropped {
		if gotDropped[i].Where != wantDropped[i].Where {
			t.Fatalf("%q: dropped %v, encoding/json drops %v", data, gotDropped, wantDropped)
		}
	}
	// As JSON: a parsed time's zone is a new *time.Location each time.
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%q:\n got %s\nwant %s", data, g, w)
	}
}

func TestDecodeSyncPage_SameAsEncodingJSON(t *testing.T) {
	for _, seed := range syncPageSeeds {
		checkSameDecode(t, []byte(seed))
	}
}

// The plain page is read by the scanner, not handed over.
func TestDecodeSyncPage_PlainPageIsFast(t *testing.T) {
	page, dropped, ok := decodeSyncPageFast([]byte(syncPageSeeds[0]))
	if !ok || len(dropped) != 0 || len(page.Events) != 2 || page.Events[0].Message.Text != "hello" || !page.More {
		t.Fatalf("fast decode: ok %v, dropped %v, page %+v", ok, dropped, page)
	}
}

func FuzzDecodeSyncPage(f *testing.F) {
	for _, seed := range syncPageSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameDecode(t, data)
	})
}
