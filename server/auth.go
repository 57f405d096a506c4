package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/token"
)

// queryTokenRoutes are the only routes that take the token as the "token"
// query parameter: those a client may have to open without setting a
// header (a browser's WebSocket or EventSource). Everywhere else a token
// in the URL is refused, because URLs end up in proxy and access logs.
var queryTokenRoutes = map[string]bool{
	"GET " + protocol.PathConnect: true,
	"GET /events":                 true, // Server-Sent Events
}

// defaultTokenLeeway is Config.TokenLeeway's zero value.
const defaultTokenLeeway = token.DefaultLeeway

// queryToken is the query parameter that carries a token on the
// queryTokenRoutes.
const queryToken = "token"

// authenticate returns the user r's token names, or the 401 to answer
// with. It never puts the token in an error or a log line.
func (s *Server) authenticate(r *http.Request) (string, *protocol.APIError) {
	tok := strings.TrimPrefix(r.Header.Get(protocol.HeaderAuthorization), "Bearer ")
	if r.URL.Query().Has(queryToken) {
		if !queryTokenRoutes[r.Pattern] {
			return "", protocol.NewAPIError(protocol.CodeAuth,
				"a token in the URL is accepted only on GET %s: send Authorization: Bearer <token>", protocol.PathConnect)
		}
		if tok == "" {
			tok = r.URL.Query().Get(queryToken)
		}
	}
	if tok == "" {
		return "", protocol.NewAPIError(protocol.CodeAuth, "missing token: send Authorization: Bearer <token>")
	}
	user, err := token.VerifyLeeway(s.cfg.Secret, tok, s.cfg.Now(), s.cfg.TokenLeeway)
	switch {
	case errors.Is(err, token.ErrExpired):
		return "", protocol.NewAPIError(protocol.CodeTokenExpired, "token expired")
	case err != nil:
		return "", protocol.NewAPIError(protocol.CodeAuth, "invalid token")
	}
	if perr := protocol.ValidateID("token user", user); perr != nil {
		return "", protocol.NewAPIError(protocol.CodeAuth, "invalid token: %v", perr)
	}
	return user, nil
}
