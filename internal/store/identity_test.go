package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpostsync/outpost/internal/store"
	"github.com/outpostsync/outpost/protocol"
)

// TestMeetServer_Binding: a store that holds nothing of any server binds
// to the first one it meets and refuses another, recording nothing of it;
// ResetDB keeps the binding, Wipe removes it.
func TestMeetServer_Binding(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	one := protocol.Hello{ServerID: "one", RetentionMS: time.Hour.Milliseconds()}
	if b, err := db.ServerBinding(ctx); err != nil || b != (store.ServerBinding{}) {
		t.Fatalf("a new store's binding = %+v, %v", b, err)
	}
	if bound, err := db.MeetServer(ctx, one); err != nil || bound != "one" {
		t.Fatalf("MeetServer = %q, %v; want one", bound, err)
	}
	two := protocol.Hello{ServerID: "two", RetentionMS: 1}
	_, err := db.MeetServer(ctx, two)
	var ie *store.IdentityError
	if !errors.As(err, &ie) || ie.Field != "server" || ie.Stored != "one" || ie.Want != "two" || !errors.Is(err, store.ErrIdentityMismatch) {
		t.Fatalf("MeetServer(two) = %v, want an *IdentityError", err)
	}
	if _, err := db.AdoptServer(ctx, two); !errors.As(err, &ie) {
		t.Errorf("AdoptServer(two) = %v, want an *IdentityError", err)
	}
	newer := protocol.Hello{ServerID: "one", RetentionMS: 2 * time.Hour.Milliseconds()}
	if _, err := db.MeetServer(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := db.ResetDB(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := db.ServerBinding(ctx); err != nil || b.ServerID != "one" || b.Hello != newer {
		t.Errorf("binding after ResetDB = %+v, %v; want one with the newer hello", b, err)
	}
	if err := db.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := db.ServerBinding(ctx); err != nil || b != (store.ServerBinding{}) {
		t.Errorf("binding after Wipe = %+v, %v", b, err)
	}
	if _, err := db.MeetServer(ctx, protocol.Hello{}); err == nil {
		t.Error("MeetServer took a hello without a server id")
	}
}

// TestMeetServer_SyncedStoreWaitsForAdopt: a store that synced without a
// binding (bound by URL by an earlier release) records the hello but
// binds only through AdoptServer.
func TestMeetServer_SyncedStoreWaitsForAdopt(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	if err := db.SetLastSyncedAt(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	h := protocol.Hello{ServerID: "one", RetentionMS: 5}
	if bound, err := db.MeetServer(ctx, h); err != nil || bound != "" {
		t.Fatalf("MeetServer = %q, %v; want unbound", bound, err)
	}
	if b, _ := db.ServerBinding(ctx); b.ServerID != "" || b.Hello != h {
		t.Errorf("binding = %+v; want the hello, unbound", b)
	}
	if bound, err := db.AdoptServer(ctx, h); err != nil || bound != "one" {
		t.Errorf("AdoptServer = %q, %v; want one", bound, err)
	}
}
