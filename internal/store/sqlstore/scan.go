package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// scanDevices is how many devices EachPoints reads the chunks of at once:
// their values of one field are what it holds in memory.
const scanDevices = 500

// EachPoints reads a field of each of a customer's devices: the recent
// rows and the chunks of scanDevices devices at once, two queries in one
// snapshot, merged as Points merges them for one device.
func (s *Store) EachPoints(ctx context.Context, customer string, field func(store.DeviceKey) string, from, to time.Time, fn func(store.DeviceKey, []store.Point) error) error {
	lo, hi := from.UnixMilli(), to.UnixMilli()
	var devs []scanDevice
	rows, err := s.query(ctx, s.db, `SELECT id, sensor, device FROM devices WHERE customer = ? AND (readings > 0 OR raw_from > 0) ORDER BY customer, sensor, device`, customer)
	if err != nil {
		return err
	}
	for rows.Next() {
		d := scanDevice{key: store.DeviceKey{Customer: customer}}
		if err := rows.Scan(&d.id, &d.key.Sensor, &d.key.Device); err != nil {
			rows.Close()
			return err
		}
		d.field = field(d.key)
		devs = append(devs, d)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var out []store.Point
	for len(devs) > 0 {
		some := devs[:min(len(devs), scanDevices)]
		devs = devs[len(some):]
		var pts map[int64][]fieldPoint
		if err := s.snapshot(ctx, func(tx *sql.Tx) error {
			var err error
			pts, err = s.scanPoints(ctx, tx, some, lo, hi)
			return err
		}); err != nil {
			return err
		}
		for _, d := range some {
			out = out[:0]
			for _, p := range pts[d.id] {
				out = append(out, store.Point{Time: time.UnixMilli(p.time).UTC(), Value: p.value})
			}
			if err := fn(d.key, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanDevice is a device EachPoints reads, with the field it reads of it
// ("" for none).
type scanDevice struct {
	id    int64
	key   store.DeviceKey
	field string
}

// scanPoints reads the field of each of devs in [lo, hi) through q (a
// snapshot), by device id, in order: their recent rows in one query,
// their chunks in another; a recent row replaces what a chunk or an
// earlier row holds of the same identity, with its value or without one,
// as fieldPointsIn does for one device.
func (s *Store) scanPoints(ctx context.Context, q querier, devs []scanDevice, lo, hi int64) (map[int64][]fieldPoint, error) {
	byID := make(map[int64]*scanDevice, len(devs))
	args := make([]any, 0, len(devs)+2)
	for i := range devs {
		if devs[i].field != "" {
			byID[devs[i].id] = &devs[i]
			args = append(args, devs[i].id)
		}
	}
	if len(args) == 0 {
		return nil, nil
	}
	type override struct {
		value float64
		ok    bool
	}
	overrides := map[int64]map[rowKey]override{}
	err := s.eachPart(ctx, q, "recent", args, lo, hi, `ORDER BY id`, func(dev, id int64, data []byte) error {
		rs, err := chunk.DecodeRows(data)
		if err != nil {
			return fmt.Errorf("store: recent %d: %w", id, err)
		}
		field := byID[dev].field
		for i := range rs {
			if t := rs[i].Time.UnixMilli(); t >= lo && t < hi {
				if overrides[dev] == nil {
					overrides[dev] = map[rowKey]override{}
				}
				v, ok := rs[i].Fields[field]
				overrides[dev][rowKey{0, t, rs[i].Seq()}] = override{v, ok}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := map[int64][]fieldPoint{}
	err = s.eachPart(ctx, q, "chunks", args, lo, hi, `ORDER BY device_id, first_time`, func(dev, id int64, data []byte) error {
		col, err := chunk.Field(data, byID[dev].field)
		if err != nil {
			return fmt.Errorf("store: chunk %d: %w", id, err)
		}
		over := overrides[dev]
		for _, p := range col {
			if p.Time < lo || p.Time >= hi {
				continue
			}
			if _, replaced := over[rowKey{0, p.Time, p.Seq}]; replaced {
				continue
			}
			out[dev] = append(out[dev], fieldPoint{p.Time, p.Seq, p.Value})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for dev, over := range overrides {
		for k, o := range over {
			if o.ok {
				out[dev] = append(out[dev], fieldPoint{k.time, k.seq, o.value})
			}
		}
	}
	for dev, pts := range out {
		if !slices.IsSortedFunc(pts, comparePoints) {
			slices.SortStableFunc(pts, comparePoints)
		}
		out[dev] = pts
	}
	return out, nil
}

// eachPart calls fn with each row of table (recent or chunks) of the
// devices ids that holds values in [lo, hi), in order.
func (s *Store) eachPart(ctx context.Context, q querier, table string, ids []any, lo, hi int64, order string, fn func(dev, id int64, data []byte) error) error {
	rows, err := s.query(ctx, q, `SELECT device_id, id, data FROM `+table+` WHERE device_id IN `+inList(len(ids))+
		` AND first_time < ? AND last_time >= ? `+order, append(ids, hi, lo)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var dev, id int64
		var data []byte
		if err := rows.Scan(&dev, &id, &data); err != nil {
			return err
		}
		if err := fn(dev, id, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}
