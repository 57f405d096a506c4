package main

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/protocol"
	"github.com/outpostsync/outpost/syncmanager"
)

// chatStore is the TaskStore on the SDK's chat data, as the SDK on main
// offers it: a list is a channel, a task is a message whose text is its
// title, and a task is done while a member has a "done" reaction on it
// (unticking removes your own). Renaming is an edit of the message, which
// the server allows its author and the channel's owner or moderators;
// anyone else's rename is refused and shows as a failed write.
type chatStore struct {
	c *outpost.Client
	// share is who a new list is shared with, besides its creator.
	share []string

	offline atomic.Bool // taken offline by SetOnline(false)
	mu      sync.Mutex  // serializes SetOnline
}

// doneReaction is the reaction type that marks a task done.
const doneReaction = "done"

// taskLimit is how many tasks of a list the app shows.
const taskLimit = 500

func newChatStore(c *outpost.Client, share []string) *chatStore {
	return &chatStore{c: c, share: share}
}

func (s *chatStore) Lists(ctx context.Context) ([]List, error) {
	var out []List
	for q := (offlinedb.ChannelsQuery{}); ; {
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

func (s *chatStore) Tasks(ctx context.Context, list string) ([]Task, error) {
	msgs, err := s.c.Messages(ctx, list, offlinedb.MessagesQuery{Limit: taskLimit})
	if err != nil {
		return nil, err
	}
	me := s.c.UserID()
	out := make([]Task, 0, len(msgs))
	for _, m := range msgs {
		t := Task{ID: m.ID, Title: m.Text, By: m.UserID, Mark: mark(m.Status), Why: m.Error}
		rs, err := s.c.Reactions(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Type != doneReaction {
				continue
			}
			if r.Status != offlinedb.StatusFailed {
				t.Done = true
			}
			if r.UserID == me && t.Mark == Synced {
				t.Mark, t.Why = mark(r.Status), r.Error
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func mark(st offlinedb.MessageStatus) Mark {
	switch st {
	case offlinedb.StatusPending:
		return Pending
	case offlinedb.StatusFailed:
		return Failed
	}
	return Synced
}

func (s *chatStore) Failed(ctx context.Context) ([]Failure, error) {
	fs, err := s.c.FailedTasks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Failure, 0, len(fs))
	for _, f := range fs {
		out = append(out, Failure{ID: f.ID, List: f.CID, Task: f.MessageID, What: opWords[f.Type], Why: f.Error})
	}
	return out, nil
}

// opWords names each write in the app's words.
var opWords = map[protocol.BatchOpType]string{
	protocol.OpSendMessage:    "add",
	protocol.OpUpdateMessage:  "rename",
	protocol.OpDeleteMessage:  "delete",
	protocol.OpSendReaction:   "tick",
	protocol.OpDeleteReaction: "untick",
	protocol.OpMarkRead:       "mark read",
}

func (s *chatStore) CreateList(ctx context.Context, name string) (string, error) {
	return s.c.CreateChannel(ctx, outpost.NewChannel{Name: name, Members: s.share})
}

func (s *chatStore) AddTask(ctx context.Context, list, title string) error {
	_, err := s.c.SendMessage(ctx, list, outpost.NewMessage{Text: title})
	return err
}

func (s *chatStore) Rename(ctx context.Context, list, task, title string) error {
	_, err := s.c.UpdateMessage(ctx, list, task, title)
	return err
}

func (s *chatStore) SetDone(ctx context.Context, list, task string, done bool) error {
	var err error
	if done {
		_, err = s.c.SendReaction(ctx, list, task, doneReaction)
	} else {
		_, err = s.c.DeleteReaction(ctx, list, task, doneReaction)
	}
	return err
}

func (s *chatStore) Delete(ctx context.Context, list, task string) error {
	_, err := s.c.DeleteMessage(ctx, list, task, outpost.DeleteOptions{})
	return err
}

func (s *chatStore) Retry(ctx context.Context, failure string) error {
	return s.c.RetryFailed(ctx, failure)
}

func (s *chatStore) Dismiss(ctx context.Context, failure string) error {
	return s.c.DismissFailed(ctx, failure)
}

func (s *chatStore) SetOnline(online bool) {
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

func (s *chatStore) Status() Status {
	st := s.c.Status()
	out := Status{
		Online: st.Online, Syncing: st.Syncing, FirstSync: st.LastSyncedAt.IsZero(),
		Pages: st.Progress.Pages, Events: st.Progress.Events,
		Pending: st.Pending, Failed: st.Failed, LastSyncedAt: st.LastSyncedAt,
		UserOffline: s.offline.Load(),
	}
	if st.Fatal != nil {
		out.Fatal = st.Fatal.Error()
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

// errorWords says err in words for the window.
func errorWords(err error) string {
	var api *protocol.APIError
	var dns *net.DNSError
	var op *net.OpError
	switch {
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

func (s *chatStore) Subscribe(fn func()) (unsubscribe func()) {
	a := s.c.OnChange(func(syncmanager.Change) { fn() })
	b := s.c.OnStatus(func(syncmanager.Status) { fn() })
	return func() { a(); b() }
}
