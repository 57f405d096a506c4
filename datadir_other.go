//go:build !unix && !windows

package outpost

import "os"

// dataDir is os.UserConfigDir on a platform with no convention of its own
// for local data.
func dataDir() (string, error) {
	return os.UserConfigDir()
}
