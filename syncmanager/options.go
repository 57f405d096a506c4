package syncmanager

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/clock"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// Conn is what the manager needs of the connection to the server.
// *client.Client implements it.
type Conn interface {
	UserID() string
	IsHealthy() bool
	OnAll(h client.Handler) (unsubscribe func())
	// SetServerID sets the server id sent with every request (see
	// client.Client.SetServerID); Hello returns the hello of the last
	// connection that came up, nil before the first.
	SetServerID(id string)
	Hello() *protocol.Hello

	Sync(ctx context.Context, req protocol.SyncRequest) (*protocol.SyncResponse, error)
	QueryChannels(ctx context.Context, req protocol.QueryChannelsRequest) (*protocol.QueryChannelsResponse, error)

	// Batch sends writes as one request; every drain of the outbox goes
	// through it (see client.Client.Batch).
	Batch(ctx context.Context, req protocol.BatchRequest) (*protocol.BatchResponse, error)
}

// Store is what the manager needs of the local store. *offlinedb.DB
// implements it.
type Store interface {
	SyncPositions(ctx context.Context, userID string) (offlinedb.SyncPositions, error)
	ApplySyncPage(ctx context.Context, userID string, page *protocol.SyncResponse) (offlinedb.PageResult, error)
	ApplyChannelStates(ctx context.Context, states []protocol.ChannelResponse, inaccessible []string) error
	ApplyLiveEvents(ctx context.Context, evs []protocol.Event) (offlinedb.LiveResult, error)
	LastSyncedAt(ctx context.Context, userID string) (time.Time, bool, error)
	ResetDB(ctx context.Context) error

	ServerBinding(ctx context.Context) (offlinedb.ServerBinding, error)
	MeetServer(ctx context.Context, h protocol.Hello) (bound string, err error)
	AdoptServer(ctx context.Context, h protocol.Hello) (bound string, err error)

	AddPendingTask(ctx context.Context, task offlinedb.PendingTask) (offlinedb.AddResult, error)
	PendingTasks(ctx context.Context, userID string) ([]offlinedb.PendingTask, error)
	ClaimPendingTasks(ctx context.Context, taskIDs []string) ([]offlinedb.PendingTask, error)
	CompleteTasks(ctx context.Context, outcomes []offlinedb.TaskOutcome) error
	UpdatePendingTask(ctx context.Context, task offlinedb.PendingTask) error
	MoveToFailed(ctx context.Context, taskID string, cause error) error
	TaskCounts(ctx context.Context, userID string) (pending, failed int, err error)
}

// Options configure a Manager. The zero value is ready to use. The
// server's retention window is the server's to say (protocol.Hello): a
// checkpoint older than it is reset instead of synced.
type Options struct {
	// PageSize is the number of events asked for in one sync page. Zero
	// means the server's default.
	PageSize int

	// MaxChannelsPerSync caps the channel positions in one sync request;
	// more channels are synced in several requests. Zero means 2000.
	MaxChannelsPerSync int

	// RetryMinDelay and RetryMaxDelay bound the jittered exponential
	// backoff between retries of a failed drain or sync. Zero means 500ms
	// and 30s.
	RetryMinDelay time.Duration
	RetryMaxDelay time.Duration

	// DrainBatchSize caps the tasks sent in one batch request. Zero
	// means protocol.MaxBatchOps; 1 sends each task in a batch of its
	// own.
	DrainBatchSize int

	// RefillMessageLimit is how many of each channel's latest messages a
	// channel's state (fetched when the channel is new to the store, or
	// was reset) holds. Zero means 50.
	RefillMessageLimit int

	// SyncPolicy says when the manager syncs by itself. The zero value,
	// SyncOnConnect, syncs each time the connection comes up.
	SyncPolicy SyncPolicy

	// SyncLock, if set, is the path of a lock file (beside the store)
	// that lets several processes share one store: only the manager that
	// holds it drains the outbox and syncs. The others still write (their
	// writes wait in the outbox and are sent by the holder, in order),
	// apply live events and hear every change (see OnChange); each tries
	// to take the lock every half second, so when the holder closes or
	// dies another takes over within about that long. The lock is the
	// operating system's (see internal/filelock): the kernel releases it
	// with its process. Empty means this manager always syncs, as the
	// only one on its store.
	SyncLock string

	// OnError, if set, hears every error the manager would otherwise only
	// log or retry (see ErrorKind). It runs on the manager's dispatcher
	// goroutine, in order with the listeners; it must not block.
	OnError func(*Error)

	// clock is the source of time for retries and the retention check.
	// Nil means the real clock; the package's tests set a fake one.
	clock clock.Clock

	// Logger gets the manager's logs. Nil means logs are dropped.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxChannelsPerSync <= 0 || o.MaxChannelsPerSync > protocol.MaxSyncChannels {
		o.MaxChannelsPerSync = 2000
	}
	if o.RetryMinDelay <= 0 {
		o.RetryMinDelay = 500 * time.Millisecond
	}
	if o.RetryMaxDelay <= 0 {
		o.RetryMaxDelay = 30 * time.Second
	}
	if o.RetryMaxDelay < o.RetryMinDelay {
		o.RetryMaxDelay = o.RetryMinDelay
	}
	if o.DrainBatchSize <= 0 || o.DrainBatchSize > protocol.MaxBatchOps {
		o.DrainBatchSize = protocol.MaxBatchOps
	}
	if o.RefillMessageLimit <= 0 {
		o.RefillMessageLimit = 50
	}
	if o.clock == nil {
		o.clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// SyncPolicy says when a Manager syncs (pulls the server's changes) by
// itself. Whatever the policy, the outbox drains whenever the connection
// is up, SyncNow and WaitSynced sync, and a failed sync is retried.
type SyncPolicy int

const (
	// SyncOnConnect syncs each time the connection comes up, the first
	// time included, and whenever live events leave a gap. The default.
	SyncOnConnect SyncPolicy = iota
	// SyncOnReconnect skips the sync of the first connection, for an app
	// that loads its first state another way (over REST, say): the
	// manager syncs by itself only once the connection has gone down and
	// come up again. Until then live events the store cannot apply in
	// order are dropped instead of asking for a sync.
	SyncOnReconnect
	// SyncManually never syncs by itself: only SyncNow and WaitSynced do.
	SyncManually
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncOnConnect:
		return "on-connect"
	case SyncOnReconnect:
		return "on-reconnect"
	case SyncManually:
		return "manually"
	}
	return "SyncPolicy(" + strconv.Itoa(int(p)) + ")"
}
