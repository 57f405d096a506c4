package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
)

// TestClient_ErrClosedIsTheSDKs: the client's closed error is the SDK's
// one: an app that checks errors.Is(err, outpost.ErrClosed) matches it.
func TestClient_ErrClosedIsTheSDKs(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1")
	if err := c.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(testCtx(t)); !errors.Is(err, outpost.ErrClosed) {
		t.Errorf("Connect after Close = %v, want outpost.ErrClosed", err)
	}
	if _, err := c.GetChannel(testCtx(t), "team:a"); !errors.Is(err, outpost.ErrClosed) {
		t.Errorf("GetChannel after Close = %v, want outpost.ErrClosed", err)
	}
}

// TestClient_Misuse: what Go libraries usually guard neither panics nor
// hangs: a second Close, Close while Connect waits, and a handler that
// calls Close, Disconnect or Connect.
func TestClient_Misuse(t *testing.T) {
	t.Run("DoubleClose", func(t *testing.T) {
		fs := newFakeServer(t)
		c := newClient(t, fs.URL())
		mustConnect(t, c)
		first := c.Close(testCtx(t))
		if err := c.Close(testCtx(t)); err != first {
			t.Errorf("second Close = %v, want the first's %v", err, first)
		}
	})
	t.Run("CloseDuringConnect", func(t *testing.T) {
		c := newClient(t, "http://127.0.0.1:1") // nothing listens: Connect keeps trying
		done := make(chan error, 1)
		go func() { done <- c.Connect(context.Background()) }()
		poll(t, "connecting", waitLimit, func() bool { return c.State() == client.StateConnecting })
		if err := c.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, done, "Connect to return"); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Connect during Close = %v, want ErrClosed", err)
		}
	})
	for name, call := range map[string]func(c *client.Client) error{
		"HandlerCallsClose":      func(c *client.Client) error { return c.Close(context.Background()) },
		"HandlerCallsDisconnect": func(c *client.Client) error { c.Disconnect(); return nil },
		"HandlerCallsConnect": func(c *client.Client) error {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if err := c.Connect(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			fs := newFakeServer(t)
			c := newClient(t, fs.URL())
			returned := make(chan error, 1)
			c.On(client.EventConnectionChanged, func(ev client.Event) {
				if ev.Online {
					returned <- call(c)
				}
			})
			mustConnect(t, c)
			if err := recv(t, returned, "the handler's call to return"); err != nil {
				t.Errorf("the handler's call = %v", err)
			}
		})
	}
}

// TestClient_CloseDoesNotWaitForARunningHandler: a handler that does not
// return does not hold Close (it could be the caller); its goroutine ends
// when it returns.
func TestClient_CloseDoesNotWaitForARunningHandler(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	release, entered := make(chan struct{}), make(chan struct{})
	c.On(client.EventConnectionChanged, func(ev client.Event) {
		if ev.Online {
			close(entered)
			<-release
		}
	})
	defer close(release)
	mustConnect(t, c)
	recv(t, entered, "the handler to run")

	closed := make(chan error, 1)
	go func() { closed <- c.Close(context.Background()) }()
	if err := recv(t, closed, "Close to return while a handler runs"); err != nil {
		t.Errorf("Close = %v", err)
	}
}
