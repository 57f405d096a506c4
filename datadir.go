package outpost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DataDir returns the folder, by the operating system's convention, where
// an app keeps per-user data that stays on this machine (not roaming):
//
//   - Windows: %LocalAppData% (C:\Users\NAME\AppData\Local)
//   - macOS and iOS: ~/Library/Application Support
//   - Linux and the other Unixes: $XDG_DATA_HOME, or ~/.local/share when
//     it is unset or not absolute
//   - elsewhere: os.UserConfigDir
//
// Each platform's rule is in a file of its own (datadir_*.go).
func DataDir() (string, error) {
	dir, err := dataDir()
	if err != nil {
		return "", fmt.Errorf("outpost: no data folder: %w", err)
	}
	return dir, nil
}

// DefaultDBPath returns where app keeps the store of userID by the
// system's convention, DataDir()/app/userID.db, and creates the folder
// (mode 0700) if missing. app names the app's folder (say "Acme Chat");
// give the same app name in each process that should share the store (an
// app, its helper, the outpost CLI's --db). Neither may be empty or hold
// a path separator.
func DefaultDBPath(app, userID string) (string, error) {
	for _, name := range []string{app, userID} {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return "", fmt.Errorf("outpost: DefaultDBPath: %q is not a file name", name)
		}
	}
	base, err := DataDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, app)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("outpost: DefaultDBPath: %w", err)
	}
	return filepath.Join(dir, userID+".db"), nil
}

// homeRelative returns rel under the user's home folder.
func homeRelative(rel ...string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	if home == "" {
		return "", errors.New("home folder unknown")
	}
	return filepath.Join(append([]string{home}, rel...)...), nil
}
