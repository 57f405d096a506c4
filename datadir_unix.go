//go:build unix && !darwin && !ios

package outpost

import (
	"os"
	"path/filepath"
)

// dataDir is $XDG_DATA_HOME, or ~/.local/share when it is unset or
// relative (the XDG Base Directory rule: relative paths are ignored).
func dataDir() (string, error) {
	if dir := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(dir) {
		return dir, nil
	}
	return homeRelative(".local", "share")
}
