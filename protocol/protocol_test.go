package protocol_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

func TestDecodeStrict(t *testing.T) {
	type body struct {
		Text string `json:"text"`
	}
	tests := []struct {
		name, in string
		wantErr  bool
		wantTrl  bool
	}{
		{"ok", `{"text":"hi"}`, false, false},
		{"ok with space", " {\"text\":\"hi\"}\n ", false, false},
		{"unknown field", `{"text":"hi","x":1}`, true, false},
		{"wrong type", `{"text":1}`, true, false},
		{"truncated", `{"text":"hi"`, true, false},
		{"empty", ``, true, false},
		{"trailing data", `{"text":"hi"} {"text":"again"}`, true, true},
		{"trailing garbage", `{"text":"hi"}x`, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b body
			err := protocol.DecodeStrict([]byte(tt.in), &b, "body")
			if (err != nil) != tt.wantErr {
				t.Fatalf("DecodeStrict(%q) = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil {
				if b.Text != "hi" {
					t.Errorf("text = %q, want hi", b.Text)
				}
				return
			}
			var de *protocol.DecodeError
			if !errors.As(err, &de) || de.What != "body" {
				t.Errorf("error %v is not a *DecodeError for body", err)
			}
			if tt.wantTrl && !errors.Is(err, protocol.ErrTrailingData) {
				t.Errorf("error %v does not wrap ErrTrailingData", err)
			}
		})
	}
}

