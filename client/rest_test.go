package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/apitest"
	"github.com/outpostsync/outpost/protocol"
)

// seen is what the fake server saw of one REST request.
type seen struct {
	method, path, query, body, idemKey, auth string
}

// recordRoute answers route with resp and records the request.
func recordRoute(fs *fakeServer, route string, resp any) <-chan seen {
	ch := make(chan seen, 4)
	fs.handle(route, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seen{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Get(protocol.HeaderIdempotencyKey), r.Header.Get("Authorization")}
		writeJSON(w, resp)
	})
	return ch
}

func TestREST_Calls(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	ctx := testCtx(t)
	const cid = "messaging:general"
	msg := protocol.MessageResponse{Message: protocol.Message{ID: "m1", CID: cid, Text: "hi"}}
	// Write answers name what was written (see
	// TestREST_GarbledWriteAnswerIsNotSuccess).
	reaction := protocol.ReactionResponse{Message: msg.Message, Reaction: protocol.Reaction{MessageID: "m1", CID: cid, Type: "like"}}
	read := protocol.ReadResponse{Read: protocol.Read{CID: cid}}
	tests := []struct {
		name, route        string
		resp               any
		call               func() (any, error)
		wantBody, wantIdem string
		wantQuery          string
	}{
		{"SendMessage", "POST /channels/messaging:general/messages", msg,
			func() (any, error) {
				return c.SendMessage(ctx, cid, protocol.SendMessageRequest{Message: protocol.MessageInput{ID: "m1", Text: "hi"}})
			}, `{"message":{"id":"m1","text":"hi"}}`, "", ""},
		{"UpdateMessage", "PUT /messages/m1", msg,
			func() (any, error) {
				return c.UpdateMessage(ctx, "m1", protocol.UpdateMessageRequest{Text: "edited"}, client.IdempotencyKey("k-upd"))
			}, `{"text":"edited"}`, "k-upd", ""},
		{"DeleteMessageSoft", "DELETE /messages/m1", msg,
			func() (any, error) {
				return c.DeleteMessage(ctx, "m1", protocol.DeleteMessageBody{}, client.IdempotencyKey("k-del"))
			}, "", "k-del", ""},
		{"DeleteMessageHard", "DELETE /messages/m1", msg,
			func() (any, error) { return c.DeleteMessage(ctx, "m1", protocol.DeleteMessageBody{Hard: true}) }, "", "", "hard=true"},
		{"UndeleteMessage", "POST /messages/m1/undelete", msg,
			func() (any, error) { return c.UndeleteMessage(ctx, "m1", client.IdempotencyKey("k-und")) }, "", "k-und", ""},
		{"SendReaction", "POST /messages/m1/reactions", reaction,
			func() (any, error) {
				return c.SendReaction(ctx, "m1", protocol.SendReactionRequest{Type: "like", Score: 2}, client.IdempotencyKey("k-r"))
			}, `{"type":"like","score":2}`, "k-r", ""},
		{"DeleteReaction", "DELETE /messages/m1/reactions/like", reaction,
			func() (any, error) { return c.DeleteReaction(ctx, "m1", "like", client.IdempotencyKey("k-dr")) }, "", "k-dr", ""},
		{"MarkRead", "POST /channels/messaging:general/read", read,
			func() (any, error) {
				return c.MarkRead(ctx, cid, protocol.MarkReadRequest{MessageID: "m1"}, client.IdempotencyKey("k-read"))
			},
			`{"message_id":"m1"}`, "k-read", ""},
		{"MarkUnread", "POST /channels/messaging:general/unread", read,
			func() (any, error) {
				return c.MarkUnread(ctx, cid, protocol.MarkUnreadRequest{MessageID: "m1"}, client.IdempotencyKey("k-unread"))
			}, `{"message_id":"m1"}`, "k-unread", ""},
		{"QueryChannels", "POST /channels/query", protocol.QueryChannelsResponse{},
			func() (any, error) { return c.QueryChannels(ctx, protocol.QueryChannelsRequest{Limit: 5}) },
			`{"limit":5}`, "", ""},
		{"GetChannel", "GET /channels/messaging:general", protocol.ChannelResponse{},
			func() (any, error) { return c.GetChannel(ctx, cid) }, "", "", ""},
		{"CreateChannel", "POST /channels", protocol.ChannelResponse{},
			func() (any, error) {
				return c.CreateChannel(ctx, protocol.CreateChannelRequest{Type: "messaging", ID: "general", Members: []string{"alice"}})
			}, `{"type":"messaging","id":"general","members":["alice"]}`, "", ""},
		{"AddMembers", "POST /channels/messaging:general/members", protocol.MembersResponse{},
			func() (any, error) { return c.AddMembers(ctx, cid, []string{"bob"}, client.IdempotencyKey("k-add")) },
			`{"user_ids":["bob"]}`, "k-add", ""},
		{"RemoveMember", "DELETE /channels/messaging:general/members/bob", protocol.MembersResponse{},
			func() (any, error) { return c.RemoveMember(ctx, cid, "bob", client.IdempotencyKey("k-rm")) }, "", "k-rm", ""},
		{"QueryMessages", "GET /channels/messaging:general/messages", protocol.MessagesResponse{},
			func() (any, error) { return c.QueryMessages(ctx, cid, client.MessagesQuery{Limit: 10, Before: "m9"}) },
			"", "", "before=m9&limit=10"},
		{"SendEvent", "POST /channels/messaging:general/events", protocol.EventResponse{},
			func() (any, error) { return c.SendEvent(ctx, cid, protocol.EventTypingStart) },
			`{"type":"typing.start"}`, "", ""},
		{"Sync", "POST /sync", protocol.SyncResponse{More: true},
			func() (any, error) {
				return c.Sync(ctx, protocol.SyncRequest{Channels: []protocol.ChannelPosition{{CID: cid, Position: protocol.Position{Epoch: "e", Seq: 3, EventID: "x"}}}, LastSyncAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
			}, `{"version":2,"last_sync_at":"2024-01-01T00:00:00Z","channels":[{"cid":"messaging:general","epoch":"e","seq":3,"event_id":"x"}]}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := recordRoute(fs, tt.route, tt.resp)
			out, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if out == nil {
				t.Fatal("nil response")
			}
			s := <-ch
			if got := s.method + " " + s.path; got != tt.route {
				t.Errorf("route = %s, want %s", got, tt.route)
			}
			if got := strings.TrimSpace(s.body); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if s.idemKey != tt.wantIdem {
				t.Errorf("Idempotency-Key = %q, want %q", s.idemKey, tt.wantIdem)
			}
			if s.query != tt.wantQuery {
				t.Errorf("query = %q, want %q", s.query, tt.wantQuery)
			}
			if s.auth != "Bearer good" {
				t.Errorf("Authorization = %q", s.auth)
			}
		})
	}
}

func TestREST_InvalidInputNotSent(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	ctx := testCtx(t)
	calls := map[string]func() error{
		"BadCID": func() error { _, err := c.GetChannel(ctx, "no-colon"); return err },
		"NoMessageID": func() error {
			_, err := c.SendMessage(ctx, "a:b", protocol.SendMessageRequest{})
			return err
		},
		"BadEventType": func() error { _, err := c.SendEvent(ctx, "a:b", protocol.EventMessageNew); return err },
		"BadMember":    func() error { _, err := c.AddMembers(ctx, "a:b", []string{"x y"}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			var ve *protocol.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *protocol.ValidationError", err)
			}
			if !client.IsPermanent(err) {
				t.Error("IsPermanent(validation error) = false")
			}
		})
	}
}

func TestREST_APIErrors(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	ctx := testCtx(t)
	fs.handle("GET /channels/a:forbidden", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, protocol.NewAPIError(protocol.CodeNotAllowed, "not a member"))
	})
	fs.handle("GET /channels/a:busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3")
		writeAPIError(w, protocol.NewAPIError(protocol.CodeRateLimited, "slow down"))
	})
	fs.handle("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, protocol.NewAPIError(protocol.CodeSyncPositionTooOld, "too old"))
	})

	_, err := c.GetChannel(ctx, "a:forbidden")
	e, ok := protocol.AsAPIError(err)
	if !ok || e.Code != protocol.CodeNotAllowed || e.StatusCode != 403 {
		t.Fatalf("err = %v, want APIError code 17", err)
	}
	if !client.IsPermanent(err) || client.IsTemporary(err) {
		t.Error("403 not classified permanent")
	}

	start := time.Now()
	_, err = c.GetChannel(ctx, "a:busy")
	if d, ok := client.RetryAfter(err); !ok || d != 3*time.Second {
		t.Fatalf("RetryAfter = %v, %v; want 3s", d, ok)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("the call slept on Retry-After")
	}
	if !client.IsTemporary(err) {
		t.Error("429 not temporary")
	}

	_, err = c.Sync(ctx, protocol.SyncRequest{Channels: []protocol.ChannelPosition{{CID: "a:b"}}})
	if !client.NeedsReset(err) {
		t.Errorf("NeedsReset(%v) = false", err)
	}
	// Unknown paths are the server's 404.
	_, err = c.GetChannel(ctx, "a:none")
	if e, ok := protocol.AsAPIError(err); !ok || e.Code != protocol.CodeNotFound {
		t.Errorf("err = %v, want code 16", err)
	}
}

func TestREST_ExpiredTokenRefreshedOnce(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.expired["old"] = true; fs.tokens["new"] = true })
	var provided atomic.Int64
	c := newClient(t, fs.URL(), withTokens("old", refreshTo(&provided, "new")))
	ch := recordRoute(fs, "GET /channels/a:b", protocol.ChannelResponse{})
	if _, err := c.GetChannel(testCtx(t), "a:b"); err != nil {
		t.Fatal(err)
	}
	if got := provided.Load(); got != 1 {
		t.Errorf("provider called %d times, want 1", got)
	}
	if s := <-ch; s.auth != "Bearer new" {
		t.Errorf("retried with %q", s.auth)
	}
	// The new token is kept.
	if _, err := c.GetChannel(testCtx(t), "a:b"); err != nil {
		t.Fatal(err)
	}
	if got := provided.Load(); got != 1 {
		t.Errorf("provider called %d times after a second call, want 1", got)
	}
}

func TestREST_ExpiredTokenRetriedOnlyOnce(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.expired["old"] = true; fs.expired["also-old"] = true })
	var provided atomic.Int64
	c := newClient(t, fs.URL(), withTokens("old", refreshTo(&provided, "also-old")))
	_, err := c.GetChannel(testCtx(t), "a:b")
	if e, ok := protocol.AsAPIError(err); !ok || e.Code != protocol.CodeTokenExpired {
		t.Fatalf("err = %v, want code 40", err)
	}
	if got := provided.Load(); got != 1 {
		t.Errorf("provider called %d times, want 1", got)
	}
}

func TestREST_NoProviderExpiredIsReturned(t *testing.T) {
	fs := newFakeServer(t)
	fs.set(func(fs *fakeServer) { fs.expired["old"] = true })
	c := newClient(t, fs.URL(), func(cfg *client.Config) { cfg.Token = "old" })
	_, err := c.GetChannel(testCtx(t), "a:b")
	if e, ok := protocol.AsAPIError(err); !ok || e.Code != protocol.CodeTokenExpired {
		t.Fatalf("err = %v, want code 40", err)
	}
}

func TestREST_TokenProviderFailure(t *testing.T) {
	fs := newFakeServer(t)
	boom := errors.New("boom")
	c := newClient(t, fs.URL(), withTokens("", func(ctx context.Context) (string, error) { return "", boom }))
	_, err := c.GetChannel(testCtx(t), "a:b")
	var te *client.TokenError
	if !errors.As(err, &te) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want a *TokenError wrapping boom", err)
	}
}

func TestREST_TransportError(t *testing.T) {
	c := newClient(t, apitest.DeadURL(t))
	_, err := c.GetChannel(testCtx(t), "a:b")
	var te *client.TransportError
	if !errors.As(err, &te) || te.Op != "get channel" {
		t.Fatalf("err = %v, want a *TransportError for get channel", err)
	}
	if !client.IsTemporary(err) || client.IsPermanent(err) {
		t.Error("transport error not temporary")
	}
}

func TestREST_CancelledContext(t *testing.T) {
	fs := newFakeServer(t)
	c := newClient(t, fs.URL())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.GetChannel(ctx, "a:b")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if client.IsTemporary(err) || client.IsPermanent(err) {
		t.Error("a cancelled call classified as temporary or permanent")
	}
}

func TestREST_RequestTimeout(t *testing.T) {
	fs := newFakeServer(t)
	release := make(chan struct{})
	defer close(release)
	fs.handle("GET /channels/a:slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := newClient(t, fs.URL(), func(cfg *client.Config) { cfg.RequestTimeout = 50 * time.Millisecond })
	_, err := c.GetChannel(testCtx(t), "a:slow")
	var te *client.TransportError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a *TransportError wrapping DeadlineExceeded", err)
	}
	if !client.IsTemporary(err) {
		t.Error("timeout not temporary")
	}
}

func TestClassification(t *testing.T) {
	api := func(code int) error { return protocol.NewAPIError(code, "x") }
	tests := []struct {
		name              string
		err               error
		temp, perm, reset bool
	}{
		{"Nil", nil, false, false, false},
		{"Input", api(protocol.CodeInput), false, true, false},
		{"Auth", api(protocol.CodeAuth), false, true, false},
		{"NotFound", api(protocol.CodeNotFound), false, true, false},
		{"NotAllowed", api(protocol.CodeNotAllowed), false, true, false},
		{"TooBig", api(protocol.CodePayloadTooBig), false, true, false},
		{"Timeout408", api(protocol.CodeTimeout), true, false, false},
		{"RateLimited", api(protocol.CodeRateLimited), true, false, false},
		{"Internal", api(protocol.CodeInternal), true, false, false},
		{"Unknown5xx", &protocol.APIError{Code: 99, StatusCode: 502}, true, false, false},
		{"Unknown4xx", &protocol.APIError{Code: 98, StatusCode: 418}, false, true, false},
		{"PositionTooOld", api(protocol.CodeSyncPositionTooOld), false, true, true},
		{"HistoryLost", api(protocol.CodeSyncHistoryLost), false, true, true},
		{"Transport", &client.TransportError{Op: "x", Err: errors.New("reset")}, true, false, false},
		{"Deadline", context.DeadlineExceeded, true, false, false},
		{"Canceled", context.Canceled, false, false, false},
		{"Closed", client.ErrClosed, false, false, false},
		{"GarbledOK", &client.DecodeError{Op: "x", StatusCode: 200}, true, false, false},
		{"Garbled502", &client.DecodeError{Op: "x", StatusCode: 502}, true, false, false},
		{"Garbled404", &client.DecodeError{Op: "x", StatusCode: 404}, false, true, false},
		{"Validation", &protocol.ValidationError{Field: "cid"}, false, true, false},
		{"Frame", &client.FrameError{Reason: "x", Err: &protocol.DecodeError{What: "event", Err: &protocol.ValidationError{Field: "id"}}}, true, false, false},
		{"GarbledEventInPage", &client.DecodeError{Op: "sync", StatusCode: 200, Err: &protocol.ValidationError{Field: "id"}}, true, false, false},
		{"Other", errors.New("what"), false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := client.IsTemporary(tt.err); got != tt.temp {
				t.Errorf("IsTemporary = %v, want %v", got, tt.temp)
			}
			if got := client.IsPermanent(tt.err); got != tt.perm {
				t.Errorf("IsPermanent = %v, want %v", got, tt.perm)
			}
			if got := client.NeedsReset(tt.err); got != tt.reset {
				t.Errorf("NeedsReset = %v, want %v", got, tt.reset)
			}
		})
	}
	// Wrapping keeps the classification.
	wrapped := fmt.Errorf("ctx: %w", api(protocol.CodeNotAllowed))
	if !client.IsPermanent(wrapped) {
		t.Error("wrapped 403 not permanent")
	}
}
