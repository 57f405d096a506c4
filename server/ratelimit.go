package server

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/outpostsync/outpost/protocol"
)

// limits keeps each user's rate limiters and open WebSocket count. Rates
// run on the real clock, not Config.Now: a limit is about how fast a
// client is going now, whatever the server's idea of the date.
type limits struct {
	writeRate  rate.Limit // rate.Inf for none
	writeBurst int
	syncRate   rate.Limit
	syncBurst  int
	maxConns   int // < 0 for none
	now        func() time.Time

	mu    sync.Mutex // guards users
	users map[string]*userLimits
}

type userLimits struct {
	writes *rate.Limiter
	syncs  *rate.Limiter
	conns  int
}

func newLimits(cfg Config) *limits {
	l := &limits{writeRate: rate.Inf, syncRate: rate.Inf, maxConns: cfg.MaxConnsPerUser,
		writeBurst: cfg.WriteBurst, now: cfg.Now, users: map[string]*userLimits{}}
	if cfg.WritesPerSecond > 0 {
		l.writeRate = rate.Limit(cfg.WritesPerSecond)
	}
	if cfg.SyncsPerMinute > 0 {
		l.syncRate = rate.Limit(float64(cfg.SyncsPerMinute) / 60)
		l.syncBurst = max(1, cfg.SyncsPerMinute/6) // ten seconds' worth at once
	}
	return l
}

// userLocked returns user's limiters, making them on first use.
func (l *limits) userLocked(user string) *userLimits {
	u := l.users[user]
	if u == nil {
		u = &userLimits{writes: rate.NewLimiter(l.writeRate, l.writeBurst), syncs: rate.NewLimiter(l.syncRate, l.syncBurst)}
		l.users[user] = u
	}
	return u
}

// take takes n tokens from user's writes (or, with sync, syncs) limiter,
// or returns the 429 that says how long to wait. n above the burst counts
// as the burst, so a large batch is slowed, never refused for good.
func (l *limits) take(user string, sync bool, n int) error {
	l.mu.Lock()
	u := l.userLocked(user)
	l.mu.Unlock()
	lim, what := u.writes, "writes"
	if sync {
		lim, what = u.syncs, "sync requests"
	}
	if lim.Limit() == rate.Inf || n <= 0 {
		return nil
	}
	now := l.now()
	r := lim.ReserveN(now, min(n, lim.Burst()))
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &protocol.APIError{Code: protocol.CodeRateLimited, StatusCode: http.StatusTooManyRequests,
			Message: "too many " + what + "; retry after the Retry-After delay", RetryAfter: d}
	}
	return nil
}

// openConn counts a WebSocket of user, or returns the 429 if the user has
// as many open as allowed. Each successful openConn needs a closeConn.
func (l *limits) openConn(user string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.userLocked(user)
	if l.maxConns >= 0 && u.conns >= l.maxConns {
		return &protocol.APIError{Code: protocol.CodeRateLimited, StatusCode: http.StatusTooManyRequests,
			Message: "too many open connections for this user; close one first", RetryAfter: 5 * time.Second}
	}
	u.conns++
	return nil
}

func (l *limits) closeConn(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.users[user]; u != nil {
		u.conns--
	}
}

// sweep forgets the users with no open connection whose limiters are full
// again: they would start the same afresh.
func (l *limits) sweep() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, u := range l.users {
		if u.conns == 0 && full(u.writes, now) && full(u.syncs, now) {
			delete(l.users, id)
		}
	}
}

func full(lim *rate.Limiter, now time.Time) bool {
	return lim.Limit() == rate.Inf || lim.TokensAt(now) >= float64(lim.Burst())
}

// limitRequest applies the per-user limit that r's route falls under:
// sync requests their own, every other write the write limit (a batch
// one write, whatever its ops). Reads are not limited.
func (s *Server) limitRequest(r *http.Request, user string) error {
	switch {
	case r.Pattern == "POST "+protocol.PathSync:
		return s.limits.take(user, true, 1)
	case r.Method == http.MethodGet, r.Pattern == "POST "+protocol.PathQueryChannels:
		return nil
	}
	return s.limits.take(user, false, 1)
}
