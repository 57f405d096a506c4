package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// Server is the sync server. It is an http.Handler; make one with New.
type Server struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	mux    *http.ServeMux
	hub    *hub
	broker Broker

	metrics *metrics
	streams atomic.Int64 // open GET /events streams (also in hub)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	limits *limits // per-user rate limits (ratelimit.go)
	rules  ruleBook

	idMu     sync.Mutex
	serverID string // the store's ServerID, once read (identity.go)
}

// New returns a Server that serves at once and prunes events in the
// background until Close.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, mux: http.NewServeMux(), hub: newHub(cfg.Logger),
		ctx: ctx, cancel: cancel}
	s.metrics = newMetrics(s)
	s.hub.onDrop = func(n int) { s.metrics.fanoutDrops.Add(float64(n)) }
	s.broker = newLocalBroker(s.hub.send, cfg.Logger, cfg.ReorderWait)
	if f, ok := cfg.Store.(CommitFeed); ok {
		// Several nodes share the store: learn of their commits too.
		s.broker = newClusterBroker(ctx, f, s.broker, cfg.Logger)
	}
	s.routes()
	s.limits = newLimits(cfg)
	if err := s.startRules(ctx); err != nil {
		cancel()
		s.broker.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.pruneLoop()
	return s, nil
}

// Close stops the retention loop and closes every WebSocket, and waits for
// them. It is idempotent. In-flight REST requests are the http.Server's to
// drain (Shutdown).
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.broker.Close()
		s.hub.close()
		s.wg.Wait()
	})
	return nil
}

func (s *Server) routes() {
	h := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, user string) error) {
		s.mux.Handle(pattern, s.authed(fn))
	}
	s.mux.HandleFunc("GET "+protocol.PathHealthz, s.handleHealthz)
	s.mux.HandleFunc("GET "+PathReadyz, s.handleReadyz)
	s.mux.Handle("GET "+PathMetrics, s.metrics.handler())
	s.mux.HandleFunc("GET "+protocol.PathEvents, s.handleEvents)
	h("POST "+protocol.PathSession, s.handleSession)
	s.mux.HandleFunc("DELETE "+protocol.PathSession, s.handleEndSession)
	s.webRoutes()
	h("GET "+protocol.PathConnect, s.handleConnect)
	h("POST "+protocol.PathSync, s.handleSync)
	h("POST "+protocol.PathChannels, s.handleCreateChannel)
	h("POST "+protocol.PathQueryChannels, s.handleQueryChannels)
	h("GET "+protocol.PathChannel, s.handleGetChannel)
	h("PUT "+protocol.PathChannel, s.handleUpdateChannel)
	h("DELETE "+protocol.PathChannel, s.handleDeleteChannel)
	h("POST "+protocol.PathTruncate, s.handleTruncateChannel)
	h("PUT "+protocol.PathMemberRole, s.handleSetRole)
	h("POST "+protocol.PathMembers, s.handleAddMembers)
	h("DELETE "+protocol.PathMember, s.handleRemoveMember)
	h("POST "+protocol.PathHideChannel, s.handleHideChannel)
	h("POST "+protocol.PathShowChannel, s.handleShowChannel)
	h("POST "+protocol.PathMessages, s.handleSendMessage)
	h("GET "+protocol.PathMessages, s.handleQueryMessages)
	h("GET "+protocol.PathHistory, s.handleHistory)
	h("POST "+protocol.PathRead, s.handleMarkRead)
	h("POST "+protocol.PathUnread, s.handleMarkUnread)
	h("POST "+protocol.PathChannelEvents, s.handleSendEvent)
	h("PUT "+protocol.PathMessage, s.handleUpdateMessage)
	h("DELETE "+protocol.PathMessage, s.handleDeleteMessage)
	h("POST "+protocol.PathUndeleteMessage, s.handleUndeleteMessage)
	h("POST "+protocol.PathReactions, s.handleSendReaction)
	h("DELETE "+protocol.PathReaction, s.handleDeleteReaction)
	h("PUT "+protocol.PathMe, s.handleUpdateMe)
	h("POST "+protocol.PathBatch, s.handleBatch)
	h("GET "+protocol.PathRecords, s.handleRecords)
	h("GET "+protocol.PathRecord, s.handleGetRecord)
	h("POST "+protocol.PathRecord, s.handleCreateRecord)
	h("PUT "+protocol.PathRecord, s.handleReplaceRecord)
	h("PATCH "+protocol.PathRecord, s.handlePatchRecord)
	h("DELETE "+protocol.PathRecord, s.handleDeleteRecord)
}

