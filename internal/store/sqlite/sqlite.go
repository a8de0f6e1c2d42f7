// Package sqlite is the store in one SQLite file (modernc.org/sqlite, pure
// Go, so that the binary stays static), in WAL mode: the SQL store of
// package sqlstore with SQLite's dialect.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// Dialect is SQLite's.
var Dialect = &sqlstore.Dialect{
	Name:         "sqlite",
	Serial:       "INTEGER PRIMARY KEY AUTOINCREMENT",
	Int:          "INTEGER",
	Real:         "REAL",
	Blob:         "BLOB",
	WithoutRowID: " WITHOUT ROWID",
	Now:          "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
	Contains:     "instr(reason, ?) > 0",
	// As the session library (scs sqlite3store) keeps them.
	Sessions: `CREATE TABLE sessions (
	token  TEXT PRIMARY KEY,
	data   BLOB NOT NULL,
	expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry)`,
	Classify: classify,
	// One process has the file: its one writer needs no lock.
	Lock:    func(context.Context, *sql.Conn) error { return nil },
	Unlock:  func(context.Context, *sql.Conn) error { return nil },
	Legacy:  5,
	Reclaim: "VACUUM",
	Trim:    "PRAGMA incremental_vacuum",
}

// conns is how many connections the store opens: one writes, the others
// read beside it (WAL).
const conns = 4

// pageCacheKiB is each connection's SQLite page cache, outside the Go
// heap: an eighth of what the store's own caches may hold (cacheBytes,
// from the memory budget) over the connections, between 2 and 16 MiB
// each (8 MiB for the four at the default budget).
func pageCacheKiB(cacheBytes int64) int64 {
	if cacheBytes <= 0 {
		return 16 << 10
	}
	return min(max(cacheBytes/8/conns>>10, 2<<10), 16<<10)
}

// Open opens (creating if needed) the store in the SQLite file at path
// and brings its schema up to date. It holds the file's shared lock
// (Lock) until it closes, so that a restore does not replace the file
// under it.
func Open(ctx context.Context, path string, opts sqlstore.Options) (_ *sqlstore.Store, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	release, err := Lock(path, false)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	q := url.Values{}
	// Incremental vacuum lets the file shrink after compaction; it takes
	// effect on a new file (and on a file of the row layout, vacuumed
	// once converted).
	q.Add("_pragma", "auto_vacuum(INCREMENTAL)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", pageCacheKiB(opts.CacheBytes)))
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	s, err := sqlstore.Open(ctx, db, Dialect, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s.OnClose(release)
	return s, nil
}
