package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

const plainRecord = `{"cid":"team:a","collection":"tasks","id":"t1","fields":{"done":false,"rank":12,"title":"task one","tags":["a","b"],"n":null,"x":-1.5e3,"y":true},"field_versions":{"done":3,"rank":9,"title":3},"version":9,"created_by":"u","created_at":"2026-11-29T09:00:00Z","updated_by":"v","updated_at":"2026-11-29T09:00:01.5+01:00"}`

const plainRecordEvent = `{"id":"ev9","type":"record.updated","cid":"team:a","seq":9,"epoch":"e","created_at":"2026-11-29T09:00:01Z","user_id":"v","record":` + plainRecord + `,"changed":["rank"]}`

// recordVariants are plainRecord changed in each way that makes the
// scanner hand over, or that it must read as encoding/json does.
var recordVariants = []string{
	plainRecord,
	strings.Replace(plainRecord, `"title":"task one"`, `"title":"t\u00e9sk \"one\""`, 1),
	strings.Replace(plainRecord, `"title":"task one"`, `"ti\u0074le":"x"`, 1),
	strings.Replace(plainRecord, `"title":"task one"`, `"title":"a","title":"b"`, 1),
	strings.Replace(plainRecord, `"title":"task one"`, `"title" : { "deep" : [ 1 , {"k": "v"} ] }`, 1),
	strings.Replace(plainRecord, `"rank":12`, `"rank":012`, 1),
	strings.Replace(plainRecord, `"rank":12`, `"rank":1.`, 1),
	strings.Replace(plainRecord, `"rank":12`, `"rank":1e`, 1),
	strings.Replace(plainRecord, `"rank":12`, `"rank":-0.0E+2`, 1),
	strings.Replace(plainRecord, `"rank":12`, `"rank":12x`, 1),
	strings.Replace(plainRecord, `"rank":12`, `"rank":tru`, 1),
	strings.Replace(plainRecord, `"rank":12`, `"rank":nul`, 1),
	strings.Replace(plainRecord, `"rank":12`, "\"rank\":\"bad \xff\"", 1),
	strings.Replace(plainRecord, `"rank":9`, `"rank":9.0`, 1),
	strings.Replace(plainRecord, `"rank":9`, `"rank":null`, 1),
	strings.Replace(plainRecord, `"rank":9`, `"rank":"9"`, 1),
	strings.Replace(plainRecord, `"fields":{`, `"fields":null,"x":{`, 1),
	strings.Replace(plainRecord, `"fields":{`, `"Fields":{}, "fields":{`, 1),
	strings.Replace(plainRecord, `"version":9`, `"version":9,"deleted":true`, 1),
	strings.Replace(plainRecord, `"version":9`, `"version":9,"deleted":truex`, 1),
	strings.Replace(plainRecord, `"version":9`, `"version":9,"deleted":1`, 1),
	strings.Replace(plainRecord, `"version":9`, `"version":9,"future":{"a":1}`, 1),
	strings.Replace(plainRecord, `"version":9`, `"version":9,"version":10`, 1),
	`{"cid":"team:a","collection":"tasks","id":"t0","fields":{},"field_versions":{},"version":1,"created_by":"u","created_at":"2026-11-29T09:00:00Z","updated_at":"2026-11-29T09:00:00Z"}`,
	`{}`, `null`, `5`,
}

func init() {
	for _, r := range recordVariants {
		ev := strings.Replace(plainRecordEvent, `"record":`+plainRecord, `"record":`+r, 1)
		syncPageSeeds = append(syncPageSeeds, `{"events":[`+ev+`,`+plainEvent+`]}`)
	}
	syncPageSeeds = append(syncPageSeeds,
		`{"events":[`+strings.Replace(plainRecordEvent, `"changed":["rank"]`, `"changed":null`, 1)+`]}`,
		`{"events":[`+strings.Replace(plainRecordEvent, `"changed":["rank"]`, `"changed":[]`, 1)+`]}`,
		`{"events":[`+strings.Replace(plainRecordEvent, `"changed":["rank"]`, `"changed":["a" "b"]`, 1)+`]}`,
		`{"events":[`+strings.Replace(plainRecordEvent, `"changed":["rank"]`, `"changed":["a",1]`, 1)+`]}`)
}

