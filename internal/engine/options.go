package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/store"
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
	// Records pages a channel's live records (see
	// client.Client.Records).
	Records(ctx context.Context, cid, after string, limit int) (*protocol.RecordsResponse, error)
	History(ctx context.Context, cid string, req protocol.HistoryRequest) (*protocol.HistoryPage, error)

	// Batch sends writes as one request; every drain of the outbox goes
	// through it (see client.Client.Batch).
	Batch(ctx context.Context, req protocol.BatchRequest) (*protocol.BatchResponse, error)
}

// Store is what the manager needs of the local store. *store.DB
// implements it.
type Store interface {
	SyncPositions(ctx context.Context) (store.SyncPositions, error)
	// PrepareSyncPage builds a page's queries apart from its apply, so
	// that the fetcher builds them beside the apply of the page before.
	PrepareSyncPage(page *protocol.SyncResponse) *store.PreparedSyncPage
	ApplyPreparedSyncPage(ctx context.Context, page *store.PreparedSyncPage) (store.PageResult, error)
	ApplySyncStates(ctx context.Context, states []protocol.ChannelResponse, inaccessible []string) error
	HeldHistory(ctx context.Context, cid string) (store.Held, error)
	HistoryToFetch(ctx context.Context, keep int) ([]store.Held, error)
	ApplyHistoryPage(ctx context.Context, cid string, page *protocol.HistoryPage) (store.HistoryResult, error)
	ApplyLiveEvents(ctx context.Context, evs []protocol.Event) (store.LiveResult, error)
	RecordFetches(ctx context.Context) ([]store.RecordFetch, error)
	ApplyRecordsPage(ctx context.Context, cid string, page *protocol.RecordsResponse) (swept []store.RecordKey, err error)
	EndRecordFetch(ctx context.Context, cid string) error
	LastSyncedAt(ctx context.Context) (time.Time, bool, error)
	ResetDB(ctx context.Context) error

	ServerBinding(ctx context.Context) (store.ServerBinding, error)
	MeetServer(ctx context.Context, h protocol.Hello) (bound string, err error)
	AdoptServer(ctx context.Context, h protocol.Hello) (bound string, err error)

	AddPendingTask(ctx context.Context, task store.PendingTask) (store.AddResult, error)
	PendingTasks(ctx context.Context) ([]store.PendingTask, error)
	ClaimPendingTasks(ctx context.Context, taskIDs []string) ([]store.PendingTask, error)
	CompleteTasks(ctx context.Context, outcomes []store.TaskOutcome) error
	UpdatePendingTask(ctx context.Context, task store.PendingTask) error
	MoveToFailed(ctx context.Context, taskID string, cause error) error
	FailedTasks(ctx context.Context) ([]store.FailedTask, error)
	RetryFailed(ctx context.Context, taskID string) (store.PendingTask, error)
	DismissFailed(ctx context.Context, taskID string) error
	TaskCounts(ctx context.Context) (pending, failed int, err error)
}

func withDefaults(o Options) Options {
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
