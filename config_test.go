package outpost_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/internal/logtest"
)

// TestOpen_RefusesAClientConfigThatDiffers: the fields Open sets in
// Config.Client from Config itself are never overwritten silently; a
// different value there is refused, naming the field.
func TestOpen_RefusesAClientConfigThatDiffers(t *testing.T) {
	tokens := func(context.Context) (string, error) { return "t", nil }
	tests := []struct {
		name  string
		edit  func(*outpost.Config)
		field string
	}{
		{"ServerURLs", func(c *outpost.Config) { c.Client.ServerURLs = []string{"http://127.0.0.1:2"} }, "Client.ServerURLs"},
		{"ServerURLsOfBoth", func(c *outpost.Config) {
			c.ServerURLs = []string{"http://127.0.0.1:2"}
			c.Client.ServerURLs = []string{"http://127.0.0.1:3"}
		}, "Client.ServerURLs"},
		{"ServerURL", func(c *outpost.Config) { c.Client.ServerURL = "http://127.0.0.1:2" }, "Client.ServerURL"},
		{"UserID", func(c *outpost.Config) { c.Client.UserID = "bob" }, "Client.UserID"},
		{"Token", func(c *outpost.Config) { c.Client.Token = "other" }, "Client.Token"},
		{"TokenProvider", func(c *outpost.Config) { c.Client.TokenProvider = tokens }, "Client.TokenProvider"},
		{"HTTPClient", func(c *outpost.Config) {
			c.HTTPClient = &http.Client{}
			c.Client.HTTPClient = &http.Client{}
		}, "Client.HTTPClient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := outpost.Config{ServerURL: "http://127.0.0.1:1", UserID: "alice", Token: "t",
				DBPath: filepath.Join(t.TempDir(), "alice.db"), ConnectTimeout: -1}
			tt.edit(&cfg)
			c, err := outpost.Open(context.Background(), cfg)
			if err == nil {
				c.Close(context.Background())
				t.Fatal("Open accepted a Config.Client that differs from Config")
			}
			var ce *outpost.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("Open = %v, want a *outpost.ConfigError naming %s", err, tt.field)
			}
		})
	}

	// The same values in both places are no conflict.
	same := outpost.Config{ServerURL: "http://127.0.0.1:1", ServerURLs: []string{"http://127.0.0.1:2"}, UserID: "alice", Token: "t",
		DBPath: filepath.Join(t.TempDir(), "alice.db"), ConnectTimeout: -1}
	same.Client.ServerURL, same.Client.ServerURLs, same.Client.UserID, same.Client.Token = same.ServerURL, same.ServerURLs, same.UserID, same.Token
	c, err := outpost.Open(context.Background(), same)
	if err != nil {
		t.Fatalf("Open with equal values = %v", err)
	}
	c.Close(context.Background())
}

// TestOpen_NilLoggerWritesNothing: a nil Logger means no logs in every
// part, the store's included.
func TestOpen_NilLoggerWritesNothing(t *testing.T) {
	logged := logtest.Capture(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // connections are refused: the client logs its retries
	path := filepath.Join(t.TempDir(), "alice.db")
	if err := os.WriteFile(path, []byte("not a database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := outpost.Config{ServerURL: gone.URL, UserID: "alice", Token: "t", DBPath: path,
		ConnectTimeout: 100 * time.Millisecond, Sync: offlineSync()}
	cfg.Store.MoveAside = true // the store logs the move
	cfg.Client.MinReconnectDelay, cfg.Client.MaxReconnectDelay = time.Millisecond, 10*time.Millisecond
	c, err := outpost.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background()) // its error (the outbox could not be sent) is not this test's
	if got := logged(); got != "" {
		t.Errorf("a nil Logger wrote to slog's default logger:\n%s", got)
	}
}
