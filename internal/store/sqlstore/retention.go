package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// retentionBatch bounds the rows one transaction of the retention job
// deletes of rejected messages or alerts, so that ingest never waits long
// on it.
const retentionBatch = 500

// ApplyRetention removes what is past its age at now. A device's local
// day of readings past its raw age leaves in one transaction that writes
// the day's hourly and daily aggregates (day_rollups) and its readings'
// identities (rolled_keys) in their place; hourly aggregates past their
// age are cleared, daily ones deleted with the identities;
// rejected messages and resolved alerts with their notifications go in
// batches. Stopped half-way, the next run goes on where it was.
func (s *Store) ApplyRetention(ctx context.Context, r store.Retention, now time.Time) (store.Removed, error) {
	var out store.Removed
	if r.Ages != nil {
		type dev struct {
			id                     int64
			customer, sensor       string
			rawFrom, hourly, daily int64
		}
		rows, err := s.query(ctx, s.db, `SELECT id, customer, sensor, raw_from, hourly_from, daily_from FROM devices ORDER BY id`)
		if err != nil {
			return out, err
		}
		var devs []dev
		for rows.Next() {
			var d dev
			if err := rows.Scan(&d.id, &d.customer, &d.sensor, &d.rawFrom, &d.hourly, &d.daily); err != nil {
				rows.Close()
				return out, err
			}
			devs = append(devs, d)
		}
		if err := rows.Close(); err != nil {
			return out, err
		}
		for _, d := range devs {
			ages := r.Ages(d.customer, d.sensor)
			if ages.Raw > 0 {
				n, err := s.rollUp(ctx, d.id, dayOf(now.Add(-ages.Raw), s.loc))
				out.Readings += n
				if err != nil {
					return out, err
				}
			}
			if ages.Hourly > 0 {
				n, err := s.cutRollups(ctx, d.id, dayOf(now.Add(-ages.Hourly), s.loc), false)
				out.HourlyDays += n
				if err != nil {
					return out, err
				}
			}
			if ages.Daily > 0 {
				n, err := s.cutRollups(ctx, d.id, dayOf(now.Add(-ages.Daily), s.loc), true)
				out.DailyDays += n
				if err != nil {
					return out, err
				}
			}
		}
	}
	if r.Rejected > 0 {
		// In the order writers take the rows (writeRejected).
		n, err := s.deleteInBatches(ctx, `DELETE FROM rejected WHERE id IN (SELECT id FROM rejected WHERE received < ? ORDER BY received, digest LIMIT ?`+s.d.ForUpdate+`)`,
			now.Add(-r.Rejected).UnixNano())
		out.Rejected += n
		if err != nil {
			return out, err
		}
	}
	if r.Alerts > 0 {
		n, err := s.removeAlerts(ctx, now.Add(-r.Alerts).UnixNano())
		out.Alerts += n
		if err != nil {
			return out, err
		}
	}
	if r.Audit > 0 {
		n, err := s.RemoveAudit(ctx, now.Add(-r.Audit))
		out.Audit += n
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// rollUp removes a device's readings of the local days before cutDay, a
// day a transaction, each leaving its aggregates. It returns how many
// readings it removed.
func (s *Store) rollUp(ctx context.Context, dev, cutDay int64) (int64, error) {
	days, err := s.ids(ctx, s.db, `SELECT day FROM chunks WHERE device_id = ? AND day < ? UNION SELECT day FROM recent WHERE device_id = ? AND day < ?`,
		dev, cutDay, dev, cutDay)
	if err != nil {
		return 0, err
	}
	var removed int64
	for _, day := range days {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		var n int64
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var err error
			n, err = s.rollUpDay(ctx, tx, dev, day)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("retention of device %d, day %s: %w", dev, dayName(day), err)
		}
		removed += n
		s.tails.drop(dev)
	}
	return removed, nil
}

func dayName(day int64) string { return time.Unix(day*86400, 0).UTC().Format(time.DateOnly) }

// rollUpDay replaces a device's readings of one local day by their
// aggregates, merged with those of readings of the day removed before (a
// late reading that arrived after its day was rolled up).
func (s *Store) rollUpDay(ctx context.Context, tx *sql.Tx, dev, day int64) (int64, error) {
	var id int64
	if err := s.queryRow(ctx, tx, `SELECT id FROM devices WHERE id = ?`+s.d.ForUpdate, dev).Scan(&id); err != nil {
		return 0, err
	}
	var parts []partID
	for _, recent := range []bool{false, true} {
		ids, err := s.ids(ctx, tx, `SELECT id FROM `+partID{recent: recent}.table()+` WHERE device_id = ? AND day = ?`, dev, day)
		if err != nil {
			return 0, err
		}
		for _, id := range ids {
			parts = append(parts, partID{recent, id})
		}
	}
	rs, err := s.mergedIn(ctx, tx, parts)
	if err != nil {
		return 0, err
	}
	if len(rs) == 0 {
		return 0, nil
	}
	hours := chunk.SummarizeHours(rs)
	var oldSummary, oldHours []byte
	err = s.queryRow(ctx, tx, `SELECT summary, hours FROM day_rollups WHERE device_id = ? AND day = ?`, dev, day).Scan(&oldSummary, &oldHours)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, err
	case oldHours != nil:
		before, err := chunk.DecodeHours(oldHours)
		if err != nil {
			return 0, fmt.Errorf("the day's hourly aggregates: %w", err)
		}
		hours = chunk.MergeHours(before, hours)
	}
	daySums := hours.Day()
	if oldSummary != nil && oldHours == nil {
		// Only the day is left of what was removed before.
		before, err := chunk.DecodeSummaries(oldSummary)
		if err != nil {
			return 0, fmt.Errorf("the day's aggregates: %w", err)
		}
		for f, sum := range daySums {
			if b := before[f]; b != nil {
				b.Merge(*sum)
			} else {
				before[f] = sum
			}
		}
		daySums, hours = before, nil
	}
	var hoursData []byte
	if hours != nil {
		hoursData = chunk.EncodeHours(hours)
	}
	if _, err := s.exec(ctx, tx, `DELETE FROM day_rollups WHERE device_id = ? AND day = ?`, dev, day); err != nil {
		return 0, err
	}
	if _, err := s.exec(ctx, tx, `INSERT INTO day_rollups (device_id, day, summary, hours) VALUES (?, ?, ?, ?)`,
		dev, day, chunk.EncodeSummaries(daySums), hoursData); err != nil {
		return 0, err
	}
	if err := s.keepRolledKeys(ctx, tx, dev, day, rs); err != nil {
		return 0, err
	}
	for _, p := range parts {
		if _, err := s.exec(ctx, tx, `DELETE FROM `+p.table()+` WHERE id = ?`, p.id); err != nil {
			return 0, err
		}
	}
	// The device's counts are of the readings kept: the messages lost
	// before the removed ones go with them, so that its loss ratio stays
	// that of what is kept.
	var lost int64
	for i := range rs {
		lost += int64(rs[i].Fields[reading.FieldLost])
	}
	_, end := dayBounds(day, s.loc)
	_, err = s.exec(ctx, tx, `UPDATE devices SET raw_from = CASE WHEN raw_from > ? THEN raw_from ELSE ? END,
		readings = CASE WHEN readings > ? THEN readings - ? ELSE 0 END, lost = CASE WHEN lost > ? THEN lost - ? ELSE 0 END,
		writes = writes + 1 WHERE id = ?`,
		end, end, len(rs), len(rs), lost, lost, dev)
	return int64(len(rs)), err
}

