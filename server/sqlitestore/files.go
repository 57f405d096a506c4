package sqlitestore

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"github.com/jmoiron/sqlx"
)

// fileMode is the mode of the store's files: the database holds every
// user's messages, so only the server's own user may read it.
const fileMode fs.FileMode = 0o600

// openPrivate opens the database at path with the DSN parameters q, its
// files readable and writable by the owner only (0600), whatever the
// umask (see prepareFiles).
func openPrivate(path string, q url.Values) (*sqlx.DB, error) {
	if err := prepareFiles(path); err != nil {
		return nil, err
	}
	return sqlx.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
}

// prepareFiles creates the database file with fileMode before SQLite opens
// it, whatever the umask, and takes group and other access away from an
// existing one and its -wal and -shm files. SQLite gives the -wal and -shm
// files it creates the database file's mode (and sets it with fchmod, so
// the umask does not narrow or widen it).
func prepareFiles(path string) error {
	f, err := openPrivateFile(path)
	if err != nil {
		return fmt.Errorf("sqlitestore: create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlitestore: create %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlitestore: %w", err)
		}
		if st.Mode().Perm() != fileMode {
			if err := os.Chmod(p, fileMode); err != nil {
				return fmt.Errorf("sqlitestore: make %s private: %w", p, err)
			}
		}
	}
	return nil
}

// openPrivateFile opens the file at path for reading and writing,
// creating it if missing, with fileMode whatever the umask: a file an
// older release or another umask left wider is narrowed.
func openPrivateFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Mode().Perm() != fileMode {
		err = f.Chmod(fileMode)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
