package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sensorhub/sensorhub/internal/store"
)

// classify marks the errors that say the database cannot be written now
// as store.Unavailable: a connection that failed or was lost, and every
// answer of the server but those about the values written (data
// exceptions, integrity violations, program limits such as a value too
// large to index): a full disk, a table missing, a permission taken away
// or a transaction the server rolled back holds every message alike.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "22", "23", "54":
			return err
		}
		return store.Unavailable(err)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return store.Unavailable(err)
	}
	// Anything else from the driver that is not the server's answer is a
	// connection that broke mid-way.
	var netOp interface{ Timeout() bool }
	if errors.As(err, &netOp) {
		return store.Unavailable(err)
	}
	return err
}