// keepRolledKeys adds the identities of a day's readings that retention
// removes to those of the day removed before, so that a reading sent again
// is known for a duplicate (rolledKeys).
func (s *Store) keepRolledKeys(ctx context.Context, tx *sql.Tx, dev, day int64, rs []reading.Reading) error {
	keys := make([]chunk.Key, len(rs))
	for i := range rs {
		keys[i] = chunk.Key{Time: rs[i].Time.UnixMilli(), Seq: rs[i].Seq()}
	}
	var old []byte
	err := s.queryRow(ctx, tx, `SELECT identities FROM rolled_keys WHERE device_id = ? AND day = ?`, dev, day).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		before, err := chunk.DecodeKeys(old)
		if err != nil {
			return fmt.Errorf("the identities of the day's readings removed before: %w", err)
		}
		keys = append(keys, before...)
	}
	_, err = s.exec(ctx, tx, `INSERT INTO rolled_keys (device_id, day, identities) VALUES (?, ?, ?)
		ON CONFLICT (device_id, day) DO UPDATE SET identities = excluded.identities`, dev, day, chunk.EncodeKeys(chunk.SortKeys(keys)))
	return err
}

// cutRollups clears the hourly aggregates (or, with daily, deletes the
// aggregates) of a device's days before cutDay. It returns how many days
// it cut.
func (s *Store) cutRollups(ctx context.Context, dev, cutDay int64, daily bool) (int64, error) {
	start, _ := dayBounds(cutDay, s.loc)
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The device's row first, as every writer of its rows takes it.
		var id int64
		err := s.queryRow(ctx, tx, `SELECT id FROM devices WHERE id = ?`+s.d.ForUpdate, dev).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // removed meanwhile, with its aggregates
		}
		if err != nil {
			return err
		}
		q, col := `UPDATE day_rollups SET hours = NULL WHERE device_id = ? AND day < ? AND hours IS NOT NULL`, "hourly_from"
		if daily {
			q, col = `DELETE FROM day_rollups WHERE device_id = ? AND day < ?`, "daily_from"
			// The identities of the readings go with the day's aggregates.
			if _, err := s.exec(ctx, tx, `DELETE FROM rolled_keys WHERE device_id = ? AND day < ?`, dev, cutDay); err != nil {
				return err
			}
		}
		res, err := s.exec(ctx, tx, q, dev, cutDay)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = s.exec(ctx, tx, `UPDATE devices SET `+col+` = CASE WHEN `+col+` > ? THEN `+col+` ELSE ? END WHERE id = ?`, start, start, dev)
		return err
	})
	return n, err
}

