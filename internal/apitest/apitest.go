// Package apitest is what tests of an Outpost server's JSON API share:
// requests (Call: one call, its answer decoded, its error as the API's;
// Do: the raw answer), a server clock tests can set, and a URL nothing
// answers at.
package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/outpostsync/outpost/protocol"
)

// Call makes a request of url with token (none when "") and body as JSON
// (a string is sent as it is; nil or "" sends none), plus headers as name,
// value pairs. It decodes a 2xx answer into out (unless nil) and returns
// the status and, for a 3xx or 4xx, the API error. A 5xx, or an error
// answer that is not the API's error body, fails tb.
func Call(tb testing.TB, method, url, token string, body, out any, headers ...string) (int, *protocol.APIError) {
	tb.Helper()
	resp, data := Do(tb, method, url, token, body, headers...)
	if resp.StatusCode >= 500 {
		tb.Fatalf("%s %s: status %d: %s", method, url, resp.StatusCode, data)
	}
	if resp.StatusCode >= 300 {
		var ae protocol.APIError
		if err := json.Unmarshal(data, &ae); err != nil || ae.StatusCode != resp.StatusCode {
			tb.Fatalf("%s %s: status %d with a body that is not an API error: %s", method, url, resp.StatusCode, data)
		}
		return resp.StatusCode, &ae
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			tb.Fatalf("%s %s: %v: %s", method, url, err, data)
		}
	}
	return resp.StatusCode, nil
}

// Do makes the request Call makes and returns the answer, its body read
// and closed, whatever its status: for tests of what the server answers
// to a request it should refuse, of headers, and of a 5xx it means. Only
// a request that cannot be made or sent fails tb.
func Do(tb testing.TB, method, url, token string, body any, headers ...string) (*http.Response, []byte) {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		if b != "" {
			rd = strings.NewReader(b)
		}
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}
