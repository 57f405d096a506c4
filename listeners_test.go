package outpost_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/syncmanager"
)

// TestConfig_ListenersHearTheFirstEvents: the listeners in Config are
// registered before Open starts anything, so an Open that waits for its
// first sync (ConnectTimeout) has them hear that sync's status and the
// channels it brought, which a listener registered after Open returns
// has missed, and the error of a listener that panicked on them.
func TestConfig_ListenersHearTheFirstEvents(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	cid, err := alice.CreateChannel(ctx, outpost.NewChannel{Type: "team", ID: "early", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var synced []bool
	var channels []string
	var errs []*syncmanager.Error
	openWith(t, ts.URL, "bob", func(cfg *outpost.Config) {
		cfg.OnStatus = func(st syncmanager.Status) { mu.Lock(); synced = append(synced, st.Synced); mu.Unlock() }
		cfg.OnChange = func(ch syncmanager.Change) {
			mu.Lock()
			channels = append(channels, ch.Channels...)
			mu.Unlock()
			panic("a listener bug")
		}
		cfg.OnError = func(e *syncmanager.Error) { mu.Lock(); errs = append(errs, e); mu.Unlock() }
	})

	waitFor(t, "the first sync's status and change", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(synced, true) && slices.Contains(channels, cid) && len(errs) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if synced[0] {
		t.Errorf("OnStatus heard Synced %v, want false first (before the first sync)", synced)
	}
	if e := errs[0]; e.Kind != syncmanager.ErrorCallback || e.Callback != "OnChange" {
		t.Errorf("OnError heard %v (kind %v, callback %q), want the OnChange panic", e, e.Kind, e.Callback)
	}
}
