package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/server/pgstore"
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

// TestWriteTimeAfterChannelLock: a write that began first but waits for
// its channel's lock behind another reads its time once it holds the
// lock, so it carries a later time than the write it waited for (on a
// clock that moves on), as it is after it in the log.
func TestWriteTimeAfterChannelLock(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	tick := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { // every reading a microsecond later
		mu.Lock()
		defer mu.Unlock()
		tick = tick.Add(time.Microsecond)
		return tick
	}
	st, err := pgstore.Open(ctx, pgtest.DSN(t), pgstore.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const cid = "team:time"
	if err := st.Update(ctx, func(tx server.Tx) error {
		return tx.PutChannel(protocol.Channel{CID: cid, Type: "team", ID: "time", CreatedAt: tx.Now(), UpdatedAt: tx.Now()})
	}); err != nil {
		t.Fatal(err)
	}

	// The waiter begins, then the other write begins and locks the
	// channel, then the waiter asks for the lock.
	begun, locked := make(chan struct{}), make(chan struct{})
	var first, waiter time.Time
	done := make(chan error, 1)
	go func() {
		once := false
		done <- st.Update(ctx, func(tx server.Tx) error {
			if !once {
				once = true
				close(begun)
				<-locked
			}
			if _, err := tx.Channel(cid); err != nil { // waits for the other
				return err
			}
			waiter = tx.Now()
			return nil
		})
	}()
	<-begun
	if err := st.Update(ctx, func(tx server.Tx) error {
		if _, err := tx.Channel(cid); err != nil {
			return err
		}
		first = tx.Now()
		close(locked)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !waiter.After(first) {
		t.Errorf("the write that waited has time %v, the one it waited for %v: want it later", waiter, first)
	}
}
