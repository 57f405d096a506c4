package main

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/outpostsync/outpost/offlinedb"
)

// Marks for messages that are not (yet) on the server. Each pairs a
// symbol with a word, so they read on any terminal and in a screen reader.
const (
	pendingMark = "⏳ pending"
	failedMark  = "✗ failed"
)

const channelColumn = 20 // width of the channel list, separator included

var (
	styleHeader   = lipgloss.NewStyle().Bold(true)
	styleHint     = lipgloss.NewStyle().Faint(true)
	styleSelected = lipgloss.NewStyle().Bold(true).Reverse(true)
	styleOnline   = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	styleOffline  = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	stylePending  = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	styleFailed   = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	styleError    = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	styleStatus   = lipgloss.NewStyle().Reverse(true)
)

// View implements tea.Model: a header with the keys, the channel list
// beside the selected channel's messages, the input line and the status
// bar.
func (m model) View() string {
	w, h := m.width, m.height
	if w < 30 {
		w = 30
	}
	if h < 6 {
		h = 6
	}
	bodyH := h - 3 // header, input, status bar
	rightW := w - channelColumn

	left := make([]string, 0, bodyH)
	left = append(left, styleHeader.Render("Channels"))
	for _, ch := range m.channels {
		label := ansi.Truncate(channelLabel(ch), channelColumn-4, "…")
		if ch.CID == m.cid {
			left = append(left, styleSelected.Render("> "+label))
		} else {
			left = append(left, "  "+label)
		}
	}

	right := make([]string, 0, bodyH)
	title := "no channels yet"
	if ch, ok := m.selected(); ok {
		title = fmt.Sprintf("#%s  (%s)", channelLabel(ch), ch.CID)
	}
	right = append(right, styleHeader.Render(ansi.Truncate(title, rightW, "…")))
	msgs := m.msgs
	if room := bodyH - 1; len(msgs) > room {
		msgs = msgs[len(msgs)-room:]
	}
	for _, msg := range msgs {
		right = append(right, ansi.Truncate(messageLine(msg), rightW, "…"))
	}

	var b strings.Builder
	b.WriteString(styleHint.Render(ansi.Truncate(
		"tab: next channel · enter: send · ctrl+o: go offline/online · esc: quit", w, "…")))
	b.WriteByte('\n')
	for i := range bodyH {
		var l, r string
		if i < len(left) {
			l = left[i]
		}
		if i < len(right) {
			r = right[i]
		}
		b.WriteString(lipgloss.NewStyle().Width(channelColumn - 2).Render(l))
		b.WriteString("│ ")
		b.WriteString(r)
		b.WriteByte('\n')
	}
	b.WriteString(ansi.Truncate(m.input.View(), w, ""))
	b.WriteByte('\n')
	b.WriteString(m.statusBar(w))
	return b.String()
}

func (m model) selected() (offlinedb.Channel, bool) {
	for _, ch := range m.channels {
		if ch.CID == m.cid {
			return ch, true
		}
	}
	return offlinedb.Channel{}, false
}

// channelLabel is the channel's name, or its id if it has none.
func channelLabel(ch offlinedb.Channel) string {
	if ch.Name != "" {
		return ch.Name
	}
	return ch.ID
}

// messageLine renders one message: its local time, author and text, with
// a mark if it is not on the server yet or was refused.
func messageLine(msg offlinedb.Message) string {
	line := fmt.Sprintf("%s %s: %s", msg.CreatedAt.Local().Format("15:04"), msg.UserID, oneLine(msg.Text))
	switch msg.Status {
	case offlinedb.StatusPending:
		return line + "  " + stylePending.Render(pendingMark)
	case offlinedb.StatusFailed:
		mark := failedMark
		if msg.Error != "" {
			mark += ": " + oneLine(msg.Error)
		}
		return line + "  " + styleFailed.Render(mark)
	}
	return line
}

// oneLine keeps a message on its row: newlines and tabs become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// statusBar renders the connection, the sync progress, the outbox counts,
// the last error and the user.
func (m model) statusBar(w int) string {
	st := m.status
	var parts []string
	switch {
	case st.Online:
		parts = append(parts, styleOnline.Render("● online"))
	case m.offline:
		parts = append(parts, styleOffline.Render("○ offline (ctrl+o to reconnect)"))
	default:
		parts = append(parts, styleOffline.Render("○ offline"))
	}
	switch {
	case st.Syncing:
		parts = append(parts, fmt.Sprintf("syncing: %d events applied", st.Progress.Events))
	case st.Synced:
		parts = append(parts, "synced")
	}
	parts = append(parts, fmt.Sprintf("pending %d", st.Pending), fmt.Sprintf("failed %d", st.Failed))
	var err error
	switch {
	case m.uiErr != nil:
		err = m.uiErr
	case m.loadErr != nil:
		err = m.loadErr
	case st.LastError != nil:
		err = st.LastError
	}
	if err != nil {
		parts = append(parts, styleError.Render("error: "+oneLine(err.Error())))
	}
	parts = append(parts, "user "+m.user)
	bar := ansi.Truncate(strings.Join(parts, " · "), w, "…")
	return styleStatus.Render(bar + strings.Repeat(" ", max(0, w-ansi.StringWidth(bar))))
}
