package stmtcache

import (
	"context"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Cache is a bounded set of statements prepared on a DB. It is safe for
// concurrent use.
type Cache struct {
	db  *sqlx.DB
	max int

	mu     sync.Mutex
	stmts  map[string]*sqlx.Stmt
	closed bool
}

// New returns a cache of at most max statements on db; SQL texts beyond
// that are prepared per transaction, as without a cache.
func New(db *sqlx.DB, max int) *Cache {
	return &Cache{db: db, max: max, stmts: map[string]*sqlx.Stmt{}}
}

// Close closes the cached statements. Close it before the DB.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
	return nil
}

// shared returns the DB-wide statement for query, preparing it if there is
// room; nil when there is none (or the cache is closed).
func (c *Cache) shared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c.mu.Lock()
	st, ok := c.stmts[query]
	full := c.closed || len(c.stmts) >= c.max
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := c.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok || c.closed || len(c.stmts) >= c.max {
		st.Close() // lost a race, or closed meanwhile
		return prev, nil
	}
	c.stmts[query] = st
	return st, nil
}

// Tx is the cache seen from one transaction. It is not safe for
// concurrent use, like the transaction.
type Tx struct {
	c     *Cache
	tx    *sqlx.Tx
	stmts map[string]*sqlx.Stmt
}

// Tx returns the cache's view for tx. The statements it hands out are
// closed with the transaction.
func (c *Cache) Tx(tx *sqlx.Tx) *Tx {
	return &Tx{c: c, tx: tx, stmts: map[string]*sqlx.Stmt{}}
}

// Stmt returns a statement for query bound to the transaction.
func (t *Tx) Stmt(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	shared, err := t.c.shared(ctx, query)
	if err != nil {
		return nil, err
	}
	var st *sqlx.Stmt
	if shared != nil {
		st = t.tx.StmtxContext(ctx, shared)
	} else if st, err = t.tx.PreparexContext(ctx, query); err != nil {
		return nil, err
	}
	t.stmts[query] = st
	return st, nil
}

// Exec runs query with args in the transaction.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) error {
	st, err := t.Stmt(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

// Get runs a query for one row into dest (as sqlx.Get).
func (t *Tx) Get(ctx context.Context, dest any, query string, args ...any) error {
	st, err := t.Stmt(ctx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// Select runs a query for rows into dest (as sqlx.Select).
func (t *Tx) Select(ctx context.Context, dest any, query string, args ...any) error {
	st, err := t.Stmt(ctx, query)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}
