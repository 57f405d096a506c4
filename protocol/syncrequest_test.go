package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

// syncRequestSeeds are sync requests of every shape DecodeStrict's
// scanner must agree on with encoding/json: plain, and each thing that
// makes it hand over.
var syncRequestSeeds = []string{
	plainSyncRequest,
	`{"version":2,"channels":[]}`,
	`{}`,
	` { "version" : 2 , "feed" : { "epoch" : "f" , "seq" : 0 } , "channels" : [ { "cid" : "messaging:a" , "epoch" : "" , "seq" : 0 } ] } ` + "\n",
	`{"version":2,"channels":[{"cid":"messaging:a","epoch":"e","seq":1,"event_id":"x","event_id":"y"}]}`,
	`{"version":2,"version":3,"channels":[]}`,
	`{"Version":2,"channels":[]}`,
	`{"version":2,"channels":[{"CID":"messaging:a","epoch":"e","seq":1}]}`,
	`{"version":2,"channels":[{"cid":"messaging:a","epoch":"e","seq":1,"future":1}]}`,
	`{"version":2,"channels":[{"cid":"messaging:\u0061","epoch":"e","seq":1}]}`,
	"{\"version\":2,\"channels\":[{\"cid\":\"messaging:\xff\",\"epoch\":\"e\",\"seq\":1}]}",
	`{"version":2,"channels":[{"cid":"messaging:é","epoch":"e","seq":1}]}`,
	`{"version":2.0,"channels":[]}`,
	`{"version":-0,"channels":[]}`,
	`{"version":02,"channels":[]}`,
	`{"version":99999999999999999999,"channels":[]}`,
	`{"version":"2","channels":[]}`,
	`{"version":2,"limit":-5,"channels":[]}`,
	`{"version":2,"feed":null,"channels":null,"last_sync_at":null}`,
	`{"version":2,"last_sync_at":"2026-11-29 10:00:00","channels":[]}`,
	`{"version":2,"last_sync_at":"2026-11-29T10:00:00.5+01:00","channels":[]}`,
	`{"version":2,"channels":[{"cid":"messaging:a","epoch":"e","seq":1.5}]}`,
	`{"version":2,"channels":[{"cid":"messaging:a","epoch":"e","seq":1},]}`,
	`{"version":2,"channels":[]} {}`,
	`{"version":2,"channels":[]}x`,
	`{"version":2,"channels":[] "limit":1}`,
	`{"version":2,"channels":{}}`,
	`{"version":2,"feed":[],"channels":[]}`,
	`[]`, `null`, ``, `{`, `{"version":2,"channels":[`, `"x"`,
}

const plainSyncRequest = `{"version":2,"last_sync_at":"2026-11-29T10:00:00.123456789Z","feed":{"epoch":"f","seq":3,"event_id":"fe3"},` +
	`"channels":[{"cid":"messaging:a","epoch":"e","seq":2,"event_id":"ev2"},{"cid":"team:b","epoch":"","seq":0}],"limit":500}`

// checkSameRequest fails unless DecodeStrict and encoding/json alone
// agree on data: the same request, or the same error.
func checkSameRequest(t *testing.T, data []byte) {
	t.Helper()
	var got, want SyncRequest
	gotErr := DecodeStrict(data, &got, "request body")
	wantErr := decodeStrictJSON(data, &want, "request body")
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: error %v, encoding/json says %v", data, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	// As JSON: a parsed time's zone is a new *time.Location each time;
	// and with a check that a list is a list in both or nil in both.
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) || (got.Channels == nil) != (want.Channels == nil) {
		t.Fatalf("%q:\n got %s\nwant %s", data, g, w)
	}
}

func TestDecodeStrict_SyncRequestSameAsEncodingJSON(t *testing.T) {
	for _, seed := range syncRequestSeeds {
		checkSameRequest(t, []byte(seed))
	}
}

// The plain request, as the client sends it, is read by the scanner.
func TestDecodeStrict_PlainSyncRequestIsFast(t *testing.T) {
	req, ok := decodeSyncRequestFast([]byte(plainSyncRequest))
	if !ok || req.Version != 2 || req.Feed == nil || req.Feed.EventID != "fe3" || len(req.Channels) != 2 ||
		req.Channels[0].CID != "messaging:a" || req.Channels[0].Seq != 2 || req.Limit != 500 {
		t.Fatalf("fast decode: ok %v, request %+v", ok, req)
	}
	client, err := json.Marshal(SyncRequest{Version: Version, Channels: []ChannelPosition{{CID: "messaging:a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeSyncRequestFast(client); !ok {
		t.Fatalf("fast decode refused what encoding/json writes: %s", client)
	}
}

// A request decoded into a value that holds something keeps what the
// input does not set, as encoding/json does.
func TestDecodeStrict_SyncRequestIntoAFilledValue(t *testing.T) {
	req := SyncRequest{Limit: 7}
	if err := DecodeStrict([]byte(`{"version":2,"channels":[]}`), &req, "body"); err != nil || req.Limit != 7 || req.Version != 2 {
		t.Fatalf("request %+v, error %v; want limit 7 kept", req, err)
	}
}

func FuzzDecodeSyncRequest(f *testing.F) {
	for _, seed := range syncRequestSeeds {
		f.Add([]byte(seed))
	}
	f.Add([]byte(strings.Repeat(" ", 3) + plainSyncRequest))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameRequest(t, data)
	})
}
