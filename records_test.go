package outpost_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
	"github.com/outpostsync/outpost/internal/faultproxy"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/server"
	"github.com/outpostsync/outpost/syncmanager"
)

// Task is the record type of the task-list tests.
type Task struct {
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// taskList is the story's fixture: Alice (behind a proxy she can lose)
// and Bob share channel cid, whose task t1 both hold.
type taskList struct {
	alice, bob *outpost.Client
	proxy      *faultproxy.Proxy
	cid        string
	aTasks     *outpost.Collection[Task]
	bTasks     *outpost.Collection[Task]
}

func newTaskList(t *testing.T, collection string, rules *server.Rules) *taskList {
	t.Helper()
	ctx := context.Background()
	ts := startServerWith(t, func(c *server.Config) { c.Rules = rules })
	proxy, err := faultproxy.New(strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	l := &taskList{proxy: proxy, alice: open(t, proxy.URL(), "alice")}
	ch, err := outpost.ConnOf(l.alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "house", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	l.cid = ch.Channel.CID
	if l.aTasks, err = outpost.OpenCollection[Task](ctx, l.alice, collection, outpost.CollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.aTasks.Create(ctx, l.cid, "t1", Task{Title: "Buy milk"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's create to be sent", func() bool { return outpost.ManagerOf(l.alice).Status().Pending == 0 })
	// Bob's device is new: the channel's state brings its records.
	l.bob = open(t, ts.URL, "bob")
	if l.bTasks, err = outpost.OpenCollection[Task](ctx, l.bob, collection, outpost.CollectionOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob to hold t1", func() bool { it, err := l.bTasks.Get(ctx, l.cid, "t1"); return err == nil && it.Version > 0 })
	return l
}

func (l *taskList) offline(t *testing.T) {
	t.Helper()
	l.proxy.Refuse()
	l.proxy.Cut()
	waitFor(t, "alice offline", func() bool { return !outpost.ConnOf(l.alice).IsHealthy() })
}

func (l *taskList) back(t *testing.T) {
	t.Helper()
	l.proxy.Heal()
	waitFor(t, "alice synced, outbox drained", func() bool {
		st := outpost.ManagerOf(l.alice).Status()
		return st.Synced && st.Pending == 0 && !st.Syncing
	})
}

func (l *taskList) get(t *testing.T, col *outpost.Collection[Task]) outpost.Item[Task] {
	t.Helper()
	it, err := col.Get(context.Background(), l.cid, "t1")
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// onServerTask is the server's t1.
func (l *taskList) onServerTask(t *testing.T) protocol.Record {
	t.Helper()
	resp, err := outpost.ConnOf(l.bob).Record(context.Background(), client.RecordKey{CID: l.cid, Collection: l.aTasks.Name(), ID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Record
}

// TestRecordsStory: Alice marks task 1 done offline; Bob renames it
// online; Alice comes back: both devices and the server show the new
// title, done.
func TestRecordsStory(t *testing.T) {
	ctx := context.Background()
	l := newTaskList(t, "tasks", nil)
	l.offline(t)
	w, err := l.aTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"done": true}})
	if err != nil || w.TaskID == "" || w.Record.ID != "t1" {
		t.Fatalf("Patch = %+v, %v", w, err)
	}
	if it := l.get(t, l.aTasks); !it.Value.Done || it.Pending != 1 {
		t.Fatalf("alice offline sees %+v (pending %d), want done, pending", it.Value, it.Pending)
	}
	if _, err := l.bTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"title": "Buy oat milk"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's rename sent", func() bool { return outpost.ManagerOf(l.bob).Status().Pending == 0 })
	l.back(t)
	want := Task{Title: "Buy oat milk", Done: true}
	waitFor(t, "both devices to show the new title, done", func() bool {
		return l.get(t, l.aTasks).Value == want && l.get(t, l.bTasks).Value == want
	})
	srv := l.onServerTask(t)
	if string(srv.Fields["title"]) != `"Buy oat milk"` || string(srv.Fields["done"]) != "true" {
		t.Errorf("server's t1 = %s", srv.Fields)
	}
	for name, c := range map[string]*outpost.Collection[Task]{"alice": l.aTasks, "bob": l.bTasks} {
		if it := l.get(t, c); it.Version != srv.Version || it.Pending != 0 || it.Failed != 0 {
			t.Errorf("%s's t1 at %d (pending %d, failed %d), want the server's %d, nothing pending", name, it.Version, it.Pending, it.Failed, srv.Version)
		}
	}
}

// TestRecordsStory_Precondition: the same with a precondition on Alice's
// write: it is refused, on her failed list with Bob's version; her
// overlay shows Bob's record; a retry, on the new version, succeeds.
func TestRecordsStory_Precondition(t *testing.T) {
	ctx := context.Background()
	l := newTaskList(t, "tasks", nil)
	l.offline(t)
	w, err := l.aTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"done": true}, IfVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.bTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"title": "Buy oat milk"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's rename sent", func() bool { return outpost.ManagerOf(l.bob).Status().Pending == 0 })
	bobs := l.get(t, l.bTasks)
	l.back(t)
	failed, err := l.alice.FailedTasks(ctx)
	if err != nil || len(failed) != 1 || failed[0].ID != w.TaskID {
		t.Fatalf("alice's failed list = %+v, %v; want her patch", failed, err)
	}
	if r := failed[0].Refusal; r == nil || r.Code != protocol.CodePreconditionFailed || r.Record == nil || r.Record.Version != bobs.Version {
		t.Fatalf("refusal = %+v, want a failed precondition carrying Bob's record at %d", r, bobs.Version)
	}
	if it := l.get(t, l.aTasks); it.Value != (Task{Title: "Buy oat milk"}) || it.Version != bobs.Version || it.Failed != 1 {
		t.Fatalf("alice sees %+v at %d (failed %d), want Bob's record, failed", it.Value, it.Version, it.Failed)
	}
	if err := l.alice.RetryFailed(ctx, w.TaskID); err != nil {
		t.Fatal(err)
	}
	want := Task{Title: "Buy oat milk", Done: true}
	waitFor(t, "the retry to land on both devices", func() bool {
		return l.get(t, l.aTasks).Value == want && l.get(t, l.bTasks).Value == want && outpost.ManagerOf(l.alice).Status().Pending == 0
	})
	if failed, _ := l.alice.FailedTasks(ctx); len(failed) != 0 {
		t.Errorf("failed list after retry = %+v, want empty", failed)
	}
}

// TestRecordsStory_SameField: Alice and Bob both rename task 1, Alice
// offline. Under later-wins Alice's later write stands; under refuse it
// is refused with both values, and her record shows Bob's title.
func TestRecordsStory_SameField(t *testing.T) {
	for _, rule := range []server.ConflictRule{server.ConflictLaterWins, server.ConflictRefuse} {
		t.Run(string(rule), func(t *testing.T) {
			ctx := context.Background()
			rules := &server.Rules{Collections: map[string]server.CollectionRules{"tasks": {Conflict: rule}}}
			l := newTaskList(t, "tasks", rules)
			l.offline(t)
			if _, err := l.aTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"title": "Milk (alice)"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := l.bTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"title": "Milk (bob)"}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "bob's rename sent", func() bool { return outpost.ManagerOf(l.bob).Status().Pending == 0 })
			l.back(t)
			want := "Milk (alice)"
			if rule == server.ConflictRefuse {
				want = "Milk (bob)"
				failed, err := l.alice.FailedTasks(ctx)
				if err != nil || len(failed) != 1 || failed[0].Refusal == nil || failed[0].Refusal.Conflict == nil {
					t.Fatalf("failed = %+v, %v; want alice's rename with the conflict", failed, err)
				}
				if c := failed[0].Refusal.Conflict; string(c.Yours) != `"Milk (alice)"` || string(c.Server) != `"Milk (bob)"` {
					t.Errorf("conflict = %+v, want both titles", c)
				}
			}
			waitFor(t, "both devices to agree on "+want, func() bool {
				return l.get(t, l.aTasks).Value.Title == want && l.get(t, l.bTasks).Value.Title == want
			})
			if got := string(l.onServerTask(t).Fields["title"]); got != `"`+want+`"` {
				t.Errorf("server's title = %s, want %q", got, want)
			}
		})
	}
}

// TestCollection_BadInput: what the SDK can tell is invalid is refused at
// once, nothing queued; a record that no longer decodes into T is a
// *RecordError naming it, and List still returns the others.
func TestCollection_BadInput(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	c := open(t, ts.URL, "alice")
	ch, err := outpost.ConnOf(c).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "house"})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	tasks, err := outpost.OpenCollection[Task](ctx, c, "tasks", outpost.CollectionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outpost.OpenCollection[Task](ctx, c, "tasks", outpost.CollectionOptions{Indexes: []offlinedb.Index{{Field: "done", Type: "date"}}}); !errors.Is(err, offlinedb.ErrInvalidQuery) {
		t.Errorf("index of unknown type: %v, want ErrInvalidQuery", err)
	}
	big := strings.Repeat("x", protocol.MaxRecordBytes)
	for name, write := range map[string]func() error{
		"empty id":      func() error { _, err := tasks.Create(ctx, cid, "", Task{Title: "x"}); return err },
		"bad id":        func() error { _, err := tasks.Create(ctx, cid, "a/b", Task{Title: "x"}); return err },
		"over the size": func() error { _, err := tasks.Create(ctx, cid, "big", Task{Title: big}); return err },
		"unknown field": func() error {
			_, err := tasks.Patch(ctx, cid, "t1", outpost.Patch{Set: map[string]any{"titel": "x"}})
			return err
		},
	} {
		if err := write(); !errors.Is(err, offlinedb.ErrInvalidTask) {
			t.Errorf("%s: %v, want ErrInvalidTask", name, err)
		}
	}
	if pending, _ := c.PendingTasks(ctx); len(pending) != 0 {
		t.Errorf("pending = %+v, want nothing queued", pending)
	}
	// A struct that cannot be encoded.
	type Bad struct {
		F func() `json:"f"`
	}
	bad, _ := outpost.OpenCollection[Bad](ctx, c, "tasks", outpost.CollectionOptions{})
	var re *outpost.RecordError
	if _, err := bad.Create(ctx, cid, "b1", Bad{F: func() {}}); !errors.As(err, &re) || re.Key.ID != "b1" || re.Op != "encode" {
		t.Errorf("encode error = %v, want a *RecordError naming b1", err)
	}
	// A record that no longer decodes into the app's type.
	for _, id := range []string{"t1", "t2"} {
		if _, err := tasks.Create(ctx, cid, id, Task{Title: id}); err != nil {
			t.Fatal(err)
		}
	}
	type Other struct {
		Title int `json:"title"`
	}
	if _, err := tasks.Patch(ctx, cid, "t2", outpost.Patch{Set: map[string]any{"title": 7}}); err != nil {
		t.Fatal(err)
	}
	others, _ := outpost.OpenCollection[Other](ctx, c, "tasks", outpost.CollectionOptions{})
	items, _, err := others.List(ctx, outpost.ListQuery{CID: cid})
	if !errors.As(err, &re) || re.Key.ID != "t1" || re.Op != "decode" {
		t.Fatalf("List error = %v, want a *RecordError naming t1", err)
	}
	if len(items) != 2 || items[0].Err == nil || items[1].Err != nil || items[1].Value.Title != 7 {
		t.Fatalf("items = %+v, want t1 with its error and t2 whole", items)
	}
}

// TestRecords_DataChannelsStayOutOfChat: a channel that holds records
// and no text is left out of a chat view's Channels (by type), and its
// records count as no unread messages.
func TestRecords_DataChannelsStayOutOfChat(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	alice := open(t, ts.URL, "alice")
	bob := open(t, ts.URL, "bob")
	for _, req := range []protocol.CreateChannelRequest{{Type: "team", ID: "chat", Members: []string{"bob"}}, {Type: "list", ID: "house", Members: []string{"bob"}}} {
		if _, err := outpost.ConnOf(alice).CreateChannel(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := outpost.OpenCollection[Task](ctx, alice, "tasks", outpost.CollectionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2", "t3"} {
		if _, err := tasks.Create(ctx, "list:house", id, Task{Title: id}); err != nil {
			t.Fatal(err)
		}
	}
	bTasks, _ := outpost.OpenCollection[Task](ctx, bob, "tasks", outpost.CollectionOptions{})
	waitFor(t, "bob to hold the three tasks", func() bool {
		items, _, err := bTasks.List(ctx, outpost.ListQuery{CID: "list:house"})
		return err == nil && len(items) == 3 && items[2].Version > 0
	})
	waitFor(t, "bob to hold both channels", func() bool {
		all, _, err := bob.Channels(ctx, offlinedb.ChannelsQuery{})
		return err == nil && len(all) == 2
	})
	chans, _, err := bob.Channels(ctx, offlinedb.ChannelsQuery{Types: []string{"team", "messaging"}})
	if err != nil || len(chans) != 1 || chans[0].CID != "team:chat" {
		t.Fatalf("chat channels = %+v, %v; want team:chat only", chans, err)
	}
	if n, err := bob.UnreadCount(ctx, "list:house"); err != nil || n != 0 {
		t.Errorf("unread in the data channel = %d, %v; want 0", n, err)
	}
}

// TestRecords_DeletedWhileAwayAreSwept: Bob is away while Alice deletes a
// task, changes another and adds one, and the server prunes its log past
// Bob's position: Bob's way back is the channel's state and its records
// fetched whole, which must not leave him the deleted task.
func TestRecords_DeletedWhileAwayAreSwept(t *testing.T) {
	ctx := context.Background()
	ps := startPosServer(t)
	alice := open(t, ps.URL, "alice")
	ch, err := outpost.ConnOf(alice).CreateChannel(ctx, protocol.CreateChannelRequest{Type: "team", ID: "house", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	cid := ch.Channel.CID
	aTasks, err := outpost.OpenCollection[Task](ctx, alice, "tasks", outpost.CollectionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2", "t3"} {
		if _, err := aTasks.Create(ctx, cid, id, Task{Title: id}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "alice's creates sent", func() bool { return outpost.ManagerOf(alice).Status().Pending == 0 })

	proxy := proxyTo(t, ps.URL)
	var mu sync.Mutex
	told := map[offlinedb.RecordKey]bool{}
	bob := openWith(t, proxy.URL(), "bob", func(cfg *outpost.Config) {
		cfg.OnChange = func(c syncmanager.Change) {
			mu.Lock()
			defer mu.Unlock()
			for _, k := range c.Records {
				told[k] = true
			}
		}
	})
	bTasks, err := outpost.OpenCollection[Task](ctx, bob, "tasks", outpost.CollectionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	titles := func() []string {
		items, _, err := bTasks.List(ctx, outpost.ListQuery{CID: cid})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, it.ID+":"+it.Value.Title)
		}
		return out
	}
	waitFor(t, "bob to hold the three tasks", func() bool { return len(titles()) == 3 })

	proxy.Refuse()
	proxy.Cut()
	waitFor(t, "bob offline", func() bool { return !outpost.ConnOf(bob).IsHealthy() })
	if _, err := aTasks.Delete(ctx, cid, "t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := aTasks.Patch(ctx, cid, "t1", outpost.Patch{Set: map[string]any{"title": "t1 renamed"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := aTasks.Create(ctx, cid, "t4", Task{Title: "t4"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's writes sent", func() bool { return outpost.ManagerOf(alice).Status().Pending == 0 })
	if _, err := ps.store.Prune(ctx, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	states := ps.queries(cid)
	mu.Lock()
	clear(told)
	mu.Unlock()

	proxy.Heal()
	want := []string{"t1:t1 renamed", "t3:t3", "t4:t4"}
	waitFor(t, "bob to hold what the server holds", func() bool { return slices.Equal(titles(), want) })
	if ps.queries(cid) == states {
		t.Fatalf("bob caught up without the channel's state: the test does not reach the refetch")
	}
	it, err := bTasks.Get(ctx, cid, "t2")
	if err != nil || !it.Deleted {
		t.Errorf("bob's t2 = %+v, %v; want a tombstone", it.Record, err)
	}
	waitFor(t, "bob told of t2's deletion", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return told[offlinedb.RecordKey{CID: cid, Collection: "tasks", ID: "t2"}]
	})
}

// TestRecords_ChainedWritesOfOneDevice: conditional writes a device queues
// behind its own pending writes of the same record are conditional on
// the record as those writes leave it, not on the version before them:
// offline, Alice creates a task, renames it on the version she holds,
// replaces it, and creates and deletes another; back online, every write
// is applied and none is refused for her own change.
func TestRecords_ChainedWritesOfOneDevice(t *testing.T) {
	ctx := context.Background()
	l := newTaskList(t, "tasks", nil)
	l.offline(t)
	writes := []func() (outpost.Write, error){
		func() (outpost.Write, error) {
			return l.aTasks.Create(ctx, l.cid, "t2", Task{Title: "Call the plumber"})
		},
		func() (outpost.Write, error) {
			return l.aTasks.Patch(ctx, l.cid, "t2", outpost.Patch{Set: map[string]any{"title": "Call the plumber today"}, IfVersion: true})
		},
		func() (outpost.Write, error) {
			return l.aTasks.Replace(ctx, l.cid, "t2", Task{Title: "Plumber called", Done: true})
		},
		func() (outpost.Write, error) {
			return l.aTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"done": true}, IfVersion: true})
		},
		func() (outpost.Write, error) { return l.aTasks.Delete(ctx, l.cid, "t1") },
	}
	for i, w := range writes {
		if _, err := w(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	l.back(t)
	failed, err := l.alice.FailedTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range failed {
		t.Errorf("refused: %s %s/%s: %s", f.Type, f.Collection, f.RecordID, f.Error)
	}
	waitFor(t, "bob to hold alice's writes", func() bool {
		t2, err := l.bTasks.Get(ctx, l.cid, "t2")
		t1, err1 := l.bTasks.Get(ctx, l.cid, "t1")
		return err == nil && err1 == nil && t2.Value == Task{Title: "Plumber called", Done: true} && t1.Deleted
	})
}

// TestRecords_ChainedWriteSeesAForeignChange: a conditional write queued
// behind the device's own patch is still refused when someone else
// changed the record in between: Alice renames task 1 and then deletes
// it, offline, while Bob marks it done; her rename is merged, her delete
// refused with Bob's record.
func TestRecords_ChainedWriteSeesAForeignChange(t *testing.T) {
	ctx := context.Background()
	l := newTaskList(t, "tasks", nil)
	l.offline(t)
	if _, err := l.aTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"title": "Buy oat milk"}}); err != nil {
		t.Fatal(err)
	}
	del, err := l.aTasks.Delete(ctx, l.cid, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.bTasks.Patch(ctx, l.cid, "t1", outpost.Patch{Set: map[string]any{"done": true}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's patch sent", func() bool { return outpost.ManagerOf(l.bob).Status().Pending == 0 })
	l.back(t)
	failed, err := l.alice.FailedTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0].ID != del.TaskID || failed[0].ErrorCode != int(protocol.CodePreconditionFailed) {
		t.Fatalf("failed = %+v, want alice's delete refused on its precondition", failed)
	}
	want := Task{Title: "Buy oat milk", Done: true}
	waitFor(t, "both to hold the merged task", func() bool {
		return l.get(t, l.aTasks).Value == want && l.get(t, l.bTasks).Value == want
	})
}
