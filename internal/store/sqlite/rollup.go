package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// addRollups folds new points into the minute, hour and day aggregates:
// first in memory, then one upsert per bucket the batch touched.
func (s *Store) addRollups(ctx context.Context, tx *sql.Tx, pts []store.StoredPoint) error {
	aggs := store.FoldRollups(pts, s.loc)
	if len(aggs) == 0 {
		return nil
	}
	up, err := tx.PrepareContext(ctx, `INSERT INTO rollups (device_id, field_id, res, bucket, n, sum, min, max, first_t, first, last_t, last)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id, field_id, res, bucket) DO UPDATE SET
			n = n + excluded.n,
			sum = sum + excluded.sum,
			min = MIN(min, excluded.min),
			max = MAX(max, excluded.max),
			first = CASE WHEN excluded.first_t < first_t THEN excluded.first ELSE first END,
			first_t = MIN(first_t, excluded.first_t),
			last = CASE WHEN excluded.last_t >= last_t THEN excluded.last ELSE last END,
			last_t = MAX(last_t, excluded.last_t)`)
	if err != nil {
		return err
	}
	defer up.Close()
	for _, a := range aggs {
		if _, err := up.ExecContext(ctx, a.Device, a.Field, int(a.Res), a.Bucket, a.N, a.Sum, a.Min, a.Max, a.FirstT, a.First, a.LastT, a.Last); err != nil {
			return fmt.Errorf("store: rollup: %w", err)
		}
	}
	return nil
}

// Rollups returns the kept aggregates of one field at res.
func (s *Store) Rollups(ctx context.Context, q store.RawQuery, res store.Resolution) ([]store.Bucket, error) {
	id, fid, _, err := s.lookupField(ctx, q.DeviceKey, q.Field)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT bucket, n, sum, min, max, first, last FROM rollups
		WHERE device_id = ? AND field_id = ? AND res = ? AND bucket >= ? AND bucket < ? ORDER BY bucket`,
		id, fid, int(res), q.From.UnixMilli(), q.To.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Bucket
	for rows.Next() {
		var b store.Bucket
		var ms int64
		if err := rows.Scan(&ms, &b.N, &b.Sum, &b.Min, &b.Max, &b.First, &b.Last); err != nil {
			return nil, err
		}
		b.Start = time.UnixMilli(ms).UTC()
		out = append(out, b)
	}
	return out, rows.Err()
}

// rederive replaces the fields of a stored reading, its points, and the
// aggregates of the buckets that hold it, rebuilt from the points.
func (s *Store) rederive(ctx context.Context, tx *sql.Tx, r *reading.Reading, devs map[store.DeviceKey]int64, fields map[string]int64) error {
	dev, err := s.deviceID(ctx, tx, store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}, devs)
	if err != nil {
		return err
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	t := r.Time.UnixMilli()
	if _, err := tx.ExecContext(ctx, `UPDATE readings SET doc = ? WHERE device_id = ? AND time = ? AND msg_count = ?`, doc, dev, t, r.Seq()); err != nil {
		return fmt.Errorf("store: rederive %s: %w", r.Key(), err)
	}
	for name, v := range r.Fields {
		fid, err := s.fieldID(ctx, tx, name, fields)
		if err != nil {
			return err
		}
		out, err := tx.ExecContext(ctx, `INSERT INTO points (device_id, field_id, time, msg_count, value) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET value = excluded.value WHERE value != excluded.value`, dev, fid, t, r.Seq(), v)
		if err != nil {
			return fmt.Errorf("store: rederive %s: %w", r.Key(), err)
		}
		if n, _ := out.RowsAffected(); n == 0 {
			continue // unchanged
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_fields (device_id, field_id, unit) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			dev, fid, r.Units[name]); err != nil {
			return err
		}
		for _, res := range store.Resolutions {
			start := store.BucketStart(r.Time, res, s.loc)
			end := store.NextBucket(start, res, s.loc)
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO rollups (device_id, field_id, res, bucket, n, sum, min, max, first_t, first, last_t, last)
				SELECT ?1, ?2, ?3, ?4, COUNT(*), SUM(value), MIN(value), MAX(value),
					MIN(time), (SELECT value FROM points WHERE device_id = ?1 AND field_id = ?2 AND time >= ?4 AND time < ?5 ORDER BY time, msg_count LIMIT 1),
					MAX(time), (SELECT value FROM points WHERE device_id = ?1 AND field_id = ?2 AND time >= ?4 AND time < ?5 ORDER BY time DESC, msg_count DESC LIMIT 1)
				FROM points WHERE device_id = ?1 AND field_id = ?2 AND time >= ?4 AND time < ?5`,
				dev, fid, int(res), start.UnixMilli(), end.UnixMilli()); err != nil {
				return fmt.Errorf("store: rebuild aggregates of %s: %w", r.Key(), err)
			}
		}
	}
	return nil
}
