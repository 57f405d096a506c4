package client_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/protocol"
)

func TestREST_GarbageBodies(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL(), func(cfg *client.Config) { cfg.MaxResponseBytes = 1024 })
	ctx := testCtx(t)
	routes := map[string]func(w http.ResponseWriter){
		"ok-garbage": func(w http.ResponseWriter) { w.Write([]byte("<html>hello</html>")) },
		"ok-truncated": func(w http.ResponseWriter) {
			w.Write([]byte(`{"channel":{"cid":"a:b"`))
		},
		"ok-wrongtype": func(w http.ResponseWriter) { w.Write([]byte(`{"channel":{"cid":42}}`)) },
		"ok-trailing":  func(w http.ResponseWriter) { w.Write([]byte(`{"channel":{}} {"x":1}`)) },
		"ok-empty":     func(w http.ResponseWriter) {},
		"ok-huge": func(w http.ResponseWriter) {
			w.Write([]byte(`{"channel":{"name":"` + strings.Repeat("x", 4096) + `"}}`))
		},
		"err502-html": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>bad gateway</html>"))
		},
		"err404-text": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("404 page not found"))
		},
		"err400-emptyjson": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{}`))
		},
	}
	for id, write := range routes {
		fs.handle("GET /channels/t:"+id, func(w http.ResponseWriter, r *http.Request) { write(w) })
	}
	tests := []struct {
		id        string
		status    int
		temporary bool
		tooLarge  bool
	}{
		{"ok-garbage", 200, true, false},
		{"ok-truncated", 200, true, false},
		{"ok-wrongtype", 200, true, false},
		{"ok-trailing", 200, true, false},
		{"ok-empty", 200, true, false},
		{"ok-huge", 200, true, true},
		{"err502-html", 502, true, false},
		{"err404-text", 404, false, false},
		{"err400-emptyjson", 400, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			out, err := c.GetChannel(ctx, "t:"+tt.id)
			if out != nil {
				t.Errorf("got a response %+v with the error", out)
			}
			var de *client.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *client.DecodeError", err)
			}
			if de.StatusCode != tt.status || de.Op != "get channel" {
				t.Errorf("DecodeError = %+v, want status %d op get channel", de, tt.status)
			}
			if got := client.IsTemporary(err); got != tt.temporary {
				t.Errorf("IsTemporary = %v, want %v", got, tt.temporary)
			}
			if got := client.IsPermanent(err); got == tt.temporary {
				t.Errorf("IsPermanent = %v", got)
			}
			if got := errors.Is(err, client.ErrResponseTooLarge); got != tt.tooLarge {
				t.Errorf("errors.Is(ErrResponseTooLarge) = %v, want %v", got, tt.tooLarge)
			}
		})
	}
}

// TestREST_SyncPageWithInvalidEvent: an invalid event is dropped, the rest
// of the page comes back, so one bad event cannot stall a sync forever.
func TestREST_SyncPageWithInvalidEvent(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	fs.handle("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		ok := messageEvent(1)
		bad := messageEvent(2)
		bad.ID = "" // a stored event without an id
		writeJSON(w, protocol.SyncResponse{Events: []protocol.Event{ok, bad, messageEvent(3)}, More: true})
	})
	resp, err := c.Sync(testCtx(t), protocol.SyncRequest{Channels: []protocol.ChannelPosition{{CID: "messaging:general"}}})
	if err != nil {
		t.Fatalf("Sync = %v, want the valid events", err)
	}
	if len(resp.Events) != 2 || resp.Events[0].Seq != 1 || resp.Events[1].Seq != 3 || !resp.More {
		t.Errorf("page = %+v, want events 1 and 3 and more to come", resp)
	}
}

// TestREST_SyncPageWithMistypedEvent: an event with a wrong JSON type
// breaks decoding of the whole page; the client decodes event by event and
// keeps the good ones. A page that is not JSON at all is an error.
func TestREST_SyncPageWithMistypedEvent(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	body := `{"events":[{"id":"e1","type":"message.new","cid":"messaging:general","seq":1,"created_at":"2024-01-01T00:00:00Z"},
		{"id":"e2","type":"message.new","seq":"two","created_at":"2024-01-01T00:00:00Z"}],"synced_at":"2024-01-01T00:00:01Z",
		"feed":{"events":[{"id":"f1","type":"user.updated","seq":"x"}],"position":{"epoch":"f","seq":1}}}`
	fs.handle("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	})
	resp, err := c.Sync(testCtx(t), protocol.SyncRequest{Channels: []protocol.ChannelPosition{{CID: "messaging:general"}}})
	if err != nil || len(resp.Events) != 1 || resp.Events[0].ID != "e1" || resp.SyncedAt.IsZero() {
		t.Fatalf("Sync = %+v, %v; want e1 and the synced_at", resp, err)
	}
	if len(resp.Feed.Events) != 0 || resp.Feed.Position.Seq != 1 {
		t.Fatalf("feed = %+v; want the bad feed event dropped and the position kept", resp.Feed)
	}
	body = `{"events": [`
	_, err = c.Sync(testCtx(t), protocol.SyncRequest{Channels: []protocol.ChannelPosition{{CID: "messaging:general"}}})
	var de *client.DecodeError
	if !errors.As(err, &de) || client.NeedsReset(err) {
		t.Fatalf("truncated page: %v, want a *DecodeError that does not reset", err)
	}
}

// badFirstFrame makes the fake server's first connection misbehave with
// write, and later connections behave.
func badFirstFrame(fs *fakeServer, write func(sc *serverConn)) {
	var n atomic.Int64
	fs.set(func(fs *fakeServer) {
		fs.onConnect = func(ctx context.Context, sc *serverConn) {
			if n.Add(1) == 1 {
				write(sc)
				return
			}
			sc.send(protocol.Event{Type: protocol.EventHealthCheck, ConnectionID: sc.id})
		}
	})
}

func TestWS_BadInputBeforeOnline(t *testing.T) {
	tests := []struct {
		name   string
		write  func(sc *serverConn)
		reason string
	}{
		{"Malformed", func(sc *serverConn) { sc.sendRaw(websocket.MessageText, []byte(`{"type":`)) }, "malformed event"},
		{"Binary", func(sc *serverConn) { sc.sendRaw(websocket.MessageBinary, []byte{1, 2, 3}) }, "binary message"},
		{"NotHealthCheck", func(sc *serverConn) { sc.send(messageEvent(1)) }, "first event is message.new"},
		{"NoConnectionID", func(sc *serverConn) { sc.send(protocol.Event{Type: protocol.EventHealthCheck}) }, "first health.check has no connection_id"},
		{"Array", func(sc *serverConn) { sc.sendRaw(websocket.MessageText, []byte(`[1,2]`)) }, "malformed event"},
		{"NoType", func(sc *serverConn) { sc.sendRaw(websocket.MessageText, []byte(`{"connection_id":"x"}`)) }, "malformed event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			badFirstFrame(fs, tt.write)
			c := newClient(t, fs.URL())
			rec := record(c)
			mustConnect(t, c) // online on the second connection only
			rec.waitSeq(t, waitLimit, "on")
			if got := c.ConnectionID(); got != "conn-2" {
				t.Errorf("ConnectionID = %q, want conn-2", got)
			}
			errs := rec.errors()
			if len(errs) != 1 {
				t.Fatalf("errors = %v, want one", errs)
			}
			var fe *client.FrameError
			if !errors.As(errs[0].Err, &fe) || !strings.HasPrefix(fe.Reason, tt.reason) || errs[0].Permanent {
				t.Fatalf("error = %v, want a temporary *FrameError %q", errs[0].Err, tt.reason)
			}
			// The good connection's health.check follows its "on"; the bad
			// connection delivered nothing.
			rec.waitFor(t, "the health.check of conn-2", waitLimit, func() bool {
				return rec.count(protocol.EventHealthCheck) >= 1
			})
			if hc := rec.ofType(protocol.EventHealthCheck)[0]; hc.ConnectionID != "conn-2" {
				t.Errorf("first health.check event from %q, want conn-2", hc.ConnectionID)
			}
		})
	}
}

func TestWS_NoHealthCheckNeverOnline(t *testing.T) {
	fs := newFakeServer(t)
	badFirstFrame(fs, func(sc *serverConn) {}) // upgrade, then silence
	c := newClient(t, fs.URL())
	rec := record(c)
	mustConnect(t, c)
	rec.waitSeq(t, waitLimit, "on")
	errs := rec.errors()
	if len(errs) != 1 || !errors.Is(errs[0].Err, client.ErrHealthTimeout) {
		t.Fatalf("errors = %v, want one health timeout", errs)
	}
}

func TestWS_BadInputWhileOnline(t *testing.T) {
	tests := []struct {
		name  string
		write func(sc *serverConn)
		check func(t *testing.T, err error)
	}{
		{"Malformed", func(sc *serverConn) { sc.sendRaw(websocket.MessageText, []byte("not json")) },
			func(t *testing.T, err error) {
				var pe *protocol.DecodeError
				if !errors.As(err, &pe) {
					t.Errorf("err = %v, want a *protocol.DecodeError inside", err)
				}
			}},
		{"Trailing", func(sc *serverConn) { sc.sendRaw(websocket.MessageText, []byte(`{"type":"typing.start"} {}`)) }, nil},
		{"MissingID", func(sc *serverConn) {
			ev := messageEvent(1)
			ev.ID = ""
			sc.send(ev)
		}, nil},
		{"BadCID", func(sc *serverConn) {
			ev := messageEvent(1)
			ev.CID = "nocolon"
			sc.send(ev)
		}, nil},
		{"Binary", func(sc *serverConn) { sc.sendRaw(websocket.MessageBinary, []byte("{}")) }, nil},
		{"Huge", func(sc *serverConn) {
			sc.sendRaw(websocket.MessageText, []byte(`{"type":"typing.start","x":"`+strings.Repeat("x", 8192)+`"}`))
		}, func(t *testing.T, err error) {
			if !errors.Is(err, websocket.ErrMessageTooBig) {
				t.Errorf("err = %v, want ErrMessageTooBig inside", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			c := newClient(t, fs.URL(), func(cfg *client.Config) { cfg.MaxFrameBytes = 4096 })
			rec := record(c)
			mustConnect(t, c)
			sc := fs.nextConn(t)
			sc.send(messageEvent(1))
			tt.write(sc)
			rec.waitSeq(t, reconnectBound, "on", "off", "on", "recovered")
			errs := rec.errors()
			var fe *client.FrameError
			if len(errs) != 1 || !errors.As(errs[0].Err, &fe) || errs[0].Permanent {
				t.Fatalf("errors = %v, want one temporary *FrameError", errs)
			}
			if fe.ConnectionID != "conn-1" {
				t.Errorf("FrameError.ConnectionID = %q, want conn-1", fe.ConnectionID)
			}
			if tt.check != nil {
				tt.check(t, errs[0].Err)
			}
			// The valid event before the bad frame was delivered.
			if got := rec.count(protocol.EventMessageNew); got != 1 {
				t.Errorf("message.new delivered %d times, want 1", got)
			}
		})
	}
}

func TestWS_UnknownEventTypePassedOn(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	rec := record(c)
	got := make(chan protocol.Event, 1)
	c.On("poll.created", func(ev client.Event) { got <- ev.Event })
	mustConnect(t, c)
	sc := fs.nextConn(t)
	ev := messageEvent(1)
	ev.Type = "poll.created"
	sc.sendRaw(websocket.MessageText, []byte(`{"id":"ev-1","type":"poll.created","cid":"a:b","seq":1,"created_at":"2024-01-01T00:00:00Z","poll":{"q":"?"}}`))
	e := recv(t, got, "the poll.created event")
	if e.ID != "ev-1" {
		t.Fatalf("got %+v", e)
	}
	if got := rec.connectionEvents(); len(got) != 1 {
		t.Errorf("connection events = %v, want [on] (an unknown type is no reason to reconnect)", got)
	}
	if errs := rec.errors(); len(errs) != 0 {
		t.Errorf("errors = %v", errs)
	}
}
