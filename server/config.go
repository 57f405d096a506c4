package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/outpostsync/outpost/protocol"
)

// Config configures a Server.
type Config struct {
	// Store keeps state and events. Required.
	Store Store
	// Secret verifies the HS256 tokens. Required.
	Secret []byte

	// TokenLeeway is the clock skew allowed when checking a token's times:
	// a token is accepted up to this long past its exp, and refused when
	// its nbf or iat is more than this far in the future. Zero means
	// token.DefaultLeeway (5s); negative means none.
	TokenLeeway time.Duration

	// Retention is how long events are kept, and so how old a sync
	// position may be. Zero means 30 days.
	Retention time.Duration
	// MaxEventsPerChannel, if positive, keeps only that many newest events
	// of each channel; older sync positions get "history lost".
	MaxEventsPerChannel int
	// PruneInterval is how often the retention loop runs. Zero means 1m.
	PruneInterval time.Duration

	// MaxBodyBytes caps request bodies (413 above it). Zero means 1 MiB.
	MaxBodyBytes int64
	// MaxSyncBodyBytes caps POST /sync bodies, which carry up to
	// MaxSyncChannels positions; never below MaxBodyBytes. Zero means
	// 8 MiB: protocol.MaxSyncChannels positions of the longest cids, with
	// epochs and event ids as this server makes them.
	MaxSyncBodyBytes int64
	// SyncPageDefault and SyncPageMax bound a sync page's events. Zero
	// means 500 and 2000.
	SyncPageDefault, SyncPageMax int
	// SyncPageMaxBytes bounds a sync page's events by their size: a
	// page ends before the event that would take it over (with one event
	// at least). Zero means 4 MiB.
	SyncPageMaxBytes int
	// MaxSyncChannels caps the channel positions in one sync request.
	// Zero, or more than protocol.MaxSyncChannels, means
	// protocol.MaxSyncChannels.
	MaxSyncChannels int

	// HealthInterval is how often a WebSocket gets a health.check. Zero
	// means 10s. HealthTimeout is how long a client may stay silent before
	// its WebSocket is closed. Zero means 3 * HealthInterval, at least 60s.
	HealthInterval, HealthTimeout time.Duration
	// SendBuffer is how many events may wait for one slow WebSocket
	// before it is cut off. Zero means 256.
	SendBuffer int
	// ReorderWait is how long a node holds a live event that was
	// published before the event ahead of it in its log (two writes of
	// one channel commit in seq order but may publish in the other):
	// once it passes, the event goes out anyway and the client syncs over
	// the gap. Longer waits mean fewer false gaps on a loaded node, later
	// events when a publish is lost. Zero means 50ms.
	ReorderWait time.Duration

	// WritesPerSecond is each user's sustained rate of writes (every
	// POST, PUT, PATCH and DELETE but sync and channel queries; a batch
	// is one write, whatever its ops), and WriteBurst how many may come at once. Over it: 429
	// with Retry-After. Zero means 50 and 200; a negative WritesPerSecond
	// means no limit.
	WritesPerSecond float64
	WriteBurst      int
	// SyncsPerMinute caps each user's sync requests (each page is one),
	// with a burst of a sixth of it. Zero means 1200; negative means no
	// limit.
	SyncsPerMinute int
	// MaxConnsPerUser caps each user's open WebSockets; one more gets 429.
	// Zero means 20; negative means no limit.
	MaxConnsPerUser int
	// WSMessagesPerSecond caps what one WebSocket may send the server
	// (health checks) per second, with a burst of twice that; a
	// connection over it is closed (1008). Zero means 10; negative means
	// no limit.
	WSMessagesPerSecond float64

	// AllowedOrigins lists the browser origins ("https://app.example.com")
	// other than the server's own that may call the API: REST gets CORS
	// headers for them, and GET /connect and GET /events accept them.
	// A request with an Origin not listed (and not the server's own) is
	// refused with 403; requests without an Origin (non-browser clients)
	// pass. "*" allows every origin. Nil means none.
	AllowedOrigins []string

	// StreamHeartbeat is how often GET /events sends a comment to keep
	// the stream alive through proxies. Zero means 20s.
	StreamHeartbeat time.Duration
	// StreamRetry is the reconnect delay GET /events tells browsers (its
	// retry: field). Zero means 2s.
	StreamRetry time.Duration
	// StreamWriteTimeout bounds one write to a stream or WebSocket: a
	// reader slower than that is cut off. Zero means 10s.
	StreamWriteTimeout time.Duration
	// StreamReplayPage is how many events a replay reads from the log in
	// one snapshot. Zero means 500.
	StreamReplayPage int

	// SecureCookie sets the Secure attribute on the session cookie even
	// when the request did not come over TLS (a TLS-terminating proxy in
	// front). Cookies set over TLS are always Secure.
	SecureCookie bool

	// Rules, if set, are the record rules this server installs in its
	// store when it starts, unless they are the rules in force already
	// (see Server.InstallRules): the Go form of a rules file. Nil leaves
	// the store's rules as they are: those installed last, or none
	// (free-form records).
	Rules *Rules
	// RecordCheck, if set, sees each record write in its transaction,
	// after the rules passed it and before it commits, and may refuse it
	// by returning an error (a *RefusedError to name a path): the write
	// is answered 403 with the error's text as its reason. It must be
	// pure, deciding from its argument alone: a write on Postgres may run
	// again (after a deadlock), and every node must decide alike.
	RecordCheck func(RecordWrite) error

	// Logger gets the server's logs (one line per request among them).
	// Nil means logs are dropped.
	Logger *slog.Logger
	// Now is the server's clock. Nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return c, errors.New("server: Config.Store is required")
	}
	if len(c.Secret) == 0 {
		return c, errors.New("server: Config.Secret is required")
	}
	switch {
	case c.TokenLeeway == 0:
		c.TokenLeeway = defaultTokenLeeway
	case c.TokenLeeway < 0:
		c.TokenLeeway = 0
	}
	if c.Retention <= 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.PruneInterval <= 0 {
		c.PruneInterval = time.Minute
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.SyncPageDefault <= 0 {
		c.SyncPageDefault = 500
	}
	if c.SyncPageMax <= 0 {
		c.SyncPageMax = 2000
	}
	if c.SyncPageMaxBytes <= 0 {
		c.SyncPageMaxBytes = 4 << 20
	}
	if c.MaxSyncBodyBytes <= 0 {
		c.MaxSyncBodyBytes = 8 << 20
	}
	if c.MaxSyncChannels <= 0 || c.MaxSyncChannels > protocol.MaxSyncChannels {
		c.MaxSyncChannels = protocol.MaxSyncChannels
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = 10 * time.Second
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = max(3*c.HealthInterval, 60*time.Second)
	}
	if c.ReorderWait <= 0 {
		c.ReorderWait = defaultReorderWait
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = 256
	}
	if c.WritesPerSecond == 0 {
		c.WritesPerSecond = 50
	}
	if c.WriteBurst <= 0 {
		c.WriteBurst = 200
	}
	if c.SyncsPerMinute == 0 {
		c.SyncsPerMinute = 1200
	}
	if c.MaxConnsPerUser == 0 {
		c.MaxConnsPerUser = 20
	}
	if c.WSMessagesPerSecond == 0 {
		c.WSMessagesPerSecond = 10
	}
	if c.StreamHeartbeat <= 0 {
		c.StreamHeartbeat = 20 * time.Second
	}
	if c.StreamRetry <= 0 {
		c.StreamRetry = 2 * time.Second
	}
	if c.StreamWriteTimeout <= 0 {
		c.StreamWriteTimeout = 10 * time.Second
	}
	if c.StreamReplayPage <= 0 {
		c.StreamReplayPage = 500
	}
	c.AllowedOrigins = append([]string(nil), c.AllowedOrigins...)
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			return c, fmt.Errorf("server: Config.AllowedOrigins: %q is not an origin such as https://app.example.com", o)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