// recordsPageSeeds are records pages of every shape DecodeRecordsPage
// must agree on with encoding/json.
func recordsPageSeeds() []string {
	out := []string{
		`{"records":[],"position":{"epoch":"e","seq":0}}`,
		` { "records" : [ ` + plainRecord + ` , ` + plainRecord + ` ] , "position" : {"epoch":"e","seq":9,"event_id":"ev9"}, "next" : "tasks/t1" } `,
		`{"position":{"epoch":"e","seq":9},"records":[` + plainRecord + `]}`,
		`{"records":null}`, `{"records":[` + plainRecord + `],"Records":[]}`, `{"records":[],"records":[]}`,
		`{"records":[` + plainRecord + `,]}`, `{"records":[` + plainRecord + `]}{}`, `{"records":[1]}`,
		`{"records":[],"next":5}`, `[]`, `null`, ``, `{`,
	}
	for _, r := range recordVariants {
		out = append(out, `{"records":[`+plainRecord+`,`+r+`],"position":{"epoch":"e","seq":9}}`)
	}
	return out
}

// checkSameRecordsPage fails unless DecodeRecordsPage and encoding/json
// alone agree on data.
func checkSameRecordsPage(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := DecodeRecordsPage(data)
	var want RecordsResponse
	wantErr := DecodeLenient(data, &want, "records page")
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, encoding/json says %v", data, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%q:\n got %s\nwant %s", data, g, w)
	}
	for i := range want.Records {
		for k, v := range want.Records[i].Fields {
			if string(got.Records[i].Fields[k]) != string(v) {
				t.Fatalf("%q: record %d field %s is %s, encoding/json keeps %s", data, i, k, got.Records[i].Fields[k], v)
			}
		}
	}
}

func TestDecodeRecordsPage_SameAsEncodingJSON(t *testing.T) {
	for _, seed := range recordsPageSeeds() {
		checkSameRecordsPage(t, []byte(seed))
	}
}

// Plain records and record events are read by the scanner, not handed
// over to encoding/json.
func TestDecodeRecords_PlainIsFast(t *testing.T) {
	page, ok := decodeRecordsPageFast([]byte(`{"records":[` + plainRecord + `],"position":{"epoch":"e","seq":9},"next":"tasks/t1"}`))
	if !ok || len(page.Records) != 1 || string(page.Records[0].Fields["tags"]) != `["a","b"]` || page.Next != "tasks/t1" {
		t.Fatalf("records page: ok %v, page %+v", ok, page)
	}
	s := scanner{d: []byte(plainRecordEvent)}
	var ev Event
	if !s.event(&ev) || ev.Record == nil || ev.Record.FieldVersions["rank"] != 9 || len(ev.Changed) != 1 {
		t.Fatalf("record event: %+v", ev)
	}
}

// The fields a decode keeps do not share the page's bytes.
func TestDecodeRecordsPage_FieldsOwnTheirBytes(t *testing.T) {
	data := []byte(`{"records":[` + plainRecord + `]}`)
	page, err := DecodeRecordsPage(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = ' '
	}
	if got := string(page.Records[0].Fields["title"]); got != `"task one"` {
		t.Fatalf("title after the page's bytes changed: %s", got)
	}
}

func FuzzDecodeRecordsPage(f *testing.F) {
	for _, seed := range recordsPageSeeds() {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameRecordsPage(t, data)
	})
}

// BenchmarkDecodeSyncPage_Records decodes a sync page of 500 record
// events, as a record catch-up's.
func BenchmarkDecodeSyncPage_Records(b *testing.B) {
	evs := make([]string, 500)
	for i := range evs {
		evs[i] = plainRecordEvent
	}
	data := []byte(`{"events":[` + strings.Join(evs, ",") + `],"synced_at":"2026-11-29T10:00:00Z"}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeSyncPage(data); err != nil {
			b.Fatal(err)
		}
	}
}
