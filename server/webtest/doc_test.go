// Package webtest_test tests what browsers and operators reach over HTTP:
// GET /events (Server-Sent Events with replay), the web page in a real
// Chromium, CORS and origin checks, /metrics, /readyz and the access log.
// The tests are black-box: an in-process server on 127.0.0.1.
package webtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
