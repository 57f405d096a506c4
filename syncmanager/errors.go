package syncmanager

import "errors"

var (
	// ErrClosed is returned by calls on a closed Manager.
	ErrClosed = errors.New("syncmanager: closed")
	// ErrOffline is returned by SyncNow when the connection is down; the
	// manager syncs by itself when it comes back.
	ErrOffline = errors.New("syncmanager: offline")
	// ErrNoServerTime is returned when the server answered a channel
	// query without the server time to sync from.
	ErrNoServerTime = errors.New("syncmanager: server sent no synced_at")
)
