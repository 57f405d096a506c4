package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// The app's data on the SDK: a list is a channel of type listType, a
// task is a record of the tasksCollection collection in it, with
// taskFields as its fields. Any client of the same server reads and
// writes them alike: the outpost CLI's `record` commands, say.
const (
	listType        = "list"
	tasksCollection = "tasks"
)

// taskFields are a task record's fields, through their json tags.
type taskFields struct {
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// taskLimit is how many tasks of a list the app shows.
const taskLimit = 500

// recordStore is the TaskStore on the SDK's collections. Each write is
// made so that nothing anyone typed is lost without a word:
//
//   - a tick is a patch of "done" alone: two people's ticks and renames
//     of one task both survive, and of two ticks the later wins;
//   - a rename is a patch of "title" on the version of the task this
//     device holds (Patch.IfVersion): if anyone changed the task since,
//     the server refuses it, and the window shows what it is now, with
//     Retry (rename it anyway, over their version) and Dismiss;
//   - a delete is on the version held too (Collection.Delete): a task
//     changed since is not deleted unseen.
type recordStore struct {
	c     *outpost.Client
	tasks *outpost.Collection[taskFields]
	// share is who a new list is shared with, besides its creator.
	share []string

	offline atomic.Bool // taken offline by SetOnline(false)
	mu      sync.Mutex  // serializes SetOnline
}

func newRecordStore(ctx context.Context, c *outpost.Client, share []string) (*recordStore, error) {
	tasks, err := outpost.OpenCollection[taskFields](ctx, c, tasksCollection, outpost.CollectionOptions{})
	if err != nil {
		return nil, err
	}
	return &recordStore{c: c, tasks: tasks, share: share}, nil
}

func (s *recordStore) Lists(ctx context.Context) ([]List, error) {
	var out []List
	for q := (offlinedb.ChannelsQuery{Types: []string{listType}}); ; {
		chans, next, err := s.c.Channels(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, ch := range chans {
			name := ch.Name
			if name == "" {
				name = ch.ID
			}
			out = append(out, List{ID: ch.CID, Name: name})
		}
		if next == "" {
			break
		}
		q.After = next
	}
	slices.SortFunc(out, func(a, b List) int {
		return strings.Compare(a.Name+"\x00"+a.ID, b.Name+"\x00"+b.ID)
	})
	return out, nil
}

// Tasks returns a list's tasks in the order of their ids, which the app
// makes from the time they were added (newTaskID). A record whose fields
// are not a task's (written by another client) is shown with a title
// saying so, not hidden and not an error.
func (s *recordStore) Tasks(ctx context.Context, list string) ([]Task, error) {
	failed, err := s.Failed(ctx)
	if err != nil {
		return nil, err
	}
	why := map[string]string{}
	for _, f := range failed {
		if f.List == list && f.Task != "" {
			why[f.Task] = f.Why
		}
	}
	var out []Task
	for q := (outpost.ListQuery{CID: list}); len(out) < taskLimit; {
		items, next, err := s.tasks.List(ctx, q)
		if items == nil && err != nil {
			return nil, err
		}
		for _, it := range items {
			t := Task{ID: it.ID, Title: it.Value.Title, Done: it.Value.Done, By: it.CreatedBy}
			if it.Err != nil {
				t.Title = "(not a task: " + string(it.Fields["title"]) + ")"
			}
			switch {
			case it.Failed > 0:
				t.Mark, t.Why = Failed, why[it.ID]
			case it.Pending > 0:
				t.Mark = Pending
			}
			out = append(out, t)
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	return out, nil
}

// chatLimit is how many of a list's latest chat lines the app shows.
const chatLimit = 50

// Chat returns the latest lines of a list's chat: the messages of its
// channel, beside its records.
func (s *recordStore) Chat(ctx context.Context, list string) ([]ChatLine, error) {
	msgs, err := s.c.Messages(ctx, list, offlinedb.MessagesQuery{Limit: chatLimit})
	if err != nil {
		return nil, err
	}
	out := make([]ChatLine, 0, len(msgs))
	for _, m := range msgs {
		l := ChatLine{ID: m.ID, By: m.UserID, Text: m.Text, Why: m.Error}
		switch m.Status {
		case offlinedb.StatusPending:
			l.Mark = Pending
		case offlinedb.StatusFailed:
			l.Mark = Failed
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *recordStore) Say(ctx context.Context, list, text string) error {
	_, err := s.c.SendMessage(ctx, list, outpost.NewMessage{Text: text})
	return err
}

func (s *recordStore) Failed(ctx context.Context) ([]Failure, error) {
	fs, err := s.c.FailedTasks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Failure, 0, len(fs))
	for _, f := range fs {
		op, what := s.writeWords(ctx, f.PendingTask)
		out = append(out, Failure{ID: f.ID, List: f.CID, Task: f.RecordID, Op: op, What: what, Why: refusalWords(f, s.c.UserID())})
	}
	return out, nil
}

// writeWords names a write, and says it in words with the titles it
// concerns.
func (s *recordStore) writeWords(ctx context.Context, t offlinedb.PendingTask) (op, what string) {
	if t.Type == protocol.OpSendMessage {
		var body protocol.SendMessageRequest
		_ = json.Unmarshal(t.Payload, &body)
		return "say", "say “" + body.Message.Text + "”"
	}
	if t.Collection != tasksCollection {
		return string(t.Type), string(t.Type)
	}
	// The title the user saw: the task's now (a refusal rolls it back to
	// the server's), or the one the write itself carries.
	var body struct {
		Fields map[string]json.RawMessage `json:"fields"`
		Set    map[string]json.RawMessage `json:"set"`
	}
	_ = json.Unmarshal(t.Payload, &body)
	var title, newTitle string
	if it, err := s.tasks.Get(ctx, t.CID, t.RecordID); err == nil && !it.Deleted {
		title = it.Value.Title
	}
	_ = json.Unmarshal(body.Fields["title"], &newTitle)
	if newTitle == "" {
		_ = json.Unmarshal(body.Set["title"], &newTitle)
	}
	if title == "" {
		title = newTitle
	}
	switch t.Type {
	case protocol.OpCreateRecord:
		return "add", "add “" + newTitle + "”"
	case protocol.OpDeleteRecord:
		return "delete", "delete “" + title + "”"
	case protocol.OpPatchRecord:
		if _, ok := body.Set["title"]; ok {
			return "rename", "rename “" + title + "” to “" + newTitle + "”"
		}
		if string(body.Set["done"]) == "false" {
			return "untick", "untick “" + title + "”"
		}
		return "tick", "tick “" + title + "”"
	}
	return string(t.Type), string(t.Type) + " “" + title + "”"
}

// refusalWords says why the server refused a write of user me, in
// words: for a write on a version of the task that is no longer the
// server's, who changed it and what it is now.
func refusalWords(f offlinedb.FailedTask, me string) string {
	r := f.Refusal
	if r == nil {
		return f.Error
	}
	stale := r.Code == protocol.CodePreconditionFailed || r.Code == protocol.CodeConflict
	if !stale || r.Record == nil || r.Record.Collection != tasksCollection {
		return r.Message
	}
	who := r.Record.UpdatedBy
	if who == "" {
		who = r.Record.CreatedBy
	}
	if who == me {
		// A delete queued behind this device's own pending write of the
		// task (see Rename).
		return "you changed it since this write was made (here or on another device); Retry does it over that"
	}
	if r.Record.Deleted {
		return who + " deleted it since you saw it"
	}
	var now taskFields
	_ = json.Unmarshal(mustJSON(r.Record.Fields), &now)
	state := ""
	if now.Done {
		state = ", ticked"
	}
	return fmt.Sprintf("%s changed it since you saw it: it is now “%s”%s", who, now.Title, state)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (s *recordStore) CreateList(ctx context.Context, name string) (string, error) {
	return s.c.CreateChannel(ctx, outpost.NewChannel{Type: listType, Name: name, Members: s.share})
}

// lastTaskTime is the time of the last id newTaskID made, in ns.
var lastTaskTime atomic.Int64

// newTaskID makes a task's id: the time it was added, in hex of fixed
// width, so that ids sort as the tasks were added on every device (later
// than any earlier id of this process, however coarse the clock), and
// random bytes so that two devices never make the same one.
func newTaskID() string {
	now := time.Now().UnixNano()
	for {
		last := lastTaskTime.Load()
		now = max(now, last+1)
		if lastTaskTime.CompareAndSwap(last, now) {
			break
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("t%016x-%s", now, hex.EncodeToString(b[:]))
}

func (s *recordStore) AddTask(ctx context.Context, list, title string) error {
	_, err := s.tasks.Create(ctx, list, newTaskID(), taskFields{Title: title})
	return err
}

func (s *recordStore) Rename(ctx context.Context, list, task, title string) error {
	// A conditional write queued behind this device's own pending write
	// of the task is judged against the version before that write, so
	// the server would refuse it for the device's own change: while the
	// task has writes pending, the rename is made on them, unconditional.
	it, err := s.tasks.Get(ctx, list, task)
	if err != nil && it.ID == "" {
		return err
	}
	_, err = s.tasks.Patch(ctx, list, task, outpost.Patch{Set: map[string]any{"title": title}, IfVersion: it.Pending == 0})
	return err
}

func (s *recordStore) SetDone(ctx context.Context, list, task string, done bool) error {
	_, err := s.tasks.Patch(ctx, list, task, outpost.Patch{Set: map[string]any{"done": done}})
	return err
}

func (s *recordStore) Delete(ctx context.Context, list, task string) error {
	_, err := s.tasks.Delete(ctx, list, task)
	return err
}

func (s *recordStore) Retry(ctx context.Context, failure string) error {
	return s.c.RetryFailed(ctx, failure)
}

func (s *recordStore) Dismiss(ctx context.Context, failure string) error {
	return s.c.DismissFailed(ctx, failure)
}

func (s *recordStore) SetOnline(online bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offline.Store(!online)
	if !online {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		_ = s.c.Disconnect(ctx)
		return
	}
	// Connect keeps trying in the background after its ctx ends; the
	// status says when the connection is up.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_ = s.c.Connect(ctx)
}

func (s *recordStore) Status() Status {
	st := s.c.Status()
	out := Status{
		Online: st.Online, Syncing: st.Syncing, FirstSync: st.LastSyncedAt.IsZero(),
		Pages: st.Progress.Pages, Events: st.Progress.Events,
		Pending: st.Pending, Failed: st.Failed, LastSyncedAt: st.LastSyncedAt,
		UserOffline: s.offline.Load(), Syncer: st.Syncer,
	}
	if st.Fatal != nil {
		out.Fatal = errorWords(st.Fatal)
	}
	switch {
	case st.Online:
	case s.offline.Load():
		out.Why = "taken offline (Ctrl+O to go online)"
	case st.LastError != nil:
		out.Why = errorWords(st.LastError)
	default:
		out.Why = "connecting…"
	}
	return out
}

// Subscribe calls fn on each change notification of the SDK (from this
// process or another on the same store) and each status change.
func (s *recordStore) Subscribe(fn func()) (unsubscribe func()) {
	a := s.c.OnChange(func(syncmanager.Change) { fn() })
	b := s.c.OnStatus(func(syncmanager.Status) { fn() })
	return func() { a(); b() }
}
