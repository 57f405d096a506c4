package engine

import (
	"github.com/outpostsync/outpost/internal/closed"
	"github.com/outpostsync/outpost/syncmanager"
)

// The manager's types an app sees are defined in package syncmanager; these
// aliases let the engine name them as its own.
type (
	Change     = syncmanager.Change
	ChangeKind = syncmanager.ChangeKind
	Status     = syncmanager.Status
	Progress   = syncmanager.Progress
	Callback   = syncmanager.Callback
	Options    = syncmanager.Options
	SyncPolicy = syncmanager.SyncPolicy
	ErrorKind  = syncmanager.ErrorKind
	Error      = syncmanager.Error
	PanicError = syncmanager.PanicError
)

const (
	ChangeLive      = syncmanager.ChangeLive
	ChangeSync      = syncmanager.ChangeSync
	ChangeReset     = syncmanager.ChangeReset
	ChangeWrite     = syncmanager.ChangeWrite
	ChangeTask      = syncmanager.ChangeTask
	MaxChangeIDs    = syncmanager.MaxChangeIDs
	SyncOnConnect   = syncmanager.SyncOnConnect
	SyncOnReconnect = syncmanager.SyncOnReconnect
	SyncManually    = syncmanager.SyncManually

	ErrorConnection   = syncmanager.ErrorConnection
	ErrorEventDropped = syncmanager.ErrorEventDropped
	ErrorCallback     = syncmanager.ErrorCallback
	ErrorDrainRetry   = syncmanager.ErrorDrainRetry
	ErrorSyncRetry    = syncmanager.ErrorSyncRetry
	ErrorWriteFailed  = syncmanager.ErrorWriteFailed
	ErrorFatal        = syncmanager.ErrorFatal
)

var (
	// ErrClosed is returned by calls on a closed Manager.
	ErrClosed    = closed.Err
	ErrOffline   = syncmanager.ErrOffline
	ErrNotSyncer = syncmanager.ErrNotSyncer
	ErrProtocol  = syncmanager.ErrProtocol
)