// ServeHTTP serves the API. Unknown paths get 404 and wrong methods 405,
// both with the JSON error body; a handler panic is logged and answered
// with 500. A browser origin that is not allowed gets 403 (see
// Config.AllowedOrigins). Each request is counted in the metrics and
// logged in one line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_, route := s.mux.Handler(r)
	if route == "" {
		route = "unmatched"
	}
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	defer func() {
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		entry := newAccessEntry(r, route, info)
		info.finished(func() {
			d := time.Since(start)
			s.metrics.observeRequest(route, status, d)
			s.logRequest(entry, status, d)
		})
	}()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("server: handler panicked", "panic", fmt.Sprint(v), "path", r.URL.Path, "stack", string(debug.Stack()))
			writeError(w, protocol.NewAPIError(protocol.CodeInternal, "internal error"))
		}
	}()
	if !s.checkOrigin(w, r) {
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// Tell 404 from 405 with a JSON body instead of the mux's text.
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := s.mux.Handler(probe); p != "" {
				writeError(w, &protocol.APIError{Code: protocol.CodeInput, StatusCode: http.StatusMethodNotAllowed,
					Message: r.Method + " is not allowed on " + r.URL.Path})
				return
			}
		}
		writeError(w, protocol.NewAPIError(protocol.CodeNotFound, "no such endpoint: %s", r.URL.Path))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authed checks the token, caps the body, and turns a returned error into
