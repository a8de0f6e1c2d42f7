package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// MarkInvalid keeps an interval of a device's readings marked invalid.
func (s *Store) MarkInvalid(ctx context.Context, iv store.InvalidInterval) (store.InvalidInterval, error) {
	switch {
	case !iv.From.Before(iv.To):
		return store.InvalidInterval{}, fmt.Errorf("invalid interval of %s/%s/%s: from %s is not before to %s",
			iv.Customer, iv.Sensor, iv.Device, iv.From.Format(time.RFC3339), iv.To.Format(time.RFC3339))
	case strings.TrimSpace(iv.Reason) == "":
		return store.InvalidInterval{}, fmt.Errorf("invalid interval of %s/%s/%s: a reason is needed", iv.Customer, iv.Sensor, iv.Device)
	}
	dev, err := s.lookupDevice(ctx, iv.DeviceKey)
	if err != nil {
		return store.InvalidInterval{}, err
	}
	iv.From, iv.To, iv.MarkedAt = iv.From.UTC().Truncate(time.Millisecond), iv.To.UTC().Truncate(time.Millisecond), iv.MarkedAt.UTC().Truncate(time.Millisecond)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		return s.queryRow(ctx, tx, `INSERT INTO invalid_intervals (device_id, from_time, to_time, reason, marked_by, marked_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, dev, iv.From.UnixMilli(), iv.To.UnixMilli(), iv.Reason, iv.MarkedBy, iv.MarkedAt.UnixMilli()).Scan(&iv.ID)
	})
	return iv, err
}

// InvalidIntervals returns the intervals q selects.
func (s *Store) InvalidIntervals(ctx context.Context, q store.InvalidQuery) ([]store.InvalidInterval, error) {
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = q.From.UnixMilli()
	}
	if !q.To.IsZero() {
		to = q.To.UnixMilli()
	}
	query := `SELECT i.id, d.customer, d.sensor, d.device, i.from_time, i.to_time, i.reason, i.marked_by, i.marked_at
		FROM invalid_intervals i JOIN devices d ON d.id = i.device_id
		WHERE d.customer = ? AND i.to_time > ? AND i.from_time < ?`
	args := []any{q.Customer, from, to}
	if q.Sensor != "" {
		query += ` AND d.sensor = ?`
		args = append(args, q.Sensor)
	}
	if q.Device != "" {
		query += ` AND d.device = ?`
		args = append(args, q.Device)
	}
	rows, err := s.query(ctx, s.db, query+` ORDER BY d.sensor, d.device, i.from_time, i.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.InvalidInterval{}
	for rows.Next() {
		var iv store.InvalidInterval
		var f, t, at int64
		if err := rows.Scan(&iv.ID, &iv.Customer, &iv.Sensor, &iv.Device, &f, &t, &iv.Reason, &iv.MarkedBy, &at); err != nil {
			return nil, err
		}
		iv.From, iv.To, iv.MarkedAt = time.UnixMilli(f).UTC(), time.UnixMilli(t).UTC(), time.UnixMilli(at).UTC()
		out = append(out, iv)
	}
	return out, rows.Err()
}

// RemoveInvalid removes a customer's invalid interval.
func (s *Store) RemoveInvalid(ctx context.Context, customer string, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `DELETE FROM invalid_intervals WHERE id = ? AND device_id IN (SELECT id FROM devices WHERE customer = ?)`, id, customer)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("invalid interval %d of customer %s: %w", id, customer, store.ErrNotFound)
		}
		return nil
	})
}

var _ store.Intervals = (*Store)(nil)
