package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/protocol"
)

// wantPermanent checks that Connect stopped with a permanent API error of
// code, surfaced by Connect, Err and one ErrorEvent, after dials attempts.
func wantPermanent(t *testing.T, fs *fakeServer, c *client.Client, rec *recorder, code int, dials int64) {
	t.Helper()
	err := c.Connect(testCtx(t))
	if e, ok := protocol.AsAPIError(err); !ok || e.Code != code {
		t.Fatalf("Connect = %v, want APIError code %d", err, code)
	}
	if e, ok := protocol.AsAPIError(c.Err()); !ok || e.Code != code {
		t.Errorf("Err = %v, want APIError code %d", c.Err(), code)
	}
	if got := c.State(); got != client.StateDisconnected {
		t.Errorf("State = %v, want disconnected", got)
	}
	rec.waitFor(t, "the permanent ErrorEvent", waitLimit, func() bool {
		errs := rec.errors()
		return len(errs) > 0 && errs[len(errs)-1].Permanent
	})
	if got := fs.dials.Load(); got != dials {
		t.Errorf("server saw %d dials, want %d (no retry after a permanent error)", got, dials)
	}
	if got := rec.connectionEvents(); len(got) != 0 {
		t.Errorf("connection events = %v, want none (never online)", got)
	}
}

func TestAuth_BadTokenNoProviderIsPermanent(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL(), func(cfg *client.Config) { cfg.Token = "bad" })
	rec := record(c)
	wantPermanent(t, fs, c, rec, protocol.CodeAuth, 1)
}

func TestAuth_ExpiredTokenNoProviderIsPermanent(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.expired["old"] = true })
	c := newClient(t, fs.URL(), func(cfg *client.Config) { cfg.Token = "old" })
	rec := record(c)
	wantPermanent(t, fs, c, rec, protocol.CodeTokenExpired, 1)
}

func TestAuth_ForbiddenIsPermanent(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.forbidden = true })
	c := newClient(t, fs.URL())
	rec := record(c)
	wantPermanent(t, fs, c, rec, protocol.CodeNotAllowed, 1)

	// Once the cause is fixed, Connect starts again and clears Err.
	fs.set(func(fs *fakeServer) { fs.forbidden = false })
	mustConnect(t, c)
	if c.Err() != nil {
		t.Errorf("Err after a good Connect = %v", c.Err())
	}
	rec.waitSeq(t, waitLimit, "on")
}

func TestAuth_RefreshCannotFixBadToken(t *testing.T) {
	fs := newFakeServer(t)
	var provided atomic.Int64
	c := newClient(t, fs.URL(), withTokens("bad", refreshTo(&provided, "still-bad")))
	rec := record(c)
	wantPermanent(t, fs, c, rec, protocol.CodeAuth, 2)
	if got := provided.Load(); got != 1 {
		t.Errorf("provider called %d times, want 1", got)
	}
}

func TestAuth_ExpiredTokenRefreshedOnConnect(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.expired["old"] = true; fs.tokens["new"] = true })
	var provided atomic.Int64
	c := newClient(t, fs.URL(), withTokens("old", refreshTo(&provided, "new")))
	rec := record(c)
	mustConnect(t, c)
	rec.waitSeq(t, waitLimit, "on")
	if got := provided.Load(); got != 1 {
		t.Errorf("provider called %d times, want 1", got)
	}
	// The token expires while connected; the next connect refreshes it.
	fs.set(func(fs *fakeServer) { fs.expired["new"] = true; fs.tokens["newer"] = true })
	c2 := newClient(t, fs.URL(), withTokens("", func(ctx context.Context) (string, error) { return "newer", nil }))
	mustConnect(t, c2)
}

func TestAuth_ProviderTemporaryFailureRetried(t *testing.T) {
	fs := newFakeServer(t)
	var calls atomic.Int64
	c := newClient(t, fs.URL(), withTokens("", func(ctx context.Context) (string, error) {
		if calls.Add(1) < 3 {
			return "", &client.TransportError{Op: "fetch token", Err: errors.New("offline")}
		}
		return "good", nil
	}))
	rec := record(c)
	mustConnect(t, c)
	rec.waitSeq(t, waitLimit, "on")
	errs := rec.errors()
	if len(errs) != 2 {
		t.Fatalf("errors = %v, want two temporary token errors", errs)
	}
	for _, e := range errs {
		var te *client.TokenError
		if !errors.As(e.Err, &te) || e.Permanent {
			t.Errorf("error = %v (permanent %v), want a temporary *TokenError", e.Err, e.Permanent)
		}
	}
}

func TestAuth_ProviderPermanentFailureStops(t *testing.T) {
	fs := newFakeServer(t)
	boom := errors.New("no refresh token")
	c := newClient(t, fs.URL(), withTokens("", func(ctx context.Context) (string, error) { return "", boom }))
	err := c.Connect(testCtx(t))
	if !errors.Is(err, boom) {
		t.Fatalf("Connect = %v, want the provider's error", err)
	}
	if fs.dials.Load() != 0 {
		t.Error("dialed without a token")
	}
}

func TestConnect_ServiceUnavailableRetried(t *testing.T) {
	fs := newFakeServer(t)
	var n atomic.Int64
	fs.set(func(fs *fakeServer) {
		fs.connectErr = func(w http.ResponseWriter) bool {
			if n.Add(1) > 2 {
				return false
			}
			writeAPIError(w, &protocol.APIError{Code: protocol.CodeInternal, Message: "starting", StatusCode: 503})
			return true
		}
	})
	c := newClient(t, fs.URL())
	rec := record(c)
	mustConnect(t, c)
	if got := len(rec.errors()); got != 2 {
		t.Errorf("errors = %d, want 2", got)
	}
}

func TestConnect_WrongURLIsPermanent(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL()+"/nothing-here")
	err := c.Connect(testCtx(t))
	if !client.IsPermanent(err) {
		t.Fatalf("Connect = %v, want a permanent error", err)
	}
}

func TestConnect_ContextEndsFirstKeepsTrying(t *testing.T) {
	c := newClient(t, apitest.DeadURL(t))
	rec := record(c)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Connect(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect = %v, want context.Canceled", err)
	}
	if got := c.State(); got != client.StateConnecting {
		t.Fatalf("State = %v, want connecting (trying in the background)", got)
	}
	rec.waitFor(t, "two failed attempts", waitLimit, func() bool { return len(rec.errors()) >= 2 })
	// Disconnect stops the attempts, and a Connect waiting returns
	// ErrDisconnected. (Disconnect is repeated in case the goroutine's
	// Connect came after it and started connecting again.)
	waiting := make(chan error, 1)
	go func() { waiting <- c.Connect(context.Background()) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		c.Disconnect()
		select {
		case err := <-waiting:
			if !errors.Is(err, client.ErrDisconnected) {
				t.Errorf("waiting Connect = %v, want ErrDisconnected", err)
			}
			if got := c.State(); got != client.StateDisconnected {
				t.Errorf("State = %v, want disconnected", got)
			}
			return
		case <-tick.C:
		}
	}
}
