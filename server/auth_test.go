package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/outpostsync/outpost/internal/logtest"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/token"
)

// TestAuth_TokenInURL: ?token= is taken on the WebSocket only; on every
// REST endpoint it is a 401, with or without a header token too.
func TestAuth_TokenInURL(t *testing.T) {
	ts := startServer(t, nil)
	createChannel(t, ts, "alice", "general")
	tok := tokenFor(t, "alice")
	for _, c := range []struct{ method, path string }{
		{"POST", protocol.PathChannels},
		{"POST", protocol.PathQueryChannels},
		{"GET", "/channels/team:general"},
		{"GET", "/channels/team:general/messages"},
		{"POST", "/channels/team:general/messages"},
		{"POST", protocol.PathSync},
		{"POST", protocol.PathBatch},
		{"DELETE", "/messages/m1"},
		{"PUT", protocol.PathMe},
	} {
		ae := ts.call(t, "", c.method, c.path+"?token="+tok, nil, nil)
		if ae == nil || ae.StatusCode != http.StatusUnauthorized || ae.Code != protocol.CodeAuth {
			t.Errorf("%s %s with ?token=: %v, want 401 code %d", c.method, c.path, ae, protocol.CodeAuth)
		}
		if ae != nil && strings.Contains(ae.Message, tok) {
			t.Errorf("%s %s: the error repeats the token", c.method, c.path)
		}
		// A header token does not make a URL token acceptable.
		ae = ts.call(t, "alice", c.method, c.path+"?token="+tok, nil, nil)
		if ae == nil || ae.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with header and ?token=: %v, want 401", c.method, c.path, ae)
		}
	}
	// The WebSocket takes it.
	ts.dial(t, "alice")
}

// TestAuth_TokenTimes: exp has the configured leeway; nbf and iat in the
// future are refused.
func TestAuth_TokenTimes(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	sign := func(c jwt.MapClaims) string {
		c["user_id"] = "alice"
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	for _, tc := range []struct {
		name     string
		leeway   time.Duration
		claims   jwt.MapClaims
		wantCode int // 0: accepted
	}{
		{"default leeway, exp 3s ago", 0, jwt.MapClaims{"exp": at(-3 * time.Second)}, 0},
		{"default leeway, exp 10s ago", 0, jwt.MapClaims{"exp": at(-10 * time.Second)}, protocol.CodeTokenExpired},
		{"no leeway, exp 1s ago", -1, jwt.MapClaims{"exp": at(-time.Second)}, protocol.CodeTokenExpired},
		{"1m leeway, exp 30s ago", time.Minute, jwt.MapClaims{"exp": at(-30 * time.Second)}, 0},
		{"nbf in a minute", 0, jwt.MapClaims{"nbf": at(time.Minute)}, protocol.CodeAuth},
		{"iat in a minute", 0, jwt.MapClaims{"iat": at(time.Minute)}, protocol.CodeAuth},
		{"iat an hour ago", 0, jwt.MapClaims{"iat": at(-time.Hour), "exp": at(time.Hour)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(c *server.Config) { c.TokenLeeway = tc.leeway })
			ts.clock.Set(now)
			ae := ts.call(t, "", "POST", protocol.PathQueryChannels, protocol.QueryChannelsRequest{}, nil,
				"Authorization", "Bearer "+sign(tc.claims), "Content-Type", "application/json")
			switch {
			case tc.wantCode == 0 && ae != nil:
				t.Errorf("refused: %v", ae)
			case tc.wantCode != 0 && (ae == nil || ae.Code != tc.wantCode || ae.StatusCode != http.StatusUnauthorized):
				t.Errorf("got %v, want 401 code %d", ae, tc.wantCode)
			}
		})
	}
}

// TestAuth_TokenNeverLogged: with every log level on, requests carrying
// tokens in the header and the URL, accepted and refused, leave no token
// in the server's log.
func TestAuth_TokenNeverLogged(t *testing.T) {
	var logs logtest.Buffer
	ts := startServer(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	good := tokenFor(t, "alice")
	expired, err := token.IssueAt(secret, "alice", time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forged := good[:len(good)-4] + "AAAA"
	wrongKey, err := token.Issue([]byte("other"), "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	createChannel(t, ts, "alice", "general")
	for _, tok := range []string{good, expired, forged, wrongKey} {
		for _, path := range []string{protocol.PathQueryChannels, "/channels/team:general/messages", "/no/such/path", protocol.PathSync} {
			ts.call(t, "", "POST", path, `{"x":1}`, nil, "Authorization", "Bearer "+tok, "Content-Type", "application/json")
			ts.call(t, "", "POST", path+"?token="+tok, `{}`, nil, "Content-Type", "application/json")
			ts.call(t, "", "GET", path+"?token="+tok+"&x=1", nil, nil)
		}
		// The WebSocket, with the token in the URL and in the header.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		url := "ws" + strings.TrimPrefix(ts.URL, "http") + protocol.PathConnect
		if c, _, err := websocket.Dial(ctx, url+"?token="+tok, nil); err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
		if c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}}); err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
		cancel()
	}
	// A store failure is logged: the log is captured, and still holds no
	// token.
	ts.store.Close()
	for _, tok := range []string{good, expired} {
		rawCall(t, ts, "POST", protocol.PathQueryChannels, "Bearer "+tok, `{}`)
		rawCall(t, ts, "POST", protocol.PathQueryChannels+"?token="+tok, "Bearer "+tok, `{}`)
	}
	ts.srv.Close()
	out := logs.String()
	if !strings.Contains(out, "request failed") {
		t.Fatalf("the store failure was not logged; is the log captured?\n%s", out)
	}
	for _, tok := range []string{good, expired, forged, wrongKey} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(out, tok) || strings.Contains(out, sig) {
			t.Errorf("the log holds a token:\n%s", out)
		}
	}
}
