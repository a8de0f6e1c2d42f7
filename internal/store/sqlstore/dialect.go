// Package sqlstore is sensorhub's store on a SQL database, written once
// for SQLite and PostgreSQL over a small dialect: placeholders, column
// types, row locks, and how the engine tells an outage from bad data.
//
// Readings are kept as columns in compressed chunks (package chunk), one
// or more per device and local day. A batch is written in one transaction
// to a table of recent readings, a row per device and day holding its new
// readings as an uncompressed chunk body; a compactor folds them into the
// day's chunk in the background, in transactions of one device and day, so
// that a crash at any point loses and duplicates nothing. A later recent
// row replaces what an earlier one or a chunk holds of the same identity
// (a late reading re-derived its successor): queries and compaction read
// them together.
//
// Several processes share a PostgreSQL database (ingestors on one stream,
// each with its compactor and retention job), so every transaction takes
// row locks in one order, and they wait on each other instead of
// deadlocking: a device's row (devices, FOR UPDATE) before any row of its
// readings, units or aggregates (recent, chunks, device_fields,
// day_rollups, rolled_keys), several devices in order of id; then the
// rejected messages' rows in order of received time and digest, kept and
// removed alike. New devices and field names are made in short
// transactions of their own, in order of key and name. A read of several
// statements (a device's parts listed, then read) reads one snapshot.
package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// Dialect is what differs between the SQL engines.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Serial, Int, Real and Blob are the column types of an id, an
	// integer, a float and bytes.
	Serial, Int, Real, Blob string
	// WithoutRowID ends a CREATE TABLE of small rows keyed by their
	// primary key (SQLite).
	WithoutRowID string
	// ForUpdate ends a SELECT that locks the rows it reads until the
	// transaction ends (PostgreSQL; SQLite has one writer at a time).
	ForUpdate string
	// Snapshot is the isolation of a read that takes several statements
	// (sql.LevelDefault: the engine's transaction reads one state).
	Snapshot sql.IsolationLevel
	// Now is the database's clock in Unix milliseconds, as an SQL
	// expression: leases expire on it.
	Now string
	// Numbered placeholders ($1) instead of ?.
	Numbered bool
	// Contains is the condition "reason holds ?".
	Contains string
	// Sessions creates the web sessions' table as the session library of
	// the engine keeps it.
	Sessions string
	// Tune is statements of the engine's own that end the schema (each
	// ending with a semicolon), such as the room a table keeps in its
	// pages for updates.
	Tune string
	// Classify marks the engine's errors that are outages.
	Classify func(error) error
	// Lock and Unlock hold the migration lock, on a connection of its own.
	Lock, Unlock func(ctx context.Context, c *sql.Conn) error
	// Legacy is the last schema version of the row layout.
	Legacy int
	// Reclaim gives the disk back the space of the dropped row layout.
	Reclaim string
	// Trim gives the disk back the space of deleted recent rows, after
	// compaction (empty: the engine does it by itself).
	Trim string
	// Tidy gives the disk back what the engine keeps of deleted and
	// updated rows, at a clean stop once every reading is in chunks; each
	// statement is run on its own.
	Tidy []string
}

// rebind turns a query written with ? into the dialect's placeholders.
func (d *Dialect) rebind(q string) string {
	if !d.Numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ddl fills a schema written with {{SERIAL}}, {{INT}}, {{REAL}}, {{BLOB}},
// {{WITHOUT_ROWID}}, {{SESSIONS}} and {{TUNE}} for the dialect.
func (d *Dialect) ddl(s string) string {
	return strings.NewReplacer("{{SERIAL}}", d.Serial, "{{INT}}", d.Int, "{{REAL}}", d.Real, "{{BLOB}}", d.Blob,
		"{{WITHOUT_ROWID}}", d.WithoutRowID, "{{SESSIONS}}", d.Sessions, "{{TUNE}}", d.Tune).Replace(s)
}

// placeholders is "(?, ?, ?), (?, ?, ?)": rows of n columns.
func placeholders(rows, n int) string {
	row := "(" + strings.Repeat("?, ", n-1) + "?)"
	return strings.Repeat(row+", ", rows-1) + row
}