// the JSON error body.
func (s *Server) authed(fn func(w http.ResponseWriter, r *http.Request, user string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, aerr := s.authenticate(r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if err := s.checkServerID(r); err != nil {
			setRequestUser(r, user)
			s.fail(w, r, err)
			return
		}
		if err := s.limitRequest(r, user); err != nil {
			s.fail(w, r, err)
			return
		}
		setRequestUser(r, user)
		for name := range r.URL.Query() {
			if !allowedParam(r.Pattern, name) {
				writeError(w, protocol.NewAPIError(protocol.CodeInput, "unknown query parameter %q", name))
				return
			}
		}
		if err := checkVersion(r); err != nil {
			s.fail(w, r, err)
			return
		}
		limit := s.cfg.MaxBodyBytes
		if r.Pattern == "POST "+protocol.PathSync {
			limit = max(limit, s.cfg.MaxSyncBodyBytes)
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := fn(w, r, user); err != nil {
			s.fail(w, r, err)
		}
	})
}

// allowedParam reports whether a query parameter means something on the
// route: an unknown one is refused, so a client that misnames a cursor
// hears of it instead of getting the wrong page.
func allowedParam(pattern, name string) bool {
	if name == queryToken {
		return queryTokenRoutes[pattern]
	}
	switch pattern {
	case "GET " + protocol.PathMessages:
		return name == "limit" || name == "before" || name == "after"
	case "DELETE " + protocol.PathMessage:
		return name == "hard"
	case "GET " + protocol.PathRecords:
		return name == "limit" || name == "after"
	case "DELETE " + protocol.PathRecord:
		return name == "if_version"
	case "GET " + protocol.PathHistory:
		return name == "kind" || name == "epoch" || name == "before" || name == "limit"
	}
	return false
}

// fail answers with err as an APIError; anything else is a 500, logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ae, ok := protocol.AsAPIError(err); ok {
		writeError(w, ae)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeError(w, protocol.NewAPIError(protocol.CodeTimeout, "request cancelled or timed out"))
		return
	}
	if errors.Is(err, ErrStoreUnavailable) {
		s.log.Warn("server: store unavailable", "path", r.URL.Path, "error", err)
		writeError(w, storeUnavailable())
		return
	}
	s.log.Error("server: request failed", "path", r.URL.Path, "error", err)
	writeError(w, protocol.NewAPIError(protocol.CodeInternal, "internal error"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeSpliced sends as the body of a 200 the JSON object rest encodes
// to, with a first field key whose array holds items as they are: stored
// JSON goes out without a decode and encode round trip (encoding/json
// would check and compact each item again, which costs as much as the
// reads that fetched them).
func writeSpliced(w http.ResponseWriter, key string, items []json.RawMessage, rest any) error {
	tail, err := json.Marshal(rest)
	if err != nil {
		return err
	}
	n := len(key) + len(tail) + len(items) + 8
	for _, e := range items {
		n += len(e)
	}
	bp := splicedBodies.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBody {
			splicedBodies.Put(bp)
		}
	}()
	body := slices.Grow((*bp)[:0], n)
	defer func() { *bp = body }()
	body = append(body, '{')
	body = strconv.AppendQuote(body, key)
	body = append(body, ":["...)
	for i, e := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, e...)
	}
	body = append(body, ']')
	if len(tail) > len("{}") { // rest is an object: its fields follow
		body = append(body, ',')
		body = append(body, tail[1:]...)
	} else {
		body = append(body, '}')
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	// Its length, so the client reads the body into a buffer made once.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// splicedBodies holds the buffers writeSpliced writes from, for the next
// body: a sync page or a records page of a long fetch is a megabyte or
// so, every request. Write does not keep what it is given, so a buffer is
// free again once written.
var splicedBodies = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody bounds the buffers splicedBodies keeps.
const maxPooledBody = 8 << 20

func writeError(w http.ResponseWriter, e *protocol.APIError) {
	if e.StatusCode == 0 {
		e.StatusCode = protocol.StatusForCode(e.Code)
	}
	if e.StatusCode == http.StatusTooManyRequests && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(e.RetryAfter.Seconds()+0.999)))
	}
	writeJSON(w, e.StatusCode, e)
}

// decodeBody reads a strict JSON body into v: another content type is a
// 415; unknown fields, duplicate keys, wrong types, trailing data and an
// over-large body are 4xx errors.
func decodeBody(r *http.Request, v any) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	err := protocol.DecodeStrictReader(r.Body, v, "request body")
	if err == nil {
		return nil
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return protocol.NewAPIError(protocol.CodePayloadTooBig, "request body over %d bytes", tooBig.Limit)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && r.ContentLength == 0 {
		return protocol.NewAPIError(protocol.CodeInput, "request body is empty")
	}
	return inputError(err)
}

// inputError is the 400 of a body that does not decode, with the JSON
// Pointer of the value at fault when the error knows it.
func inputError(err error) *protocol.APIError {
	ae := protocol.NewAPIError(protocol.CodeInput, "%v", err)
	var de *protocol.DecodeError
	if errors.As(err, &de) {
		ae.Path = de.Pointer()
	}
	return ae
}

func (s *Server) pruneLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.Prune(s.ctx)
			s.limits.sweep()
		}
	}
}

// Prune deletes the events past the retention window and the per-channel
// bound now, as the background loop does every PruneInterval.
func (s *Server) Prune(ctx context.Context) int {
	n, err := s.store.Prune(ctx, s.cfg.Now().Add(-s.cfg.Retention), s.cfg.MaxEventsPerChannel)
	if err != nil && ctx.Err() == nil {
		s.log.Error("server: prune failed", "error", err)
	}
	if n > 0 {
		s.log.Info("server: pruned events", "count", n)
	}
	return n
}