func TestDecodeLenient_AllowsUnknownFieldsOnly(t *testing.T) {
	var ev protocol.Event
	if err := protocol.DecodeLenient([]byte(`{"type":"message.new","future":true}`), &ev, "event"); err != nil {
		t.Fatalf("unknown field refused: %v", err)
	}
	for _, in := range []string{`{"type":1}`, `{"type":"a"} x`, `[`} {
		if err := protocol.DecodeLenient([]byte(in), &ev, "event"); err == nil {
			t.Errorf("DecodeLenient(%q) accepted malformed input", in)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	ok := `{"id":"e1","type":"message.new","cid":"team:a","seq":3,"created_at":"2026-11-01T12:00:00.000001Z",
		"message":{"id":"m1","cid":"team:a","user_id":"u","text":"hi","created_at":"2026-11-01T12:00:00Z","updated_at":"2026-11-01T12:00:00Z","version":3}}`
	ev, err := protocol.DecodeEvent([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 3 || ev.Message.Text != "hi" || ev.CreatedAt.Nanosecond() != 1000 {
		t.Errorf("decoded %+v", ev)
	}
	for name, in := range map[string]string{
		"no type":       `{"id":"e","created_at":"2026-11-01T12:00:00Z"}`,
		"no id":         `{"type":"message.new","created_at":"2026-11-01T12:00:00Z"}`,
		"no created_at": `{"id":"e","type":"message.new"}`,
		"bad cid":       `{"id":"e","type":"message.new","cid":"x","created_at":"2026-11-01T12:00:00Z"}`,
		"negative seq":  `{"id":"e","type":"message.new","seq":-1,"created_at":"2026-11-01T12:00:00Z"}`,
		"seq as string": `{"id":"e","type":"message.new","seq":"1","created_at":"2026-11-01T12:00:00Z"}`,
		"bad time":      `{"id":"e","type":"message.new","created_at":"yesterday"}`,
		"not an object": `"message.new"`,
	} {
		if _, err := protocol.DecodeEvent([]byte(in)); err == nil {
			t.Errorf("%s: DecodeEvent accepted %s", name, in)
		}
	}
	// Ephemeral events need no id or time; unknown types are the caller's
	// business.
	for _, in := range []string{`{"type":"typing.start","cid":"team:a"}`, `{"id":"e","type":"poll.new","created_at":"2026-11-01T12:00:00Z"}`} {
		if _, err := protocol.DecodeEvent([]byte(in)); err != nil {
			t.Errorf("DecodeEvent(%s) = %v, want ok", in, err)
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 123456789, time.UTC)
	in := protocol.Event{ID: "e", Type: protocol.EventReactionNew, CID: "team:a", Seq: 9, CreatedAt: at,
		Reaction: &protocol.Reaction{MessageID: "m", UserID: "u", Type: "like", Version: 9, Extra: json.RawMessage(`{"a":1}`)}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := protocol.DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.CreatedAt.Equal(at) || out.Reaction.Type != "like" || string(out.Reaction.Extra) != `{"a":1}` {
		t.Errorf("round trip changed the event: %+v", out)
	}
}

func TestEventTypes(t *testing.T) {
	for _, typ := range protocol.EventTypes() {
		if !typ.Known() {
			t.Errorf("%s not Known", typ)
		}
	}
	if protocol.EventType("poll.new").Known() {
		t.Error("an unknown type is Known")
	}
	for typ, want := range map[protocol.EventType]bool{
		protocol.EventTypingStart: true, protocol.EventTypingStop: true, protocol.EventHealthCheck: true,
		protocol.EventMessageNew: false, protocol.EventChannelDeleted: false,
	} {
		if got := typ.IsEphemeral(); got != want {
			t.Errorf("%s.IsEphemeral() = %v, want %v", typ, got, want)
		}
	}
	// The membership feed's types, as docs/PROTOCOL.md lists them.
	feed := []protocol.EventType{protocol.EventNotificationAddedToChannel, protocol.EventNotificationRemovedFromChannel,
		protocol.EventChannelHidden, protocol.EventChannelVisible, protocol.EventUserUpdated}
	for _, typ := range protocol.EventTypes() {
		if got, want := typ.InFeed(), slices.Contains(feed, typ); got != want {
			t.Errorf("%s.InFeed() = %v, want %v", typ, got, want)
		}
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "user-1", "A.b_c@d!e", strings.Repeat("x", protocol.MaxIDLength)} {
		if err := protocol.ValidateID("id", id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "a b", "a:b", "é", "a\x00", "'; DROP TABLE x;--", strings.Repeat("x", protocol.MaxIDLength+1)} {
		var ve *protocol.ValidationError
		if err := protocol.ValidateID("id", id); !errors.As(err, &ve) {
			t.Errorf("ValidateID(%q) = %v, want *ValidationError", id, err)
		}
	}
	typ, id, err := protocol.SplitCID("messaging:general")
	if err != nil || typ != "messaging" || id != "general" || protocol.CID(typ, id) != "messaging:general" {
		t.Errorf("SplitCID = %q %q %v", typ, id, err)
	}
	for _, cid := range []string{"", "general", ":x", "x:", "a:b:c"} {
		if err := protocol.ValidateCID(cid); err == nil {
			t.Errorf("ValidateCID(%q) accepted", cid)
		}
	}
}

func TestAPIError(t *testing.T) {
	tests := []struct {
		code       int
		status     int
		temporary  bool
		needsReset bool
	}{
		{protocol.CodeInput, http.StatusBadRequest, false, false},
		{protocol.CodeAuth, http.StatusUnauthorized, false, false},
		{protocol.CodeTokenExpired, http.StatusUnauthorized, false, false},
		{protocol.CodeNotFound, http.StatusNotFound, false, false},
		{protocol.CodeNotAllowed, http.StatusForbidden, false, false},
		{protocol.CodePayloadTooBig, http.StatusRequestEntityTooLarge, false, false},
		{protocol.CodeRateLimited, http.StatusTooManyRequests, true, false},
		{protocol.CodeTimeout, http.StatusRequestTimeout, true, false},
		{protocol.CodeInternal, http.StatusInternalServerError, true, false},
		{protocol.CodeConflict, http.StatusConflict, false, false},
		{protocol.CodeSyncPositionTooOld, http.StatusGone, false, true},
		{protocol.CodeSyncHistoryLost, http.StatusGone, false, true},
	}
	for _, tt := range tests {
		e := protocol.NewAPIError(tt.code, "x %d", 1)
		if e.StatusCode != tt.status || e.Temporary() != tt.temporary || e.NeedsReset() != tt.needsReset {
			t.Errorf("code %d: status %d temporary %v reset %v; want %d %v %v",
				tt.code, e.StatusCode, e.Temporary(), e.NeedsReset(), tt.status, tt.temporary, tt.needsReset)
		}
	}
	// An unknown code is judged by its status.
	if !(&protocol.APIError{Code: 999, StatusCode: 503}).Temporary() || (&protocol.APIError{Code: 999, StatusCode: 400}).Temporary() {
		t.Error("unknown codes are not classified by status")
	}
	wrapped := errors.Join(errors.New("context"), protocol.NewAPIError(protocol.CodeNotFound, "gone"))
	if e, ok := protocol.AsAPIError(wrapped); !ok || e.Code != protocol.CodeNotFound {
		t.Errorf("AsAPIError(wrapped) = %v, %v", e, ok)
	}
	var body protocol.APIError
	if err := protocol.DecodeStrict([]byte(`{"code":16,"message":"no such channel","status_code":404}`), &body, "error"); err != nil || body.Code != 16 {
		t.Errorf("error body decode = %+v, %v", body, err)
	}
}

// FuzzDecodeEvent: no input may panic the decoder, and whatever it accepts
// passes Validate and survives a JSON round trip.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"id":"e1","type":"message.new","cid":"team:a","seq":1,"created_at":"2026-11-01T12:00:00Z","message":{"id":"m1","text":"hi","version":1}}`,
		`{"type":"typing.start","cid":"team:a"}`,
		`{"id":"e","type":"reaction.new","created_at":"2026-11-01T12:00:00Z","reaction":{"message_id":"m","user_id":"u","type":"like"}}`,
		`{"id":"e","type":"message.new","seq":"1"}`,
		`{"id":"e","type":"x","created_at":"2026-11-01T12:00:00Z","extra":{"a":[1,2,{"b":null}]}}`,
		`null`, `[]`, `{"id":1}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := protocol.DecodeEvent(data)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("accepted event does not marshal: %v", err)
		}
		if _, err := protocol.DecodeEvent(b); err != nil {
			t.Fatalf("accepted event does not round-trip: %v\n%s", err, b)
		}
	})
}
