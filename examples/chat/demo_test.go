package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/outpostsync/outpost"
	"github.com/outpostsync/outpost/client"
)

// TestDemo_TabAndOffline runs the program against the --demo world, as a
// newcomer would: both channels are there with the friend's messages, the
// bot posts, Tab switches channels, Ctrl-O goes offline and back, and
// Ctrl-C quits.
func TestDemo_TabAndOffline(t *testing.T) {
	ctx := context.Background()
	d, err := startDemo(ctx, "carol", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	dir := d.Dir
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("demo.Close: %v", err)
		}
	})
	tok, err := d.Token("carol")
	if err != nil {
		t.Fatal(err)
	}
	c, err := outpost.Open(ctx, outpost.Config{ServerURL: d.URL, UserID: "carol", Token: tok,
		DBPath: filepath.Join(t.TempDir(), "carol.db"),
		Client: client.Config{MinReconnectDelay: 10 * time.Millisecond, MaxReconnectDelay: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })

	m := newModel(c)
	t.Cleanup(m.close)
	// A tall screen, so the bot cannot scroll the friend's first message
	// away before the first check.
	tm := teatest.NewTestModel(t, probe{m}, teatest.WithInitialTermSize(120, 400))

	// Both channels must be listed before Tab: the first sync may bring
	// them one after the other.
	waitScreen(t, tm, "both channels, general with the friend's and the bot's messages", func(s string) bool {
		return strings.Contains(s, "#general") && strings.Contains(s, "  random") && strings.Contains(s, "bob: hi carol!") &&
			strings.Contains(s, "outbot: beep.") && strings.Contains(s, "● online")
	})
	tm.Send(tea.KeyMsg{Type: tea.KeyTab})
	waitScreen(t, tm, "tab to random", func(s string) bool {
		return strings.Contains(s, "#random") && strings.Contains(s, "bob: nothing to see here") &&
			!strings.Contains(s, "outbot:")
	})
	tm.Send(tea.KeyMsg{Type: tea.KeyShiftTab})
	waitScreen(t, tm, "shift+tab back to general", func(s string) bool { return strings.Contains(s, "#general") })

	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlO})
	waitScreen(t, tm, "offline after ctrl+o", func(s string) bool { return strings.Contains(s, "○ offline (ctrl+o to reconnect)") })
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlO})
	waitScreen(t, tm, "online after a second ctrl+o", func(s string) bool { return strings.Contains(s, "● online") })

	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	tm.WaitFinished(t, teatest.WithFinalTimeout(waitTimeout))
	m.close()
	if err := c.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("demo.Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("demo dir %s still there after Close (stat: %v)", dir, err)
	}
}

func TestStartDemo_RefusesTakenOrBadUser(t *testing.T) {
	for _, user := range []string{"bob", "outbot", "not a valid id"} {
		if d, err := startDemo(context.Background(), user, time.Hour); err == nil {
			d.Close()
			t.Errorf("startDemo(%q) = nil error, want one", user)
		}
	}
}
