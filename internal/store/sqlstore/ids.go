package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
)

// deviceIDs finds or makes the ids of devices, the new ones in a short
// transaction of their own, before the batch's, so that writers of several
// processes do not wait on each other long for them; an id without
// readings is harmless.
func (s *Store) deviceIDs(ctx context.Context, keys []store.DeviceKey) (map[store.DeviceKey]int64, error) {
	out := make(map[store.DeviceKey]int64, len(keys))
	var missing []store.DeviceKey
	s.idMu.Lock()
	for _, k := range keys {
		if id, ok := s.devices[k]; ok {
			out[k] = id
		} else if _, seen := out[k]; !seen {
			out[k] = 0
			missing = append(missing, k)
		}
	}
	s.idMu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	// New devices in one transaction: a batch of new devices costs one
	// commit, not one each. Every writer inserts them in one order, so
	// that writers of several processes making the same devices wait on
	// each other rather than deadlock.
	slices.SortFunc(missing, compareKeys)
	made := make(map[store.DeviceKey]int64, len(missing))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range missing {
			// DO NOTHING, not an update that would lock the row another
			// writer may hold while it waits for this transaction's new
			// rows; the id of a device made meanwhile is read after.
			var id int64
			err := s.queryRow(ctx, tx, `INSERT INTO devices (customer, sensor, device) VALUES (?, ?, ?)
				ON CONFLICT (customer, sensor, device) DO NOTHING RETURNING id`,
				k.Customer, k.Sensor, k.Device).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				err = s.queryRow(ctx, tx, `SELECT id FROM devices WHERE customer = ? AND sensor = ? AND device = ?`,
					k.Customer, k.Sensor, k.Device).Scan(&id)
			}
			if err != nil {
				return fmt.Errorf("store: device %s/%s/%s: %w", k.Customer, k.Sensor, k.Device, err)
			}
			made[k] = id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.idMu.Lock()
	for k, id := range made {
		out[k] = id
		s.devices[k] = id
	}
	s.idMu.Unlock()
	return out, nil
}

// fieldIDs finds or makes the ids of field names, those to make in one
// transaction.
func (s *Store) fieldIDs(ctx context.Context, names map[string]bool) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	var missing []string
	s.idMu.Lock()
	for name := range names {
		if id, ok := s.fields[name]; ok {
			out[name] = id
		} else {
			missing = append(missing, name)
		}
	}
	s.idMu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	slices.Sort(missing) // one order for every writer, as for devices
	made := make(map[string]int64, len(missing))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, name := range missing {
			var id int64
			if err := s.queryRow(ctx, tx, `INSERT INTO fields (name) VALUES (?)
				ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`, name).Scan(&id); err != nil {
				return fmt.Errorf("store: field %s: %w", name, err)
			}
			made[name] = id
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.idMu.Lock()
	for name, id := range made {
		out[name] = id
		s.fields[name] = id
	}
	s.idMu.Unlock()
	return out, nil
}

// lookupDevice finds a device's id without making it: ErrNotFound.
func (s *Store) lookupDevice(ctx context.Context, k store.DeviceKey) (int64, error) {
	s.idMu.Lock()
	id, ok := s.devices[k]
	s.idMu.Unlock()
	if ok {
		return id, nil
	}
	err := s.queryRow(ctx, s.db, `SELECT id FROM devices WHERE customer = ? AND sensor = ? AND device = ?`,
		k.Customer, k.Sensor, k.Device).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	s.idMu.Lock()
	s.devices[k] = id
	s.idMu.Unlock()
	return id, nil
}

// lookupField finds a device's field and its unit: ErrNotFound when the
// device never sent it.
func (s *Store) lookupField(ctx context.Context, k store.DeviceKey, field string) (int64, string, error) {
	dev, err := s.lookupDevice(ctx, k)
	if err != nil {
		return 0, "", err
	}
	var unit string
	err = s.queryRow(ctx, s.db, `SELECT df.unit FROM device_fields df JOIN fields f ON f.id = df.field_id
		WHERE df.device_id = ? AND f.name = ?`, dev, field).Scan(&unit)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", store.ErrNotFound
	}
	return dev, unit, err
}

// units are a device's fields' units.
func (s *Store) unitsOf(ctx context.Context, dev int64) (map[string]string, error) {
	rows, err := s.query(ctx, s.db, `SELECT f.name, df.unit FROM device_fields df JOIN fields f ON f.id = df.field_id
		WHERE df.device_id = ? AND df.unit != ''`, dev)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var f, u string
		if err := rows.Scan(&f, &u); err != nil {
			return nil, err
		}
		out[f] = u
	}
	return out, rows.Err()
}

// civil day numbers: a local date's days since 1970-01-01.
func dayOf(t time.Time, loc *time.Location) int64 {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Unix() / 86400
}

// dayBounds is when a local day starts and ends (23 or 25 hours on the
// days clocks change), in Unix milliseconds.
func dayBounds(day int64, loc *time.Location) (int64, int64) {
	y, m, d := time.Unix(day*86400, 0).UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc).UnixMilli(), time.Date(y, m, d+1, 0, 0, 0, 0, loc).UnixMilli()
}

// compareKeys orders device keys by customer, sensor and device.
func compareKeys(a, b store.DeviceKey) int {
	return cmp.Or(strings.Compare(a.Customer, b.Customer), strings.Compare(a.Sensor, b.Sensor), strings.Compare(a.Device, b.Device))
}
