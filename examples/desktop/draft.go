package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
)

// The draft is what is typed in the new task field and the chat field
// and not yet added or said: it is kept in a file beside the store when
// the window closes, and put back in the fields on the next start, so
// closing the app loses nothing typed.

// Draft is the text of the window's fields.
type Draft struct {
	Task string `json:"task,omitempty"`
	Chat string `json:"chat,omitempty"`
}

// draftPath returns the draft's file for the store at db.
func draftPath(db string) string { return db + ".draft" }

// saveDraft keeps d in path, or removes path when d is empty.
func saveDraft(path string, d Draft) error {
	if d == (Draft{}) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// loadDraft returns the draft kept in path, empty if there is none. A
// file that is not a Draft's JSON is the new task's text.
func loadDraft(path string) Draft {
	b, err := os.ReadFile(path)
	if err != nil {
		return Draft{}
	}
	var d Draft
	if json.Unmarshal(b, &d) != nil {
		return Draft{Task: string(b)}
	}
	return d
}
