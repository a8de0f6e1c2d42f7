// Package postgres is the store on PostgreSQL (pgx through database/sql):
// the SQL store of package sqlstore with PostgreSQL's dialect, for a store
// that several processes share.
package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// migrationLock is the advisory lock that keeps two processes starting at
// once from migrating together.
const migrationLock = 0x5e5011b

// Dialect is PostgreSQL's.
var Dialect = &sqlstore.Dialect{
	Name:      "postgres",
	Serial:    "BIGSERIAL PRIMARY KEY",
	Int:       "BIGINT",
	Real:      "DOUBLE PRECISION",
	Blob:      "BYTEA",
	ForUpdate: " FOR UPDATE",
	// Each statement of a transaction at READ COMMITTED sees what was
	// committed before it began: one state takes REPEATABLE READ.
	Snapshot: sql.LevelRepeatableRead,
	Now:      "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
	Numbered: true,
	Contains: "strpos(reason, ?) > 0",
	// As the session library (scs postgresstore) keeps them: shared by
	// every web process.
	Sessions: `CREATE TABLE sessions (
	token  TEXT PRIMARY KEY,
	data   BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry)`,
	// Every write updates its devices' rows: with room in their pages, an
	// update goes in the same page and the old version is pruned there,
	// without waiting for a vacuum.
	Tune:     "ALTER TABLE devices SET (fillfactor = 50);",
	Classify: classify,
	Lock: func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock)
		return err
	},
	Unlock: func(ctx context.Context, c *sql.Conn) error {
		_, err := c.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, migrationLock)
		return err
	},
	Legacy: 3,
	// Compacted rows' space is the autovacuum's to make reusable; a clean
	// stop gives it back at once: recent rows are all gone then, and the
	// table is rewritten empty in no time; devices' rows are updated by
	// every write, and chunks rewritten by compaction.
	Trim: "",
	Tidy: []string{"VACUUM FULL recent", "VACUUM devices, chunks, device_fields"},
}

// Open connects to the database at url (postgres://user:pass@host/db?...)
// and brings its schema up to date.
func Open(ctx context.Context, url string, opts sqlstore.Options) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: postgres url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: postgres at %s: %w", cfg.Host, err)
	}
	s, err := sqlstore.Open(ctx, db, Dialect, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
