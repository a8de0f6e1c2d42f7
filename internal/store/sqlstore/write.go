package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// rowsPerInsert is how many recent rows one INSERT takes.
const rowsPerInsert = 200

// deviceRow is a device's kept summary, as a write reads and updates it.
type deviceRow struct {
	store.DeviceRow
	lastSeq   int64
	latest    []byte
	compacted int64
}

// pending is a reading a write takes, encoded.
type pending struct {
	r    *reading.Reading
	dev  int64
	key  rowKey
	data []byte
}

type rowKey struct{ dev, time, seq int64 }

func keyOf(dev int64, r *reading.Reading) rowKey { return rowKey{dev, r.Time.UnixMilli(), r.Seq()} }

// Write stores a batch in one transaction: its new readings as recent
// rows, its re-derived readings as rows that replace the stored ones, the
// devices' rows, units, rejected messages and resolved replays.
func (s *Store) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	var res store.WriteResult
	keys := make([]store.DeviceKey, 0, len(b.Readings)+len(b.Rederived))
	for _, rs := range [][]reading.Reading{b.Readings, b.Rederived} {
		for i := range rs {
			keys = append(keys, store.DeviceKey{Customer: rs[i].Customer, Sensor: rs[i].Sensor, Device: rs[i].Device})
		}
	}
	ids, err := s.deviceIDs(ctx, keys)
	if err != nil {
		return res, err
	}
	// Encoding is done before the transaction: the writer's time is for
	// the database.
	encode := func(rs []reading.Reading) ([]pending, error) {
		out := make([]pending, len(rs))
		for i := range rs {
			r := &rs[i]
			data, err := chunk.EncodeRow(r)
			if err != nil {
				return nil, fmt.Errorf("store: reading %s: %w", r.Key(), err)
			}
			dev := ids[store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}]
			out[i] = pending{r: r, dev: dev, key: keyOf(dev, r), data: data}
		}
		return out, nil
	}
	fresh, err := encode(b.Readings)
	if err != nil {
		return res, err
	}
	rederived, err := encode(b.Rederived)
	if err != nil {
		return res, err
	}
	units, err := s.newUnits(ctx, fresh)
	if err != nil {
		return res, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res = store.WriteResult{}
		devs, err := s.lockDevices(ctx, tx, fresh, rederived)
		if err != nil {
			return err
		}
		stored, err := s.insertRecent(ctx, tx, fresh, devs, &res)
		if err != nil {
			return err
		}
		if err := s.replaceRecent(ctx, tx, rederived, devs); err != nil {
			return err
		}
		if err := s.updateDevices(ctx, tx, devs, stored, rederived); err != nil {
			return err
		}
		if err := s.writeUnits(ctx, tx, units); err != nil {
			return err
		}
		if err := s.writeRejected(ctx, tx, b.Rejected, &res); err != nil {
			return err
		}
		for _, id := range b.Resolved {
			if _, err := s.exec(ctx, tx, `DELETE FROM rejected WHERE id = ?`, id); err != nil {
				return fmt.Errorf("store: resolve rejected %d: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return store.WriteResult{}, err
	}
	s.idMu.Lock()
	for k, u := range units {
		s.units[k] = u
	}
	s.idMu.Unlock()
	if s.compactor != nil && res.Stored > 0 {
		s.compactor.poke(res.Stored)
	}
	return res, nil
}

// lockDevices reads, and on PostgreSQL locks in id order, the rows of the
// devices a batch writes to: a compactor or another writer of the same
// device waits until this one commits.
func (s *Store) lockDevices(ctx context.Context, tx *sql.Tx, batches ...[]pending) (map[int64]*deviceRow, error) {
	var ids []any
	seen := map[int64]bool{}
	for _, ps := range batches {
		for _, p := range ps {
			if !seen[p.dev] {
				seen[p.dev] = true
				ids = append(ids, p.dev)
			}
		}
	}
	out := make(map[int64]*deviceRow, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	slices.SortFunc(ids, func(a, b any) int { return cmp.Compare(a.(int64), b.(int64)) })
	rows, err := s.query(ctx, tx, `SELECT id, last_seen, last_time, last_seq, msg_count, lost, name, gateway, rssi, snr, latest, compacted
		FROM devices WHERE id IN `+inList(len(ids))+` ORDER BY id`+s.d.ForUpdate, ids...)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		d := &deviceRow{}
		if err := rows.Scan(&id, &d.LastSeen, &d.LastTime, &d.lastSeq, &d.MsgCount, &d.Lost, &d.Name, &d.Gateway,
			&d.RSSI, &d.SNR, &d.latest, &d.compacted); err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, rows.Err()
}

// insertRecent inserts the new readings as recent rows and returns those
// that were new, in the batch's order. A reading already stored, as a
// recent row or in a chunk, is a duplicate.
func (s *Store) insertRecent(ctx context.Context, tx *sql.Tx, ps []pending, devs map[int64]*deviceRow, res *store.WriteResult) ([]pending, error) {
	var todo []pending
	first := map[rowKey]bool{}
	for _, p := range ps {
		if first[p.key] {
			res.Duplicates++ // twice in the batch
			continue
		}
		first[p.key] = true
		if d := devs[p.dev]; d != nil && p.key.time <= d.compacted {
			in, err := s.inChunks(ctx, tx, p.key)
			if err != nil {
				return nil, err
			}
			if in {
				res.Duplicates++
				continue
			}
		}
		todo = append(todo, p)
	}
	inserted := map[rowKey]bool{}
	for start := 0; start < len(todo); start += rowsPerInsert {
		part := todo[start:min(start+rowsPerInsert, len(todo))]
		args := make([]any, 0, len(part)*6)
		for _, p := range part {
			args = append(args, p.dev, p.key.time, p.key.seq, dayOf(p.r.Time, s.loc), p.r.Received.UnixMilli(), p.data)
		}
		rows, err := s.query(ctx, tx, `INSERT INTO recent (device_id, time, seq, day, received, data) VALUES `+placeholders(len(part), 6)+`
			ON CONFLICT (device_id, time, seq) DO NOTHING RETURNING device_id, time, seq`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: readings: %w", err)
		}
		for rows.Next() {
			var k rowKey
			if err := rows.Scan(&k.dev, &k.time, &k.seq); err != nil {
				rows.Close()
				return nil, err
			}
			inserted[k] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("store: readings: %w", err)
		}
	}
	var stored []pending
	for _, p := range todo {
		if inserted[p.key] {
			stored = append(stored, p)
			res.Stored++
		} else {
			res.Duplicates++
		}
	}
	return stored, nil
}

// replaceRecent writes re-derived readings as recent rows that replace
// what is stored under their identity, in a chunk or not.
func (s *Store) replaceRecent(ctx context.Context, tx *sql.Tx, ps []pending, devs map[int64]*deviceRow) error {
	last := map[rowKey]pending{}
	for _, p := range ps {
		last[p.key] = p
	}
	for _, p := range last {
		if _, err := s.exec(ctx, tx, `INSERT INTO recent (device_id, time, seq, day, received, data) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (device_id, time, seq) DO UPDATE SET data = excluded.data`,
			p.dev, p.key.time, p.key.seq, dayOf(p.r.Time, s.loc), p.r.Received.UnixMilli(), p.data); err != nil {
			return fmt.Errorf("store: rederive %s: %w", p.r.Key(), err)
		}
		if d := devs[p.dev]; d != nil && d.LastTime == p.key.time && d.lastSeq == p.key.seq {
			d.latest = p.data
		}
	}
	return nil
}

// updateDevices folds each device's new readings into its row: counts,
// newest position and reading, radio, loss.
func (s *Store) updateDevices(ctx context.Context, tx *sql.Tx, devs map[int64]*deviceRow, stored, rederived []pending) error {
	byDev := map[int64][]pending{}
	for _, p := range stored {
		byDev[p.dev] = append(byDev[p.dev], p)
	}
	ids := make([]int64, 0, len(devs))
	for id := range devs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		d, ps := devs[id], byDev[id]
		changed := false
		for _, p := range rederived {
			changed = changed || p.dev == id
		}
		if len(ps) == 0 && !changed {
			continue
		}
		slices.SortStableFunc(ps, func(a, b pending) int {
			return cmp.Or(cmp.Compare(a.key.time, b.key.time), cmp.Compare(a.key.seq, b.key.seq))
		})
		rs := make([]*reading.Reading, len(ps))
		for i, p := range ps {
			rs[i] = p.r
			if d.latest == nil || p.key.time > d.LastTime || p.key.time == d.LastTime && p.key.seq > d.lastSeq {
				d.latest, d.lastSeq = p.data, p.key.seq
			}
		}
		// The newest time Fold keeps is the newest reading's, which the
		// loop above found by position.
		d.Fold(rs)
		_, err := s.exec(ctx, tx, `UPDATE devices SET readings = readings + ?, last_seen = ?, last_time = ?, last_seq = ?, msg_count = ?,
			lost = ?, name = ?, gateway = ?, rssi = ?, snr = ?, latest = ? WHERE id = ?`,
			len(ps), d.LastSeen, d.LastTime, d.lastSeq, d.MsgCount, d.Lost, d.Name, d.Gateway, d.RSSI, d.SNR, d.latest, id)
		if err != nil {
			return fmt.Errorf("store: device %d: %w", id, err)
		}
	}
	return nil
}

// newUnits are the device fields whose unit is new or changed, with the
// field ids made as needed.
func (s *Store) newUnits(ctx context.Context, ps []pending) (map[unitKey]string, error) {
	out := map[unitKey]string{}
	for _, p := range ps {
		for name := range p.r.Fields {
			fid, err := s.fieldID(ctx, name)
			if err != nil {
				return nil, err
			}
			k := unitKey{p.dev, fid}
			u := p.r.Units[name]
			s.idMu.Lock()
			known, ok := s.units[k]
			s.idMu.Unlock()
			if w, pendingUnit := out[k]; pendingUnit {
				known, ok = w, true
			}
			if !ok || (u != "" && u != known) {
				out[k] = u
			}
		}
	}
	return out, nil
}

func (s *Store) writeUnits(ctx context.Context, tx *sql.Tx, units map[unitKey]string) error {
	for k, u := range units {
		if _, err := s.exec(ctx, tx, `INSERT INTO device_fields (device_id, field_id, unit) VALUES (?, ?, ?)
			ON CONFLICT (device_id, field_id) DO UPDATE SET unit = excluded.unit WHERE excluded.unit != ''`, k.device, k.field, u); err != nil {
			return fmt.Errorf("store: unit: %w", err)
		}
	}
	return nil
}

// writeRejected keeps rejected messages; a message rejected again (a
// replay) keeps its row, with the new reason.
func (s *Store) writeRejected(ctx context.Context, tx *sql.Tx, rjs []reading.Rejected, res *store.WriteResult) error {
	for _, rj := range rjs {
		out, err := s.exec(ctx, tx, `INSERT INTO rejected (received, topic, source, customer, reason, payload, digest, binding)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET reason = excluded.reason WHERE rejected.reason != excluded.reason`,
			rj.Received.UnixNano(), rj.Topic, rj.Source, rj.Customer, rj.Reason, rj.Payload, rj.Digest(), rj.Binding)
		if err != nil {
			return fmt.Errorf("store: rejected message: %w", err)
		}
		if n, _ := out.RowsAffected(); n > 0 {
			res.Rejected++
		}
	}
	return nil
}
