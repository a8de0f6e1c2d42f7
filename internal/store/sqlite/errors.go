package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sensorhub/sensorhub/internal/store"
)

// classify marks the errors that say the database cannot be written now
// (busy, out of disk, out of memory, an I/O error, a table missing) as
// store.Unavailable; only those about the values written (too big, a
// constraint, a type mismatch) and errors before the database (a value
// that cannot be encoded) may be about one message.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
			return err
		case sqlite3.SQLITE_FULL:
			return store.Unavailable(fmt.Errorf("no space left on device for the database: %w", err))
		}
		return store.Unavailable(err)
	}
	if errors.Is(err, sql.ErrConnDone) {
		return store.Unavailable(err)
	}
	return err
}
