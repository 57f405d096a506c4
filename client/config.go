package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/protocol"
)

// TokenProvider returns a fresh token for the configured user. The client
// calls it when it has no token, and again each time the server says the
// token has expired (code 40). It may do I/O and should honour ctx.
type TokenProvider func(ctx context.Context) (string, error)

// Config configures a Client. New copies it, so changing a Config after New
// has no effect. ServerURL, UserID, and Token or TokenProvider are
// required; every other field may be left zero.
type Config struct {
	// ServerURL is the base URL of the sync server, such as
	// "http://127.0.0.1:8080" or "https://sync.example.com/outpost". The
	// WebSocket URL is made from it (ws/wss and the /connect path).
	// Required.
	ServerURL string

	// ServerURLs are more base URLs of the same cluster (other nodes on
	// one database), each checked like ServerURL. The client uses one base
	// URL at a time, ServerURL first, for the WebSocket and every REST
	// call; when a connection attempt fails or a connection is lost it
	// moves to the next one, in turn, before the next attempt. A refusal
	// that no node would change (a rejected token, a 403) does not move
	// it. Nil means ServerURL alone.
	ServerURLs []string

	// UserID is the id of the user the token names. Required.
	UserID string

	// Token authenticates the user. If it is empty, TokenProvider is
	// called before the first request.
	Token string

	// TokenProvider, if set, is called for a new token when the client has
	// none or the server answers that the token expired. Nil means the
	// client only ever uses Token, and an expired token stops it for good.
	TokenProvider TokenProvider

	// HTTPClient makes the REST calls and the WebSocket handshake. Nil
	// means a new client with its own transport (so that closing one
	// Client's idle connections does not touch another's). Its Timeout,
	// if set, bounds each REST call and each WebSocket dial.
	HTTPClient *http.Client

	// Logger gets the client's logs. Nil means logs are dropped.
	Logger *slog.Logger

	// MinReconnectDelay is the first delay between connection attempts;
	// each failed attempt doubles it, with jitter, up to
	// MaxReconnectDelay. Zero means 200ms.
	MinReconnectDelay time.Duration

	// MaxReconnectDelay caps the delay between connection attempts. The
	// delay is also never longer than HealthCheckInterval, so a network
	// that comes back is noticed within one health-check interval (a
	// server's Retry-After can ask for longer and is honoured). Zero means
	// 20s.
	MaxReconnectDelay time.Duration

	// HealthCheckInterval is how often the client sends a health.check
	// frame on an open connection. Zero means 25s.
	HealthCheckInterval time.Duration

	// HealthTimeout is how long an open connection may stay silent (no
	// frame at all from the server) before the client counts it as dead,
	// closes it and reconnects. It must be longer than the server's own
	// health.check interval. It also bounds each dial, the wait for the
	// first health.check after the handshake, and each write. Zero means
	// 2 * HealthCheckInterval + 5s (55s by default).
	HealthTimeout time.Duration

	// RequestTimeout bounds each REST request attempt, on top of the
	// caller's ctx. Zero means 30s; a negative value means no bound.
	RequestTimeout time.Duration

	// MaxFrameBytes is the largest WebSocket message the client accepts;
	// a larger one ends the connection with a *FrameError and a
	// reconnect. Zero means 1 MiB.
	MaxFrameBytes int64

	// MaxResponseBytes is the largest REST response body the client
	// reads; a larger one fails the call with a *DecodeError. Zero means
	// 32 MiB.
	MaxResponseBytes int64

	// clock is the source of time for reconnect delays, health checks and
	// Retry-After dates. Nil means the real clock; the package's tests set
	// a fake one (export_test.go).
	clock clock.Clock
}

// Defaults used for zero Config fields.
const (
	DefaultMinReconnectDelay   = 200 * time.Millisecond
	DefaultMaxReconnectDelay   = 20 * time.Second
	DefaultHealthCheckInterval = 25 * time.Second
	DefaultRequestTimeout      = 30 * time.Second
	DefaultMaxFrameBytes       = 1 << 20
	DefaultMaxResponseBytes    = 32 << 20
)

// maxErrorBodyBytes caps the error bodies the client reads; an APIError is
// small.
const maxErrorBodyBytes = 64 << 10

// withDefaults checks c and returns a copy with the zero fields filled,
// and the base URLs: ServerURL's, then those of ServerURLs.
func (c Config) withDefaults() (Config, []*url.URL, error) {
	if c.ServerURL == "" {
		return c, nil, &ConfigError{Field: "ServerURL", Reason: "is required"}
	}
	first, err := parseBaseURL("ServerURL", c.ServerURL)
	if err != nil {
		return c, nil, err
	}
	bases := []*url.URL{first}
	for i, raw := range c.ServerURLs {
		u, err := parseBaseURL(fmt.Sprintf("ServerURLs[%d]", i), raw)
		if err != nil {
			return c, nil, err
		}
		bases = append(bases, u)
	}
	c.ServerURLs = append([]string(nil), c.ServerURLs...)
	if c.UserID == "" {
		return c, nil, &ConfigError{Field: "UserID", Reason: "is required"}
	}
	if err := protocol.ValidateID("user id", c.UserID); err != nil {
		return c, nil, &ConfigError{Field: "UserID", Reason: err.Error()}
	}
	if c.Token == "" && c.TokenProvider == nil {
		return c, nil, &ConfigError{Field: "Token", Reason: "is required when there is no TokenProvider"}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MinReconnectDelay <= 0 {
		c.MinReconnectDelay = DefaultMinReconnectDelay
	}
	if c.MaxReconnectDelay <= 0 {
		c.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	if c.HealthCheckInterval <= 0 {
		c.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if c.MaxReconnectDelay > c.HealthCheckInterval {
		c.MaxReconnectDelay = c.HealthCheckInterval
	}
	if c.MinReconnectDelay > c.MaxReconnectDelay {
		c.MinReconnectDelay = c.MaxReconnectDelay
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = 2*c.HealthCheckInterval + 5*time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.clock == nil {
		c.clock = clock.Real()
	}
	return c, bases, nil
}

// parseBaseURL checks raw, the value of the config field named field, and
// returns it as a base URL: http or https (ws and wss map to them), with a
// host, no trailing slash, query or fragment.
func parseBaseURL(field, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, &ConfigError{Field: field, Reason: "is empty"}
	}
	base, err := url.Parse(raw)
	if err != nil {
		return nil, &ConfigError{Field: field, Reason: fmt.Sprintf("is not a URL: %v", err)}
	}
	switch base.Scheme {
	case "http", "https":
	case "ws":
		base.Scheme = "http"
	case "wss":
		base.Scheme = "https"
	default:
		return nil, &ConfigError{Field: field, Reason: fmt.Sprintf("has scheme %q, want http or https", base.Scheme)}
	}
	if base.Host == "" {
		return nil, &ConfigError{Field: field, Reason: "has no host"}
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	base.RawQuery, base.Fragment = "", ""
	return base, nil
}

var errNoToken = errors.New("client: token provider returned an empty token")

var errNoProvider = errors.New("client: no token provider configured")
