package client

import (
	"context"
	"net/http"

	"github.com/outpostsync/outpost/protocol"
)

// currentToken returns the token to send, asking the provider for one if
// the client has none yet.
func (c *Client) currentToken(ctx context.Context) (string, error) {
	c.tokenMu.Lock()
	tok := c.token
	c.tokenMu.Unlock()
	if tok != "" {
		return tok, nil
	}
	return c.refreshToken(ctx, "")
}

// refreshToken asks the provider for a token to replace stale, the one a
// request was rejected with. Calls that race on the same stale token share
// one provider call: a caller that finds the token already replaced uses
// the new one.
func (c *Client) refreshToken(ctx context.Context, stale string) (string, error) {
	if c.cfg.TokenProvider == nil {
		return "", &TokenError{Err: errNoProvider}
	}
	select {
	case c.refreshing <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.refreshing }()

	c.tokenMu.Lock()
	tok := c.token
	c.tokenMu.Unlock()
	if tok != "" && tok != stale {
		return tok, nil
	}
	tok, err := c.cfg.TokenProvider(ctx)
	if err != nil {
		return "", &TokenError{Err: err}
	}
	if tok == "" {
		return "", &TokenError{Err: errNoToken}
	}
	c.tokenMu.Lock()
	c.token = tok
	c.tokenMu.Unlock()
	c.log.Debug("outpost client: token refreshed")
	return tok, nil
}

// isAuthRejection reports whether err is the server rejecting the token,
// which a new token may cure: expired (code 40) or, on the WebSocket, any
// authentication failure (code 5).
func isAuthRejection(err error, anyAuth bool) bool {
	e, ok := protocol.AsAPIError(err)
	if !ok {
		return false
	}
	if e.Code == protocol.CodeTokenExpired {
		return true
	}
	return anyAuth && (e.Code == protocol.CodeAuth || (e.Code == 0 && e.StatusCode == http.StatusUnauthorized))
}
