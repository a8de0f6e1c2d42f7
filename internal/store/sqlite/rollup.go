package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

type rollupKey struct {
	device, field int64
	res           store.Resolution
	bucket        int64
}

type rollupAgg struct {
	n                          int64
	sum, min, max, first, last float64
	firstT, lastT              int64
}

var resolutions = []store.Resolution{store.Minute, store.Hour, store.Day}

// addRollups folds new points, given as flat (device, field, time,
// msgCount, value) groups, into the minute, hour and day aggregates: first
// in memory, then one upsert per bucket the batch touched.
func (s *Store) addRollups(ctx context.Context, tx *sql.Tx, flat []any) error {
	aggs := map[rollupKey]*rollupAgg{}
	var order []rollupKey
	for i := 0; i < len(flat); i += 5 {
		dev, fid, t, v := flat[i].(int64), flat[i+1].(int64), flat[i+2].(int64), flat[i+4].(float64)
		for _, res := range resolutions {
			k := rollupKey{dev, fid, res, store.BucketStart(time.UnixMilli(t), res, s.loc).UnixMilli()}
			a := aggs[k]
			if a == nil {
				a = &rollupAgg{min: v, max: v, first: v, last: v, firstT: t, lastT: t}
				aggs[k] = a
				order = append(order, k)
			}
			a.n++
			a.sum += v
			a.min, a.max = min(a.min, v), max(a.max, v)
			if t < a.firstT {
				a.first, a.firstT = v, t
			}
			if t >= a.lastT {
				a.last, a.lastT = v, t
			}
		}
	}
	if len(order) == 0 {
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
	for _, k := range order {
		a := aggs[k]
		if _, err := up.ExecContext(ctx, k.device, k.field, int(k.res), k.bucket, a.n, a.sum, a.min, a.max, a.firstT, a.first, a.lastT, a.last); err != nil {
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
