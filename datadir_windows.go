//go:build windows

package outpost

import (
	"errors"
	"os"
)

// dataDir is %LocalAppData%: per-user data that does not roam with the
// user's profile (a store is a cache of the server, plus this machine's
// outbox).
func dataDir() (string, error) {
	if dir := os.Getenv("LocalAppData"); dir != "" {
		return dir, nil
	}
	return "", errors.New("%LocalAppData% is not set")
}
