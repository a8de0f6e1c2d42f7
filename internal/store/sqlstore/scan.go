package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// scanDevices is how many devices EachPoints reads the chunks of at once:
// their values of one field are what it holds in memory.
const scanDevices = 500

// EachPoints reads a field of each of a customer's devices: the chunks of
// scanDevices devices a query, and a device with recent rows in the range
// by itself, as Points does.
func (s *Store) EachPoints(ctx context.Context, customer string, field func(store.DeviceKey) string, from, to time.Time, fn func(store.DeviceKey, []store.Point) error) error {
	lo, hi := from.UnixMilli(), to.UnixMilli()
	type dev struct {
		id    int64
		key   store.DeviceKey
		field string
	}
	var devs []dev
	rows, err := s.query(ctx, s.db, `SELECT id, sensor, device FROM devices WHERE customer = ? AND (readings > 0 OR raw_from > 0) ORDER BY customer, sensor, device`, customer)
	if err != nil {
		return err
	}
	for rows.Next() {
		d := dev{key: store.DeviceKey{Customer: customer}}
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
	recent := map[int64]bool{}
	ids, err := s.ids(ctx, s.db, `SELECT DISTINCT r.device_id FROM recent r JOIN devices d ON d.id = r.device_id
		WHERE d.customer = ? AND r.first_time < ? AND r.last_time >= ?`, customer, hi, lo)
	if err != nil {
		return err
	}
	for _, id := range ids {
		recent[id] = true
	}
	var out []store.Point
	for len(devs) > 0 {
		some := devs[:min(len(devs), scanDevices)]
		devs = devs[len(some):]
		byID := make(map[int64]*dev, len(some))
		args := make([]any, 0, len(some)+2)
		for i := range some {
			byID[some[i].id] = &some[i]
			args = append(args, some[i].id)
		}
		pts := map[int64][]chunk.Point{}
		rows, err := s.query(ctx, s.db, `SELECT device_id, id, data FROM chunks WHERE device_id IN `+inList(len(some))+
			` AND first_time < ? AND last_time >= ? ORDER BY device_id, first_time`, append(args, hi, lo)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var dev, id int64
			var data []byte
			if err := rows.Scan(&dev, &id, &data); err != nil {
				rows.Close()
				return err
			}
			d := byID[dev]
			if d.field == "" || recent[dev] {
				continue
			}
			col, err := chunk.Field(data, d.field)
			if err != nil {
				rows.Close()
				return fmt.Errorf("store: chunk %d: %w", id, err)
			}
			for _, p := range col {
				if p.Time >= lo && p.Time < hi {
					pts[dev] = append(pts[dev], p)
				}
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, d := range some {
			out = out[:0]
			switch {
			case d.field == "":
			case recent[d.id]:
				fps, err := s.fieldPoints(ctx, d.id, d.field, lo, hi)
				if err != nil {
					return err
				}
				for _, p := range fps {
					out = append(out, store.Point{Time: time.UnixMilli(p.time).UTC(), Value: p.value})
				}
			default:
				col := pts[d.id]
				slices.SortStableFunc(col, func(a, b chunk.Point) int {
					return comparePoints(fieldPoint{a.Time, a.Seq, 0}, fieldPoint{b.Time, b.Seq, 0})
				})
				for _, p := range col {
					out = append(out, store.Point{Time: time.UnixMilli(p.Time).UTC(), Value: p.Value})
				}
			}
			if err := fn(d.key, out); err != nil {
				return err
			}
		}
	}
	return nil
}
