package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/outpostsync/outpost/migrations"
)

// creatingSuffix marks a store being built beside its path: PATH.creating-*.
const creatingSuffix = ".creating-"

// staleCreating is how old a PATH.creating-* file must be before an Open
// of PATH deletes it as left behind by a process that died building it.
// Building a store takes milliseconds; nobody else ever opens that file.
const staleCreating = 10 * time.Minute

// createAtomically makes a new store at path, which does not exist: it
// builds the store, migrated, in a file of its own beside path and links it
// into place, so path is either absent or a whole store, never one half
// made. A process killed while building leaves path absent (and a
// PATH.creating-* file a later Open removes), and the next Open starts
// again. When several processes create path at once, each builds its own
// and the first link wins; the others find path made and use it.
func createAtomically(ctx context.Context, path string, opts Options) error {
	removeStaleCreating(path, opts.Now())
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := fmt.Sprintf("%s%s%d-%s", path, creatingSuffix, os.Getpid(), hex.EncodeToString(rnd[:]))
	defer os.Remove(tmp)
	if err := buildStore(ctx, tmp, opts); err != nil {
		return err
	}
	err := os.Link(tmp, path)
	switch {
	case err == nil, errors.Is(err, os.ErrExist):
		// Ours is in place, or another opener's is: either is whole.
	case errors.Is(err, os.ErrNotExist), errors.Is(err, os.ErrPermission):
		return err
	default:
		// A file system without hard links: a rename is as atomic, but
		// would replace a store another opener put there meanwhile.
		if _, serr := os.Lstat(path); serr == nil {
			return nil
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	syncDir(filepath.Dir(path))
	return nil
}

// buildStore creates the store file tmp, 0600, with every migration
// applied, and closes it. It uses a rollback journal, so the closed file
// is all there is of it; Open switches the store to WAL.
func buildStore(ctx context.Context, tmp string, opts Options) error {
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(delete)")
	q.Add("_pragma", "synchronous(full)")
	q.Add("_pragma", "foreign_keys(1)")
	sdb, err := sqlx.Open("sqlite", "file:"+(&url.URL{Path: tmp}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return err
	}
	sets := append([]migrations.Set{migrations.Local()}, opts.Migrations...)
	err = migrations.Apply(ctx, sdb.DB, sets...)
	if cerr := sdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("build a new store: %w", err)
	}
	if _, err := os.Stat(tmp + "-journal"); err == nil {
		return fmt.Errorf("build a new store: %s-journal was left behind", tmp)
	}
	f, err = os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeStaleCreating deletes the PATH.creating-* files of processes that
// died building a store long enough ago.
func removeStaleCreating(path string, now time.Time) {
	matches, _ := filepath.Glob(globEscape(path) + creatingSuffix + "*")
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && now.Sub(st.ModTime()) > staleCreating {
			os.Remove(m)
		}
	}
}

// globEscape escapes the characters filepath.Match treats specially.
func globEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// syncDir makes a new directory entry durable; where directories cannot be
// synced, it does nothing.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
