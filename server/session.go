package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

// Paths of the operator endpoints.
const (
	// PathReadyz answers 200 when the store answers, 503 when not.
	PathReadyz = "/readyz"
	// PathMetrics serves the Prometheus metrics.
	PathMetrics = "/metrics"
)

// sessionCookie holds the token for GET /events: an EventSource cannot
// set an Authorization header. It is HttpOnly (no script reads it),
// SameSite=Strict (no other site sends it) and taken by GET /events only,
// never by the REST API, which a cookie would open to cross-site requests.
const sessionCookie = "outpost_session"

// handleSession sets the session cookie to the request's bearer token.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request, user string) error {
	tok := strings.TrimPrefix(r.Header.Get(protocol.HeaderAuthorization), "Bearer ")
	if tok == "" {
		return protocol.NewAPIError(protocol.CodeAuth, "POST /session takes the token in the Authorization header")
	}
	_, exp, err := token.VerifyExpiry(s.cfg.Secret, tok, s.cfg.Now())
	if err != nil {
		return protocol.NewAPIError(protocol.CodeAuth, "invalid token")
	}
	ck := &http.Cookie{Name: sessionCookie, Value: tok, Path: protocol.PathEvents, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || s.cfg.SecureCookie}
	resp := protocol.SessionResponse{UserID: user}
	if !exp.IsZero() {
		ck.Expires = exp
		resp.ExpiresAt = &exp
	}
	http.SetCookie(w, ck)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// handleEndSession clears the session cookie.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: protocol.PathEvents, MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || s.cfg.SecureCookie})
	w.WriteHeader(http.StatusNoContent)
}

// handleReadyz checks that the store answers a read.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	err := s.view(r.Context(), func(tx Tx) error {
		_, err := tx.User("readyz-probe")
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		s.log.Error("server: not ready", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