// deleteInBatches runs a DELETE of at most retentionBatch rows, whose
// arguments end with the limit, until it deletes none.
func (s *Store) deleteInBatches(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.tx(ctx, func(tx *sql.Tx) error {
			res, err := s.exec(ctx, tx, query, append(args, retentionBatch)...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

// removeAlerts deletes the alerts resolved before cut (Unix nanoseconds)
// with their notifications, in batches.
func (s *Store) removeAlerts(ctx context.Context, cut int64) (int64, error) {
	var total int64
	for {
		ids, err := s.ids(ctx, s.db, `SELECT id FROM alerts WHERE state = 'resolved' AND resolved < ? ORDER BY id LIMIT ?`, cut, retentionBatch)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			for _, id := range ids {
				if _, err := s.exec(ctx, tx, `DELETE FROM notifications WHERE alert_id = ?`, id); err != nil {
					return err
				}
				if _, err := s.exec(ctx, tx, `DELETE FROM alerts WHERE id = ? AND state = 'resolved'`, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += int64(len(ids))
	}
}

// Kept says from when a device's readings and aggregates are kept.
func (s *Store) Kept(ctx context.Context, k store.DeviceKey) (store.Kept, error) {
	dev, err := s.lookupDevice(ctx, k)
	if err != nil {
		return store.Kept{}, err
	}
	var raw, hourly, daily int64
	if err := s.queryRow(ctx, s.db, `SELECT raw_from, hourly_from, daily_from FROM devices WHERE id = ?`, dev).Scan(&raw, &hourly, &daily); err != nil {
		return store.Kept{}, err
	}
	return s.kept(raw, hourly, daily), nil
}

// kept is the Kept of a device's raw_from, hourly_from and daily_from.
func (s *Store) kept(raw, hourly, daily int64) store.Kept {
	at := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms).In(s.loc)
	}
	return store.Kept{Raw: at(raw), Hourly: at(hourly), Daily: at(daily)}
}

// Hours answers hour buckets of a field in [From, To) from the hourly
// aggregates of the days whose readings were removed.
func (s *Store) Hours(ctx context.Context, q store.RawQuery) ([]series.Bucket, error) {
	dev, _, err := s.lookupField(ctx, q.DeviceKey, q.Field)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, s.db, `SELECT hours FROM day_rollups WHERE device_id = ? AND day >= ? AND day <= ? AND hours IS NOT NULL ORDER BY day`,
		dev, dayOf(q.From, s.loc), dayOf(q.To, s.loc))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []series.Bucket
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		hours, err := chunk.DecodeHours(data)
		if err != nil {
			return nil, err
		}
		for _, start := range hours.Starts() {
			t := time.Unix(start, 0)
			if t.Before(q.From) || !t.Before(q.To) {
				continue
			}
			if sum := hours[start][q.Field]; sum != nil {
				b := series.Bucket{Start: t.In(s.loc), End: t.Add(time.Hour).In(s.loc)}
				mergeSummary(&b, *sum)
				out = append(out, b)
			}
		}
	}
	return out, rows.Err()
}

// dayRollups are the daily aggregates of one field of a device's days in
// [fromDay, toDay), by day.
func (s *Store) dayRollups(ctx context.Context, dev int64, field string, fromDay, toDay int64) (map[int64]chunk.Summary, error) {
	rows, err := s.query(ctx, s.db, `SELECT day, summary FROM day_rollups WHERE device_id = ? AND day >= ? AND day < ?`, dev, fromDay, toDay)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]chunk.Summary{}
	for rows.Next() {
		var day int64
		var data []byte
		if err := rows.Scan(&day, &data); err != nil {
			return nil, err
		}
		sum, ok, err := chunk.DecodeSummary(data, field)
		if err != nil {
			return nil, err
		}
		if ok {
			out[day] = sum
		}
	}
	return out, rows.Err()
}

// rolledBefore is the last value of field before t that the aggregates of
// removed readings hold: the last of the newest hour that ends by t or,
// without hours, of the newest day that ends by t. Its time is that of the
// last value when the aggregates kept it, else that of the hour or day's
// end.
func (s *Store) rolledBefore(ctx context.Context, dev int64, field string, t time.Time) (store.Point, bool, error) {
	rows, err := s.query(ctx, s.db, `SELECT day, summary, hours FROM day_rollups WHERE device_id = ? AND day <= ? ORDER BY day DESC`, dev, dayOf(t, s.loc))
	if err != nil {
		return store.Point{}, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var day int64
		var summary, hoursData []byte
		if err := rows.Scan(&day, &summary, &hoursData); err != nil {
			return store.Point{}, false, err
		}
		if hoursData != nil {
			hours, err := chunk.DecodeHours(hoursData)
			if err != nil {
				return store.Point{}, false, err
			}
			starts := hours.Starts()
			for i := len(starts) - 1; i >= 0; i-- {
				end := time.Unix(starts[i], 0).Add(time.Hour)
				if sum := hours[starts[i]][field]; sum != nil && !end.After(t) {
					return store.Point{Time: lastAt(*sum, end), Value: sum.Last}, true, nil
				}
			}
			continue
		}
		_, end := dayBounds(day, s.loc)
		sum, ok, err := chunk.DecodeSummary(summary, field)
		if err != nil {
			return store.Point{}, false, err
		}
		if ok && end <= t.UnixMilli() {
			return store.Point{Time: lastAt(sum, time.UnixMilli(end)), Value: sum.Last}, true, nil
		}
	}
	return store.Point{}, false, rows.Err()
}

// RemoveDevice deletes a device and everything stored of it: readings,
// aggregates, units, alert states, alerts with their notifications. It
// returns how many readings it held; ErrNotFound for an unknown device.
// A device that sends again afterwards is a new one.
func (s *Store) RemoveDevice(ctx context.Context, k store.DeviceKey) (int64, error) {
	dev, err := s.lookupDevice(ctx, k)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `SELECT readings FROM devices WHERE id = ?`+s.d.ForUpdate, dev).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM chunks WHERE device_id = ?`, `DELETE FROM recent WHERE device_id = ?`,
			`DELETE FROM day_rollups WHERE device_id = ?`, `DELETE FROM rolled_keys WHERE device_id = ?`, `DELETE FROM device_fields WHERE device_id = ?`,
			`DELETE FROM invalid_intervals WHERE device_id = ?`} {
			if _, err := s.exec(ctx, tx, q, dev); err != nil {
				return err
			}
		}
		of := ` WHERE customer = ? AND sensor = ? AND device = ?`
		for _, q := range []string{`DELETE FROM notifications WHERE alert_id IN (SELECT id FROM alerts` + of + `)`,
			`DELETE FROM alerts` + of, `DELETE FROM alert_states` + of} {
			if _, err := s.exec(ctx, tx, q, k.Customer, k.Sensor, k.Device); err != nil {
				return err
			}
		}
		_, err = s.exec(ctx, tx, `DELETE FROM devices WHERE id = ?`, dev)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.forgetDevices()
	s.tails.drop(dev)
	s.latest.remove(dev)
	return n, nil
}

// lastAt is the time of a summary's last value, end when it kept none.
func lastAt(sum chunk.Summary, end time.Time) time.Time {
	if sum.Timed {
		return time.UnixMilli(sum.LastAt).UTC()
	}
	return end.UTC()
}
