package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
)

// errorWords says err in words for the window: what went wrong and, where
// the user can do something, what.
func errorWords(err error) string {
	var ie *offlinedb.IdentityError
	var sm *client.ServerMismatchError
	var um *client.UserMismatchError
	var api *protocol.APIError
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &ie) && ie.Field == "user":
		return fmt.Sprintf("This store holds the tasks of user %q, not %q. Start the app with --db naming another file (or your own).", ie.Stored, ie.Want)
	case errors.As(err, &ie):
		return fmt.Sprintf("This store belongs to another server (%q, not %q). Start the app with --db naming another file.", ie.Stored, ie.Want)
	case errors.As(err, &sm):
		return "this store belongs to another server than the one at --server; start the app with --db naming another file (" + sm.Error() + ")"
	case errors.As(err, &um):
		return fmt.Sprintf("the token is for user %q, not %q", um.Got, um.Want)
	case errors.As(err, &api):
		return "the server says: " + api.Message
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the server refuses connections (is it running?)"
	case errors.As(err, &dns):
		return "cannot find the server: " + dns.Error()
	case errors.As(err, &op):
		return "cannot reach the server: " + op.Err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the server did not answer in time"
	}
	return err.Error()
}
