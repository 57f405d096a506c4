package client_test

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

func TestClient_Failover(t *testing.T) {
	t.Run("RefusedFirstURLMovesToSecond", func(t *testing.T) {
		a, b := newFakeServer(t), newFakeServer(t)
		a.srv.Stop() // its address now refuses connections
		var hitsB atomic.Int64
		b.handle("GET /channels/t:x", func(w http.ResponseWriter, r *http.Request) {
			hitsB.Add(1)
			writeAPIError(w, protocol.NewAPIError(protocol.CodeNotFound, "no channel"))
		})
		c := newClient(t, a.URL(), func(cfg *client.Config) { cfg.ServerURLs = []string{b.URL()} })
		mustConnect(t, c)
		if got := b.accepted.Load(); got != 1 {
			t.Fatalf("connections accepted by the second URL: got %d, want 1", got)
		}
		_, err := c.GetChannel(testCtx(t), "t:x")
		if e, ok := protocol.AsAPIError(err); !ok || e.Code != protocol.CodeNotFound {
			t.Fatalf("GetChannel: got %v, want the second URL's not-found", err)
		}
		if got := hitsB.Load(); got != 1 {
			t.Fatalf("REST calls on the second URL: got %d, want 1", got)
		}
	})

	t.Run("LostConnectionMovesToNext", func(t *testing.T) {
		a, b := newFakeServer(t), newFakeServer(t)
		c := newClient(t, a.URL(), func(cfg *client.Config) { cfg.ServerURLs = []string{b.URL()} })
		mustConnect(t, c)
		if got := a.accepted.Load(); got != 1 {
			t.Fatalf("connections accepted by the first URL: got %d, want 1", got)
		}
		a.srv.Stop()
		poll(t, "a connection through the second URL", reconnectBound, func() bool {
			return b.accepted.Load() == 1 && c.State() == client.StateConnected
		})
	})

	t.Run("UnauthorizedDoesNotMoveOn", func(t *testing.T) {
		a, b := newFakeServer(t), newFakeServer(t)
		a.set(func(fs *fakeServer) { fs.tokens = map[string]bool{} }) // "good" is refused
		c := newClient(t, a.URL(), func(cfg *client.Config) { cfg.ServerURLs = []string{b.URL()} })
		err := c.Connect(testCtx(t))
		if e, ok := protocol.AsAPIError(err); !ok || e.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Connect: got %v, want a 401", err)
		}
		if got := a.dials.Load(); got != 1 {
			t.Errorf("dials to the first URL: got %d, want 1", got)
		}
		if got := b.dials.Load(); got != 0 {
			t.Errorf("dials to the second URL: got %d, want 0", got)
		}
	})

	t.Run("BadURLNamed", func(t *testing.T) {
		_, err := client.New(client.Config{
			ServerURL:  "http://a.example",
			ServerURLs: []string{"http://b.example", "ftp://c.example"},
			UserID:     "alice",
			Token:      "good",
		})
		var ce *client.ConfigError
		if !errors.As(err, &ce) || ce.Field != "ServerURLs[1]" {
			t.Fatalf("New: got %v, want a *ConfigError for ServerURLs[1]", err)
		}
	})
}
