package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// localTimeout bounds each call the model makes to the store. Reads and
// writes touch only the local SQLite file; CreateList, which needs the
// server, gets networkTimeout.
const (
	localTimeout   = 5 * time.Second
	networkTimeout = 10 * time.Second
)

// View is what the window shows: a snapshot of the model, safe to read
// from any goroutine once handed out.
type View struct {
	User string `json:"user"`
	// Opening is set until the store is open; OpenError, when the store
	// could not be opened, is all the window shows, in words.
	Opening   bool   `json:"opening,omitempty"`
	OpenError string `json:"open_error,omitempty"`

	Lists  []List     `json:"lists"`
	List   string     `json:"list"` // the selected list's id
	Tasks  []Task     `json:"tasks"`
	Chat   []ChatLine `json:"chat"` // the selected list's, oldest first
	Failed []Failure  `json:"failed"`
	Status Status     `json:"status"`
	// Error is the last read or write that failed, in words; the next
	// success clears it.
	Error string `json:"error,omitempty"`
	// Ran counts the user's actions run so far (each queued one, whether
	// it worked or not), so a reader can tell a view made after an action
	// from one made before.
	Ran int `json:"ran"`
	// Version counts the views made, so a reader can tell a new one.
	Version int `json:"version"`
}

// ListName returns the selected list's name.
func (v View) ListName() string {
	i := slices.IndexFunc(v.Lists, func(l List) bool { return l.ID == v.List })
	if i < 0 {
		return ""
	}
	return v.Lists[i].Name
}

// TaskTitle returns the title of a task of the selected list, or its id.
func (v View) TaskTitle(id string) string {
	for _, t := range v.Tasks {
		if t.ID == id {
			return t.Title
		}
	}
	return id
}

// Model is the app's state and what the user can do to it, apart from any
// drawing. Its methods never block on the store: each action is queued
// and run, in order, by the model's one worker goroutine, which also
// reloads the view after each action and on each change notification of
// the store. Every view it makes is handed to the onView callback (on the
// worker), which asks the window for a redraw. Model is safe for
// concurrent use.
type Model struct {
	onView func(View)
	kick   chan struct{} // capacity 1: actions queued or a change told
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when the worker has returned
	once   sync.Once

	mu      sync.Mutex // guards the fields below
	view    View
	queue   []action
	changed bool // the store told of a change not yet loaded
}

// action is a write the user asked for, run on the worker.
type action struct {
	what string // for the error message: "add “milk”"
	run  func(ctx context.Context, s TaskStore) error
	net  bool // needs the network: networkTimeout
	// keep, when set, is called on the view after the run, under the lock
	// (to select a list just created, for one).
	keep func(v *View)
}

// NewModel starts a model for user whose store open returns. open runs on
// the model's worker, so the window shows at once, with "opening" until
// it returns; what the user does meanwhile waits in order. onView is
// called with each new view.
func NewModel(user string, open func(ctx context.Context) (TaskStore, error), onView func(View)) *Model {
	m := &Model{
		onView: onView,
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		view:   View{User: user, Opening: true},
	}
	go m.run(open)
	return m
}

// View returns the current view.
func (m *Model) View() View {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view
}

// Close stops the worker once it has run every action already queued, so
// nothing the user did is lost, and unsubscribes from the store. It does
// not close the store. It is idempotent.
func (m *Model) Close() {
	m.once.Do(func() { close(m.done) })
	<-m.exited
}

func (m *Model) poke() {
	select {
	case m.kick <- struct{}{}:
	default: // a kick is already pending; it covers this one
	}
}

// storeChanged is the store's change notification.
func (m *Model) storeChanged() {
	m.mu.Lock()
	m.changed = true
	m.mu.Unlock()
	m.poke()
}

func (m *Model) enqueue(a action) {
	m.mu.Lock()
	m.queue = append(m.queue, a)
	m.mu.Unlock()
	m.poke()
}

func (m *Model) run(open func(ctx context.Context) (TaskStore, error)) {
	defer close(m.exited)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-m.done:
		case <-m.exited:
		}
		// Close ends a slow open (a store another process holds).
		cancel()
	}()
	s, err := open(ctx)
	if err != nil {
		m.publish(func(v *View) { v.Opening, v.OpenError = false, errorWords(err) })
		<-m.done
		return
	}
	unsub := s.Subscribe(m.storeChanged)
	defer unsub()
	m.publish(func(v *View) { v.Opening = false })
	m.reload(s, func(*View) {})
	for {
		select {
		case <-m.kick:
			m.step(s)
		case <-m.done:
			// Run what the user did last before the window went.
			m.step(s)
			return
		}
	}
}

// step runs the queued actions, then reloads if anything happened.
func (m *Model) step(s TaskStore) {
	m.mu.Lock()
	queue, changed := m.queue, m.changed
	m.queue, m.changed = nil, false
	m.mu.Unlock()
	var errs []string
	var keeps []func(*View)
	for _, a := range queue {
		timeout := localTimeout
		if a.net {
			timeout = networkTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := a.run(ctx, s)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("could not %s: %s", a.what, errorWords(err)))
		} else if a.keep != nil {
			keeps = append(keeps, a.keep)
		}
	}
	if len(queue) == 0 && !changed {
		return
	}
	// The actions' outcome is shown with the reload that follows them, so
	// a view that counts an action also shows what it did.
	outcome := func(v *View) {}
	if len(queue) > 0 {
		m.mu.Lock()
		for _, k := range keeps {
			k(&m.view)
		}
		m.mu.Unlock()
		outcome = func(v *View) {
			v.Error = strings.Join(errs, "; ")
			v.Ran += len(queue)
		}
	}
	m.reload(s, outcome)
}

