// Package syncmanager holds the types of Outpost's sync manager that an app
// sees through outpost.Client: its Options (outpost.Config.Sync), the
// Status snapshot and its Progress, the Change a change listener hears,
// the typed *Error that an error listener hears, the SyncPolicy that says
// when it syncs by itself, the post-sync Callback, the HistoryPolicy that says
// how much of each channel's history it keeps on the device, and its
// sentinel errors (ErrOffline, ErrNotSyncer, ErrClosed, ErrProtocol).
//
// The manager itself is internal and runs under outpost.Client: Open
// starts it, Close stops it. It sends the outbox in order, pulls what
// changed since the store's positions, applies live events, and tells
// the app; the package doc of outpost says which listener hears what.
package syncmanager
