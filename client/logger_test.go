package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/logtest"
)

func TestConfig_NilLoggerWritesNothing(t *testing.T) {
	logged := logtest.Capture(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	c, err := client.New(client.Config{ServerURL: gone.URL, UserID: "u", Token: "t",
		MinReconnectDelay: time.Millisecond, MaxReconnectDelay: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	// Each refused attempt is logged, but not with a nil Logger.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Connect(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect = %v, want the deadline", err)
	}
	c.Close(context.Background())
	if got := logged(); got != "" {
		t.Errorf("a nil Logger wrote to slog's default logger:\n%s", got)
	}
}
