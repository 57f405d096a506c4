package main

import (
	"errors"
	"io/fs"
	"os"
)

// The draft is what is typed in the new task field and not yet added: it
// is kept in a file beside the store when the window closes, and put back
// in the field on the next start, so closing the app loses nothing typed.

// draftPath returns the draft's file for the store at db.
func draftPath(db string) string { return db + ".draft" }

// saveDraft keeps text in path, or removes path when text is empty.
func saveDraft(path, text string) error {
	if text == "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(path, []byte(text), 0o600)
}

// loadDraft returns the draft kept in path, "" if there is none.
func loadDraft(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(b)
}
