package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/outpostsync/outpost/protocol"
)

// Headers a browser on an allowed origin may send and read.
const (
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, " + protocol.HeaderProtocol
	corsExposeHeaders = "Retry-After"
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE"
	corsMaxAge        = 600 // seconds a browser may cache a preflight
)

// originAllowed reports whether r may be served given its Origin: none
// (not a browser, or a same-origin GET), the server's own host, or one of
// Config.AllowedOrigins. crossOrigin is set for an allowed origin other
// than the server's own, which needs CORS headers.
func (s *Server) originAllowed(r *http.Request) (allowed, crossOrigin bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true, false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false, false // "null" (sandboxed pages, file://) among them
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true, false
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), u.Scheme+"://"+u.Host) {
			return true, true
		}
	}
	return false, false
}

// originListed reports whether r's Origin is named in
// Config.AllowedOrigins, not only let in by "*": only those get
// Access-Control-Allow-Credentials.
func (s *Server) originListed(r *http.Request) bool {
	origin := strings.TrimSuffix(r.Header.Get("Origin"), "/")
	for _, o := range s.cfg.AllowedOrigins {
		if o != "*" && strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// checkOrigin refuses a request from a browser origin that is not
// allowed, answers CORS preflights, and sets the CORS headers of an
// allowed cross-origin request. It returns false when it has answered.
func (s *Server) checkOrigin(w http.ResponseWriter, r *http.Request) bool {
	allowed, cross := s.originAllowed(r)
	if !allowed {
		writeError(w, protocol.NewAPIError(protocol.CodeNotAllowed, "origin %q is not allowed", r.Header.Get("Origin")))
		return false
	}
	h := w.Header()
	if cross {
		h.Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		if s.originListed(r) {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		h.Add("Vary", "Origin")
	}
	if r.Method != http.MethodOptions {
		if cross {
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		return true
	}
	// A preflight (or a bare OPTIONS): say what is allowed and stop.
	h.Set("Allow", corsAllowMethods+", OPTIONS")
	if cross {
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
	}
	w.WriteHeader(http.StatusNoContent)
	return false
}
