package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/offlinedb"
	"github.com/outpostsync/outpost/syncmanager"
)

// localTimeout bounds each read or write of the local store made for the
// UI. They touch only SQLite, so this is a guard, not a network wait.
const localTimeout = 5 * time.Second

// messageLimit is how many of the latest messages the view loads.
const messageLimit = 200

// model is the chat screen: a Bubble Tea model over one outpost.Client.
// Everything it shows comes from the local store or the SDK's status, and
// every read or write runs in a tea.Cmd, so a slow disk or a dead network
// never freezes the keyboard.
type model struct {
	c     *outpost.Client
	user  string
	feed  *feed
	input textinput.Model

	width, height int

	channels []offlinedb.Channel // sorted by name, then cid
	cid      string              // the selected channel; "" before the first load
	msgs     []offlinedb.Message // the selected channel's latest messages, oldest first

	status  syncmanager.Status
	uiErr   error // the last send that could not be stored
	loadErr error // the last read of the local store, if it failed

	loading     bool // a load command is running
	reloadAgain bool // something changed while it ran

	offline  bool // the user took the app offline with Ctrl-O
	toggling bool // a Ctrl-O is in progress

	sending  int  // sends not yet stored in the outbox
	quitting bool // quit once sending is zero, so no send is cut off
}

// newModel returns the chat screen for c. It subscribes to c at once;
// call close when the program has ended.
func newModel(c *outpost.Client) model {
	in := textinput.New()
	in.Placeholder = "type a message, Enter to send"
	in.Prompt = "> "
	in.CharLimit = 4000
	// A static cursor: a blinking one is a timer that keeps redrawing.
	in.Cursor.SetMode(cursor.CursorStatic)
	in.Focus()
	return model{c: c, user: c.UserID(), feed: newFeed(c), input: in, status: c.Status(), width: 80, height: 24}
}

// close unsubscribes the model from the SDK and ends its wait command. It
// does not close the client, which belongs to the caller.
func (m model) close() { m.feed.Close() }

// loadedMsg carries a fresh read of the local store.
type loadedMsg struct {
	asked    string // the cid selected when the load started
	channels []offlinedb.Channel
	cid      string // the channel the messages are from
	msgs     []offlinedb.Message
	err      error
}

// sentMsg reports a send stored (or not) in the local outbox.
type sentMsg struct {
	text string
	err  error
}

// toggledMsg reports the end of a Ctrl-O.
type toggledMsg struct {
	offline bool
	err     error
}

// Init implements tea.Model: it starts listening to the SDK. The feed's
// first change triggers the first load.
func (m model) Init() tea.Cmd { return m.feed.wait() }

