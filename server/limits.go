package server

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/outpostsync/outpost/protocol"
)

// Bounds on the free-form fields a client writes; docs/PROTOCOL.md lists
// them with the identifier and body bounds. Over a bound is a 400.
const (
	// MaxNameBytes bounds a channel's or a user's name.
	MaxNameBytes = 256
	// MaxImageBytes bounds a user's image (a URL).
	MaxImageBytes = 2048
	// MaxExtraBytes bounds an extra object, as sent.
	MaxExtraBytes = 16 << 10
)

// checkJSONContentType refuses a body that is not declared JSON with a
// 415: a form post or text/plain is not what the client meant to send us.
// A charset, if given, must be UTF-8.
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		if cs, ok := params["charset"]; !ok || strings.EqualFold(cs, "utf-8") {
			return nil
		}
	}
	if ct == "" {
		ct = "none"
	}
	return protocol.NewAPIError(protocol.CodeUnsupportedMediaType,
		"request body must be Content-Type: application/json, got %.100q", ct)
}

// validName checks a display name: at most MaxNameBytes, no control
// characters (a name is shown on one line).
func validName(field, name string) error {
	if len(name) > MaxNameBytes {
		return protocol.NewAPIError(protocol.CodeInput, "%s is over %d bytes", field, MaxNameBytes)
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return protocol.NewAPIError(protocol.CodeInput, "%s has a control character or invalid UTF-8", field)
	}
	return nil
}

// validExtra checks an extra field: a JSON object of at most MaxExtraBytes,
// or absent.
func validExtra(extra json.RawMessage) error {
	if len(extra) == 0 || string(extra) == "null" {
		return nil
	}
	if len(extra) > MaxExtraBytes {
		return protocol.NewAPIError(protocol.CodeInput, "extra is over %d bytes", MaxExtraBytes)
	}
	var obj map[string]any
	if err := json.Unmarshal(extra, &obj); err != nil {
		return protocol.NewAPIError(protocol.CodeInput, "extra must be a JSON object")
	}
	return nil
}