// reload reads the store into the view, with outcome's changes.
func (m *Model) reload(s TaskStore, outcome func(v *View)) {
	ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
	defer cancel()
	st := s.Status()
	failedRead := func(err error) {
		m.publish(func(v *View) {
			outcome(v)
			v.Status, v.Error = st, "could not read the local store: "+err.Error()
		})
	}
	lists, err := s.Lists(ctx)
	if err != nil {
		failedRead(err)
		return
	}
	m.mu.Lock()
	sel := m.view.List
	m.mu.Unlock()
	if !slices.ContainsFunc(lists, func(l List) bool { return l.ID == sel }) {
		sel = ""
		if len(lists) > 0 {
			sel = lists[0].ID
		}
	}
	var tasks []Task
	var chat []ChatLine
	if sel != "" {
		if tasks, err = s.Tasks(ctx, sel); err != nil {
			failedRead(err)
			return
		}
		if chat, err = s.Chat(ctx, sel); err != nil {
			failedRead(err)
			return
		}
	}
	failed, err := s.Failed(ctx)
	if err != nil {
		failedRead(err)
		return
	}
	m.publish(func(v *View) {
		outcome(v)
		if v.List != sel && v.List != "" && slices.ContainsFunc(lists, func(l List) bool { return l.ID == v.List }) {
			// The user picked another list while this ran; the kick
			// Select sent loads it.
			return
		}
		v.Lists, v.List, v.Tasks, v.Chat, v.Failed, v.Status = lists, sel, tasks, chat, failed, st
	})
}

// publish changes the view under the lock and hands the new one out.
func (m *Model) publish(change func(v *View)) {
	m.mu.Lock()
	change(&m.view)
	m.view.Version++
	v := m.view
	m.mu.Unlock()
	if m.onView != nil {
		m.onView(v)
	}
}

// Select shows the list id.
func (m *Model) Select(id string) {
	m.publish(func(v *View) {
		if v.List != id {
			v.List, v.Tasks, v.Chat = id, nil, nil
		}
	})
	m.storeChanged()
}

// AddTask adds a task to the selected list. An empty title does nothing.
func (m *Model) AddTask(title string) {
	title = strings.TrimSpace(title)
	list := m.View().List
	if title == "" {
		return
	}
	if list == "" {
		m.publish(func(v *View) { v.Error = "no list yet: make one first" })
		return
	}
	m.enqueue(action{what: "add “" + title + "”", run: func(ctx context.Context, s TaskStore) error {
		return s.AddTask(ctx, list, title)
	}})
}

// Say adds a line to the selected list's chat. An empty line does
// nothing.
func (m *Model) Say(text string) {
	text = strings.TrimSpace(text)
	list := m.View().List
	if text == "" || list == "" {
		return
	}
	m.enqueue(action{what: "say “" + text + "”", run: func(ctx context.Context, s TaskStore) error {
		return s.Say(ctx, list, text)
	}})
}

// Rename renames a task of the selected list.
func (m *Model) Rename(task, title string) {
	title = strings.TrimSpace(title)
	if title == "" {
		return
	}
	list := m.View().List
	m.enqueue(action{what: "rename to “" + title + "”", run: func(ctx context.Context, s TaskStore) error {
		return s.Rename(ctx, list, task, title)
	}})
}

// Toggle ticks a task of the selected list, or unticks it.
func (m *Model) Toggle(task string) {
	v := m.View()
	i := slices.IndexFunc(v.Tasks, func(t Task) bool { return t.ID == task })
	if i < 0 {
		return
	}
	done := !v.Tasks[i].Done
	m.enqueue(action{what: "tick “" + v.Tasks[i].Title + "”", run: func(ctx context.Context, s TaskStore) error {
		return s.SetDone(ctx, v.List, task, done)
	}})
}

// Delete deletes a task of the selected list.
func (m *Model) Delete(task string) {
	v := m.View()
	m.enqueue(action{what: "delete “" + v.TaskTitle(task) + "”", run: func(ctx context.Context, s TaskStore) error {
		return s.Delete(ctx, v.List, task)
	}})
}

// Retry sends a refused write again.
func (m *Model) Retry(failure string) {
	m.enqueue(action{what: "retry", run: func(ctx context.Context, s TaskStore) error {
		return s.Retry(ctx, failure)
	}})
}

// Dismiss forgets a refused write.
func (m *Model) Dismiss(failure string) {
	m.enqueue(action{what: "dismiss", run: func(ctx context.Context, s TaskStore) error {
		return s.Dismiss(ctx, failure)
	}})
}

// CreateList makes a new list and selects it. It needs the network.
func (m *Model) CreateList(name string) {
	name = strings.TrimSpace(name)
	if name == "" {
		return
	}
	var id string
	m.enqueue(action{what: "make the list “" + name + "”", net: true,
		run: func(ctx context.Context, s TaskStore) (err error) {
			id, err = s.CreateList(ctx, name)
			return err
		},
		keep: func(v *View) { v.List = id },
	})
}

// SetOnline takes the app offline (false) or back online (true).
func (m *Model) SetOnline(online bool) {
	what := "go offline"
	if online {
		what = "go online"
	}
	m.enqueue(action{what: what, run: func(ctx context.Context, s TaskStore) error {
		s.SetOnline(online)
		return nil
	}})
}