// Update implements tea.Model.
func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil

	case changeMsg:
		m.status = msg.status
		load := m.requestLoad()
		return m, tea.Batch(m.feed.wait(), load)

	case feedClosedMsg:
		return m, nil

	case loadedMsg:
		m.loading = false
		m.loadErr = msg.err
		if msg.err == nil {
			m.channels = msg.channels
			if msg.asked == m.cid || m.cid == "" {
				m.cid, m.msgs = msg.cid, msg.msgs
			} else {
				// The user switched channels while it ran.
				m.reloadAgain = true
			}
		}
		if m.reloadAgain {
			m.reloadAgain = false
			load := m.requestLoad()
			return m, load
		}
		return m, nil

	case sentMsg:
		m.sending--
		m.uiErr = msg.err
		if msg.err != nil && m.input.Value() == "" {
			m.input.SetValue(msg.text) // lose nothing: give it back
		}
		if m.quitting && m.sending == 0 {
			return m, tea.Quit
		}
		load := m.requestLoad()
		return m, load

	case toggledMsg:
		m.toggling = false
		m.offline = msg.offline
		if msg.err != nil {
			m.uiErr = msg.err
		}
		return m, nil

	case tea.KeyMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.Type {
	case tea.KeyCtrlC, tea.KeyEsc:
		if m.sending > 0 {
			// A send is being stored; quitting now could close the
			// client under it and lose the message.
			m.quitting = true
			return m, nil
		}
		return m, tea.Quit
	case tea.KeyTab:
		return m.selectChannel(1)
	case tea.KeyShiftTab:
		return m.selectChannel(-1)
	case tea.KeyCtrlO:
		return m.toggleOffline()
	case tea.KeyEnter:
		return m.send()
	case tea.KeyRunes, tea.KeySpace:
		if !k.Alt {
			// Typed or pasted text is text: inserted as is, never matched
			// against key bindings. (A burst of input arrives as word-long
			// KeyRunes messages, and the input's bindings would take the
			// words "up", "down" or "home" for the keys of those names.)
			m.input = insertText(m.input, k.Runes)
			return m, nil
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return m, cmd
}

// selectChannel moves the selection by delta, wrapping around.
func (m model) selectChannel(delta int) (tea.Model, tea.Cmd) {
	n := len(m.channels)
	if n == 0 {
		return m, nil
	}
	i := slices.IndexFunc(m.channels, func(ch offlinedb.Channel) bool { return ch.CID == m.cid })
	i = ((i+delta)%n + n) % n
	m.cid, m.msgs = m.channels[i].CID, nil
	load := m.requestLoad()
	return m, load
}

// send stores the input line in the outbox of the selected channel.
func (m model) send() (tea.Model, tea.Cmd) {
	text := strings.TrimSpace(m.input.Value())
	if text == "" {
		return m, nil
	}
	if m.cid == "" {
		m.uiErr = errors.New("no channel to send to yet")
		return m, nil
	}
	m.input.Reset()
	m.sending++
	c, cid := m.c, m.cid
	return m, func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		_, err := c.SendMessage(ctx, cid, outpost.NewMessage{Text: text})
		return sentMsg{text: text, err: err}
	}
}

// toggleOffline disconnects, or starts connecting again without waiting
// for the network: the status bar says when the connection is up.
func (m model) toggleOffline() (tea.Model, tea.Cmd) {
	if m.toggling {
		return m, nil
	}
	m.toggling = true
	c := m.c
	if !m.offline {
		return m, func() tea.Msg {
			err := c.Disconnect(context.Background())
			return toggledMsg{offline: true, err: err}
		}
	}
	return m, func() tea.Msg {
		// Connect keeps trying in the background after its ctx ends.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := c.Connect(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
		return toggledMsg{offline: false, err: err}
	}
}

// requestLoad starts a load of the local store, or, if one is running,
// asks for another when it ends, so at most one runs at a time and a
// burst of changes costs at most two. It changes m: call it before m is
// used in a return statement, whose operands Go may read in any order.
func (m *model) requestLoad() tea.Cmd {
	if m.loading {
		m.reloadAgain = true
		return nil
	}
	m.loading = true
	c, asked := m.c, m.cid
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
		defer cancel()
		return load(ctx, c, asked)
	}
}

// load reads the channel list and the latest messages of the channel
// asked for, or of the first channel if that one is gone.
func load(ctx context.Context, c *outpost.Client, asked string) loadedMsg {
	out := loadedMsg{asked: asked}
	chs, _, err := c.Channels(ctx, offlinedb.ChannelsQuery{})
	if err != nil {
		out.err = err
		return out
	}
	slices.SortFunc(chs, func(a, b offlinedb.Channel) int {
		return strings.Compare(channelLabel(a)+"\x00"+a.CID, channelLabel(b)+"\x00"+b.CID)
	})
	out.channels = chs
	if !slices.ContainsFunc(chs, func(ch offlinedb.Channel) bool { return ch.CID == asked }) {
		asked = ""
		if len(chs) > 0 {
			asked = chs[0].CID
		}
	}
	out.cid = asked
	if asked != "" {
		out.msgs, out.err = c.Messages(ctx, asked, offlinedb.MessagesQuery{Limit: messageLimit})
	}
	return out
}

// insertText inserts runes into the input line at its cursor and moves
// the cursor past them.
func insertText(in textinput.Model, runes []rune) textinput.Model {
	v := []rune(in.Value())
	pos := min(in.Position(), len(v))
	out := make([]rune, 0, len(v)+len(runes))
	out = append(append(append(out, v[:pos]...), runes...), v[pos:]...)
	in.SetValue(string(out))
	in.SetCursor(pos + len(runes))
	return in
}
