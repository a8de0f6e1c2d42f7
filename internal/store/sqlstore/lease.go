package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

var _ store.Leases = (*Store)(nil)

// AcquireLease takes or renews a lease in one statement, on the
// database's clock.
func (s *Store) AcquireLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.LeaseState, error) {
	var st store.LeaseState
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.d.Now
		if _, err := s.exec(ctx, tx, `INSERT INTO leases (name, holder, expires) VALUES (?, ?, `+now+` + ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
			WHERE leases.holder = excluded.holder OR leases.expires <= `+now,
			l.Name, l.Holder, ttl.Milliseconds()); err != nil {
			return err
		}
		var left int64
		if err := s.queryRow(ctx, tx, `SELECT holder, expires - `+now+` FROM leases WHERE name = ?`, l.Name).Scan(&st.Holder, &left); err != nil {
			return err
		}
		st.Held, st.Left = st.Holder == l.Holder, time.Duration(left)*time.Millisecond
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("store: lease %s: %w", l.Name, err)
	}
	return st, nil
}

// ReleaseLease lets the lease expire now if l.Holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, l store.Lease) error {
	_, err := s.exec(ctx, s.db, `UPDATE leases SET expires = 0 WHERE name = ? AND holder = ?`, l.Name, l.Holder)
	if err != nil {
		return fmt.Errorf("store: lease %s: %w", l.Name, err)
	}
	return nil
}

// SaveAlertsHolding saves the changes in a transaction that first checks,
// and locks, the lease: a process taking it over waits for the save, and
// one that lost it saves nothing.
func (s *Store) SaveAlertsHolding(ctx context.Context, l store.Lease, changes []store.AlertChange) error {
	if len(changes) == 0 {
		return nil
	}
	ids := make([]int64, len(changes))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var holder string
		err := s.queryRow(ctx, tx, `SELECT holder FROM leases WHERE name = ? AND expires > `+s.d.Now+s.d.ForUpdate, l.Name).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && holder != l.Holder) {
			return fmt.Errorf("%w (lease %s)", store.ErrLeaseLost, l.Name)
		}
		if err != nil {
			return err
		}
		return s.saveAlerts(ctx, tx, changes, ids)
	})
	if err != nil {
		return err
	}
	for i := range changes {
		changes[i].State.AlertID = ids[i]
	}
	return nil
}
