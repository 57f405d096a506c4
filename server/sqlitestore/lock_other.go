//go:build !unix

package sqlitestore

import (
	"fmt"
	"os"
)

// lockFile opens the lock file without locking it: on this platform a
// second server on one database is not detected.
func lockFile(path string, shared bool) (*os.File, error) {
	f, err := openPrivateFile(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: lock file: %w", err)
	}
	return f, nil
}
