package syncmanager

import "errors"

var (
	// ErrOffline is returned by SyncNow when the connection is down; the
	// manager syncs by itself when it comes back.
	ErrOffline = errors.New("syncmanager: offline")
	// ErrNotSyncer is returned by SyncNow and Flush when another process
	// holds Options.SyncLock: it sends this process's writes, in order,
	// and syncs the store for every process.
	ErrNotSyncer = errors.New("syncmanager: another process syncs this store")
	// ErrProtocol wraps a sync the server's answers broke off: a page
	// without the positions it must carry, or a channel reset again right
	// after its state was fetched. The sync is retried with backoff; the
	// local store keeps what it had.
	ErrProtocol = errors.New("syncmanager: the server broke the sync protocol")
)
