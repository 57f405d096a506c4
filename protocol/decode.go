package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeError is returned by the decoding helpers for input that is not the
// JSON they expect. Err is the underlying encoding/json error, if any.
type DecodeError struct {
	What string // what was being decoded, e.g. "event"
	Err  error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("protocol: malformed %s: %v", e.What, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Pointer returns the JSON Pointer of the value the error is about, when
// it knows one: a repeated key, or a value of the wrong type.
func (e *DecodeError) Pointer() string {
	var dk *DuplicateKeyError
	if errors.As(e.Err, &dk) {
		return dk.Pointer
	}
	var te *json.UnmarshalTypeError
	if errors.As(e.Err, &te) && te.Field != "" {
		var b strings.Builder
		for _, f := range strings.Split(te.Field, ".") {
			b.WriteString("/" + pointerToken(f))
		}
		return b.String()
	}
	return ""
}

// ErrTrailingData is wrapped by DecodeError when valid JSON is followed by
// more data.
var ErrTrailingData = errors.New("trailing data after JSON value")

// DecodeStrict decodes exactly one JSON value from data into v, rejecting
// unknown fields, duplicate keys (ErrDuplicateKey) and trailing data. what
// names the value in errors. A zero *SyncRequest and a request of the
// plain form (the one clients send, every page of a sync) are read by a
// small scanner instead, to the same value; any other input goes through
// encoding/json.
func DecodeStrict(data []byte, v any, what string) error {
	if p, ok := v.(*SyncRequest); ok && p.isZero() {
		if req, ok := decodeSyncRequestFast(data); ok {
			*p = req
			return nil
		}
	}
	return decodeStrictJSON(data, v, what)
}

// decodeStrictJSON is DecodeStrict with encoding/json alone.
func decodeStrictJSON(data []byte, v any, what string) error {
	if err := checkDuplicateKeys(data); err != nil {
		return &DecodeError{What: what, Err: err}
	}
	return decode(bytes.NewReader(data), v, what, true)
}

// DecodeStrictReader is DecodeStrict on a reader, which it reads to the
// end. An error reading r is returned wrapped in a *DecodeError.
func DecodeStrictReader(r io.Reader, v any, what string) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return &DecodeError{What: what, Err: err}
	}
	return DecodeStrict(data, v, what)
}

// DecodeLenient decodes exactly one JSON value from data into v, ignoring
// unknown fields (so that a newer peer can add fields) but rejecting
// malformed JSON, wrong types and trailing data.
func DecodeLenient(data []byte, v any, what string) error {
	// json.Unmarshal checks the whole input, trailing data included, and
	// skips the copy a Decoder makes.
	if err := json.Unmarshal(data, v); err != nil {
		return &DecodeError{What: what, Err: err}
	}
	return nil
}

func decode(r io.Reader, v any, what string, strict bool) error {
	dec := json.NewDecoder(r)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return &DecodeError{What: what, Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &DecodeError{What: what, Err: ErrTrailingData}
	}
	return nil
}

// DecodeEvent decodes one event as it arrives from the server (WebSocket
// frame or sync page element). Unknown fields are allowed, so that a newer
// server can add them; malformed JSON, wrong types, a missing id or type, or
// a missing created_at on a stored event are rejected. An unknown event type
// is not an error: the caller decides what to do with it.
func DecodeEvent(data []byte) (*Event, error) {
	var ev Event
	if err := DecodeLenient(data, &ev, "event"); err != nil {
		return nil, err
	}
	if err := ev.Validate(); err != nil {
		return nil, &DecodeError{What: "event", Err: err}
	}
	return &ev, nil
}

// Validate checks the fields every event must have: a type, and for stored
// events an id, a created_at and, for channel events, a valid cid.
func (ev *Event) Validate() error {
	if ev.Type == "" {
		return &ValidationError{Field: "type", Reason: "is empty"}
	}
	if ev.Type.IsEphemeral() {
		return nil
	}
	if ev.ID == "" {
		return &ValidationError{Field: "id", Reason: "is empty"}
	}
	if ev.CreatedAt.IsZero() {
		return &ValidationError{Field: "created_at", Reason: "is missing"}
	}
	if ev.CID != "" {
		if err := ValidateCID(ev.CID); err != nil {
			return err
		}
	}
	if ev.Seq < 0 {
		return &ValidationError{Field: "seq", Reason: "is negative"}
	}
	return nil
}
