// Package access lets the module's own commands reach the parts under an
// outpost.Client (its store, connection and sync manager), which the
// public API keeps to itself. Package outpost sets Parts when it loads; it
// takes an any because this package cannot import outpost.
package access

import (
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/internal/store"
)

// Parts returns the store, connection and manager of c, an
// *outpost.Client.
var Parts func(c any) (*store.DB, *client.Client, *engine.Manager)

// Store returns the local store of c, an *outpost.Client.
func Store(c any) *store.DB { db, _, _ := Parts(c); return db }

// Conn returns the connection of c, an *outpost.Client.
func Conn(c any) *client.Client { _, conn, _ := Parts(c); return conn }

// Manager returns the sync manager of c, an *outpost.Client.
func Manager(c any) *engine.Manager { _, _, m := Parts(c); return m }
