package outpost

import (
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/access"
	"github.com/outpostsync/outpost/internal/engine"
	"github.com/outpostsync/outpost/internal/store"
)

// StoreOf, ConnOf and ManagerOf reach a Client's parts, so that the
// package's tests can look under the facade.
func StoreOf(c *Client) *store.DB         { return access.Store(c) }
func ConnOf(c *Client) *client.Client     { return access.Conn(c) }
func ManagerOf(c *Client) *engine.Manager { return access.Manager(c) }
