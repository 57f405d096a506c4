package outpost_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/protocol"
)

// TestRecords_FirstSyncFetchesAhead: a new device's first sync asks for
// a channel's next page of records while it still writes the page
// before: the network and decoding run beside the local writes. The
// test holds the device's store locked from the first page's request
// on; the second page's request must come while the lock is held (it is
// let go after 3 s otherwise, and the test fails).
func TestRecords_FirstSyncFetchesAhead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bob.db")
	var (
		mu      sync.Mutex
		lock    *sql.Conn
		pages   int
		aheadOK = make(chan bool, 1)
	)
	release := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if lock == nil {
			return false
		}
		_, _ = lock.ExecContext(ctx, "ROLLBACK")
		lock.Close()
		lock = nil
		return true
	}
	var db *sql.DB
	ts, _ := storeServer(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/channels/") || !strings.HasSuffix(r.URL.Path, "/records") {
				h.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			pages++
			n := pages
			mu.Unlock()
			switch n {
			case 1: // lock Bob's store before he gets the first page
				c, err := db.Conn(ctx)
				if err == nil {
					_, err = c.ExecContext(ctx, "BEGIN IMMEDIATE")
				}
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				lock = c
				mu.Unlock()
				time.AfterFunc(3*time.Second, func() { release() })
			case 2:
				aheadOK <- release()
			}
			h.ServeHTTP(w, r)
		})
	})
	alice := benchREST(t, ts.URL, "alice")
	cid := benchChannelsFor(t, alice, "ahead", 1)[0]
	const n = benchRecordsPage + 1
	benchRecordOps(t, alice, n, func(i int) protocol.BatchOp { return benchCreateOp(cid, i) })

	var err error
	if db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)"); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bob := openAt(t, ts.URL, "bob", path)
	select {
	case ok := <-aheadOK:
		if !ok {
			t.Error("the second page of records was asked for only after the first was written")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no second page of records was asked for")
	}
	waitFor(t, "bob to hold the records", func() bool {
		return outpost.ManagerOf(bob).Status().Synced && countRecords(t, bob) == n
	})
}
