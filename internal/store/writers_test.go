package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// TestDB_WritersTakeTurns: a writer that commits again at once, as live
// events are applied one small transaction after another, does not starve
// another writer of the same store: each write waits for its turn, never
// for SQLite's busy timeout to run out.
func TestDB_WritersTakeTurns(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "local.db"), store.Options{BusyTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Bind(ctx, testUser, false); err != nil {
		t.Fatal(err)
	}
	// The busy writer's transactions are long and follow each other at
	// once: it holds the write lock nearly all the time.
	var qs []store.Query
	for i := range 300 {
		q, err := db.EventQueries(msgEvent(protocol.EventMessageNew, "team:a", fmt.Sprintf("live%d", i), "x", int64(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q...)
	}
	stop := make(chan struct{})
	busy := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				busy <- nil
				return
			default:
			}
			if _, err := db.ExecQueries(ctx, qs); err != nil {
				busy <- err
				return
			}
		}
	}()
	for i := range 20 {
		task, err := store.NewSendMessageTask(testUser, "team:a", protocol.MessageInput{ID: fmt.Sprintf("m%d", i), Text: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddPendingTask(ctx, task); err != nil {
			close(stop)
			<-busy
			t.Fatalf("write %d beside a writer that never pauses: %v", i, err)
		}
	}
	close(stop)
	if err := <-busy; err != nil {
		t.Fatalf("the writer that never pauses: %v", err)
	}
}
