package main

import (
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/outpostsync/outpost/syncmanager"
)

func TestStatusBar(t *testing.T) {
	tests := []struct {
		name string
		m    model
		want string
	}{
		{"online and synced",
			model{status: syncmanager.Status{Online: true, Synced: true}},
			"● online · synced · pending 0 · failed 0 · user bob"},
		{"syncing shows events applied",
			model{status: syncmanager.Status{Online: true, Syncing: true, Progress: syncmanager.Progress{Pages: 2, Events: 1200}}},
			"● online · syncing: 1200 events applied · pending 0 · failed 0 · user bob"},
		{"offline with the connection's error and a queue",
			model{status: syncmanager.Status{Pending: 2, Failed: 1, LastError: errors.New("dial: connection refused")}},
			"○ offline · pending 2 · failed 1 · error: dial: connection refused · user bob"},
		{"offline by ctrl+o",
			model{offline: true},
			"○ offline (ctrl+o to reconnect) · pending 0 · failed 0 · user bob"},
		{"a sync error shows online too",
			model{status: syncmanager.Status{Online: true, LastError: errors.New("sync: 503")}},
			"● online · pending 0 · failed 0 · error: sync: 503 · user bob"},
		{"a failed read of the local store",
			model{status: syncmanager.Status{Online: true}, loadErr: errors.New("database is locked")},
			"● online · pending 0 · failed 0 · error: database is locked · user bob"},
		{"the app's own error first",
			model{status: syncmanager.Status{LastError: errors.New("sync: 503")}, uiErr: errors.New("disk full")},
			"○ offline · pending 0 · failed 0 · error: disk full · user bob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.user = "bob"
			got := strings.TrimRight(ansi.Strip(tt.m.statusBar(200)), " ")
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestQuitWaitsForSend: Esc while a send is being stored quits only once
// it is stored, so quitting never cuts a message off.
func TestQuitWaitsForSend(t *testing.T) {
	m := model{sending: 1}
	next, cmd := m.Update(tea.KeyMsg{Type: tea.KeyEsc})
	if cmd != nil {
		t.Fatalf("Esc with a send in flight returned a command (%T), want none yet", cmd())
	}
	_, cmd = next.Update(sentMsg{text: "hi"})
	if cmd == nil {
		t.Fatal("no command after the send was stored, want tea.Quit")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatalf("command after the send = %T, want tea.QuitMsg", cmd())
	}
}
