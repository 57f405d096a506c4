package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore/pgtest"
)

// TestWriteReadsMessageUnderItsChannelLock: a write that looks at a
// message first (a reaction: the message names its channel) reads it
// under its channel's lock, as a write that looks at the channel first
// does. Without it, another node's hard delete (or edit) of the message
// commits between the read and the write's own PutMessage, which then
// stores the message again (or loses the edit); the multi-node
// convergence test found it so.
func TestWriteReadsMessageUnderItsChannelLock(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	const cid = "team:locks"
	if err := a.Update(ctx, func(tx server.Tx) error {
		now := tx.Now()
		if err := tx.PutChannel(protocol.Channel{CID: cid, Type: "team", ID: "locks", CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.PutMessage(protocol.Message{ID: "m1", CID: cid, Text: "hi", CreatedAt: now, UpdatedAt: now, Version: 1})
	}); err != nil {
		t.Fatal(err)
	}

	// The react, on node a: it reads m1, then waits while node b deletes
	// m1 (as the server's hard delete does: channel first), then takes
	// the channel and stores m1 with its new counts.
	read := make(chan struct{})
	deleted := make(chan error, 1)
	go func() {
		<-read
		deleted <- b.Update(ctx, func(tx server.Tx) error {
			if _, err := tx.Channel(cid); err != nil {
				return err
			}
			return tx.DeleteMessage("m1")
		})
	}()
	deletedFirst := false
	first := true
	if err := a.Update(ctx, func(tx server.Tx) error {
		m, err := tx.Message("m1")
		if err != nil {
			return err
		}
		if first {
			first = false
			close(read)
			// The delete must wait for this transaction; give it time to
			// get through if nothing holds it.
			select {
			case err := <-deleted:
				deletedFirst = true
				deleted <- err
			case <-time.After(300 * time.Millisecond):
			}
		}
		if _, err := tx.Channel(cid); err != nil {
			return err
		}
		m.ReactionCounts = map[string]int{"like": 1}
		return tx.PutMessage(m)
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if deletedFirst {
		t.Errorf("another node's delete of m1 committed while a write that had read m1 was open")
	}
	if err := a.View(ctx, func(tx server.Tx) error {
		m, err := tx.Message("m1")
		if !errors.Is(err, server.ErrNotFound) {
			t.Errorf("m1 after the react and the hard delete: %+v, %v; want it gone", m, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
