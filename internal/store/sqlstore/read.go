package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// partID names a chunk or a recent row: a part of a device's readings.
type partID struct {
	recent bool
	id     int64
}

func (p partID) table() string {
	if p.recent {
		return "recent"
	}
	return "chunks"
}

// part decodes a chunk or a recent row.
func (s *Store) part(ctx context.Context, q querier, id partID) ([]reading.Reading, error) {
	var data []byte
	if err := s.queryRow(ctx, q, `SELECT data FROM `+id.table()+` WHERE id = ?`, id.id).Scan(&data); err != nil {
		return nil, err
	}
	decode := chunk.Decode
	if id.recent {
		decode = chunk.DecodeRows
	}
	rs, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("store: %s %d: %w", id.table(), id.id, err)
	}
	return rs, nil
}

// partKeys are a part's identities, in order, through the cache.
func (s *Store) partKeys(ctx context.Context, q querier, id partID) ([]rowKey, error) {
	if keys, ok := s.keys.get(id); ok {
		return keys, nil
	}
	rs, err := s.part(ctx, q, id)
	if err != nil {
		return nil, err
	}
	keys := make([]rowKey, len(rs))
	for i := range rs {
		keys[i] = rowKey{0, rs[i].Time.UnixMilli(), rs[i].Seq()}
	}
	s.keys.put(id, keys)
	return keys, nil
}

// partsAround lists a device's parts (chunks and recent rows) that hold
// readings in [lo, hi] (Unix milliseconds) and, with nearest, every part
// that ends last before lo or starts first after hi. Those hold every
// version of the readings just around the range: a part that holds the
// newest reading before lo either reaches into the range or ends at it.
func (s *Store) partsAround(ctx context.Context, q querier, dev, lo, hi int64, nearest bool) ([]partID, error) {
	var terms []string
	var args []any
	for _, recent := range []bool{false, true} {
		table := partID{recent: recent}.table()
		kind := strconv.FormatBool(recent)
		terms = append(terms, `SELECT `+kind+`, id FROM `+table+` WHERE device_id = ? AND first_time <= ? AND last_time >= ?`)
		args = append(args, dev, hi, lo)
		if nearest {
			terms = append(terms,
				`SELECT `+kind+`, id FROM `+table+` WHERE device_id = ? AND last_time = (SELECT MAX(last_time) FROM `+table+` WHERE device_id = ? AND last_time < ?)`,
				`SELECT `+kind+`, id FROM `+table+` WHERE device_id = ? AND first_time = (SELECT MIN(first_time) FROM `+table+` WHERE device_id = ? AND first_time > ?)`)
			args = append(args, dev, dev, lo, dev, dev, hi)
		}
	}
	rows, err := s.query(ctx, q, strings.Join(terms, " UNION ALL "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var parts []partID
	for rows.Next() {
		var p partID
		if err := rows.Scan(&p.recent, &p.id); err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, rows.Err()
}

// storedKeys is the set of a device's stored identities in [lo, hi].
func (s *Store) storedKeys(ctx context.Context, q querier, dev, lo, hi int64) (map[rowKey]bool, error) {
	parts, err := s.partsAround(ctx, q, dev, lo, hi, false)
	if err != nil {
		return nil, err
	}
	out := map[rowKey]bool{}
	for _, id := range parts {
		keys, err := s.partKeys(ctx, q, id)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.time >= lo && k.time <= hi {
				out[rowKey{dev, k.time, k.seq}] = true
			}
		}
	}
	return out, nil
}

func (s *Store) ids(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := s.query(ctx, q, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// position orders a device's readings: by time, then Seq.
func position(a *reading.Reading, t, seq int64) int {
	return cmp.Or(cmp.Compare(a.Time.UnixMilli(), t), cmp.Compare(a.Seq(), seq))
}

// withKey sets the identity a stored reading does not keep.
func withKey(r reading.Reading, k store.DeviceKey) reading.Reading {
	r.Customer, r.Sensor, r.Device = k.Customer, k.Sensor, k.Device
	return r
}

// Latest returns the device's newest reading.
func (s *Store) Latest(ctx context.Context, k store.DeviceKey) (reading.Reading, error) {
	dev, err := s.lookupDevice(ctx, k)
	if err != nil {
		return reading.Reading{}, err
	}
	var data []byte
	if err := s.queryRow(ctx, s.db, `SELECT latest FROM devices WHERE id = ?`, dev).Scan(&data); err != nil {
		return reading.Reading{}, err
	}
	if data == nil {
		return reading.Reading{}, store.ErrNotFound
	}
	r, err := chunk.DecodeRow(data)
	if err != nil {
		return r, fmt.Errorf("store: newest reading of %s: %w", k.Device, err)
	}
	if r.Units, err = s.unitsOf(ctx, dev); err != nil {
		return r, err
	}
	if len(r.Units) == 0 {
		r.Units = nil
	}
	return withKey(r, k), nil
}

// Devices lists devices, with their newest readings when asked: those
// and their units are read with the list, not a query each.
func (s *Store) Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error) {
	w, args := deviceWhere(f)
	page := ""
	if f.Limit > 0 {
		page = fmt.Sprintf(" LIMIT %d OFFSET %d", f.Limit, max(f.Offset, 0))
	}
	rows, err := s.query(ctx, s.db, `SELECT id, customer, sensor, device, name, gateway, last_seen, last_time,
			readings, msg_count, lost, rssi, snr, last_seq, CASE WHEN ? THEN latest END
		FROM devices`+w+` ORDER BY `+store.DeviceOrder(f)+page, append([]any{f.Latest}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Device{}
	var ids []int64
	for rows.Next() {
		var d store.Device
		var id, seen, last, seq int64
		var latest []byte
		if err := rows.Scan(&id, &d.Customer, &d.Sensor, &d.Device, &d.Name, &d.Gateway, &seen, &last,
			&d.Readings, &d.MsgCount, &d.Lost, &d.RSSI, &d.SNR, &seq, &latest); err != nil {
			return nil, err
		}
		d.LastSeen = time.UnixMilli(seen).UTC()
		d.LastTime = time.UnixMilli(last).UTC()
		d.Expected = d.Lost + d.Readings
		if d.Expected > 0 {
			d.LossRatio = float64(d.Lost) / float64(d.Expected)
		}
		if latest != nil {
			r, err := s.latestOf(id, last, seq, latest)
			if err != nil {
				return nil, err
			}
			d.Latest = r
		}
		out = append(out, d)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || !f.Latest {
		return out, err
	}
	units, err := s.devicesUnits(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Latest == nil {
			continue
		}
		r := withKey(*out[i].Latest, store.DeviceKey{Customer: out[i].Customer, Sensor: out[i].Sensor, Device: out[i].Device})
		r.Units = units[ids[i]]
		out[i].Latest = &r
	}
	return out, nil
}

// deviceWhere is the WHERE of a device filter: devices that have sent
// something.
func deviceWhere(f store.DeviceFilter) (string, []any) {
	c := store.DeviceConds(f)
	c.Where = append(c.Where, "(readings > 0 OR raw_from > 0)")
	return where(c)
}

// CountDevices counts the devices a filter matches in one query.
func (s *Store) CountDevices(ctx context.Context, f store.DeviceFilter, silentBefore time.Time) (store.Fleet, error) {
	w, args := deviceWhere(f)
	var fl store.Fleet
	err := s.queryRow(ctx, s.db, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN last_seen < ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(lost), 0), COALESCE(SUM(lost + readings), 0) FROM devices`+w,
		append([]any{silentBefore.UnixMilli()}, args...)...).Scan(&fl.Devices, &fl.Silent, &fl.Lost, &fl.Expected)
	if err != nil {
		return fl, fmt.Errorf("store: count devices: %w", err)
	}
	return fl, nil
}

// devicesUnits is the units of the devices of ids (of all devices, for a long
// list), by device id.
func (s *Store) devicesUnits(ctx context.Context, ids []int64) (map[int64]map[string]string, error) {
	if len(ids) == 0 {
		return map[int64]map[string]string{}, nil
	}
	query, args := `SELECT df.device_id, f.name, df.unit FROM device_fields df JOIN fields f ON f.id = df.field_id
		WHERE df.unit != ''`, []any{}
	if len(ids) <= 500 {
		query += ` AND df.device_id IN ` + inList(len(ids))
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := s.query(ctx, s.db, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]map[string]string{}
	for rows.Next() {
		var dev int64
		var f, u string
		if err := rows.Scan(&dev, &f, &u); err != nil {
			return nil, err
		}
		if out[dev] == nil {
			out[dev] = map[string]string{}
		}
		out[dev][f] = u
	}
	return out, rows.Err()
}

// Neighbours finds the stored readings around each query's position. A
// position after the device's newest, as nearly every new reading's is,
// is answered from the device's row (read for all the batch's devices at
// once, its reading decoded once while it stays the newest); others look
// into the recent rows and the chunks around it.
func (s *Store) Neighbours(ctx context.Context, qs []store.NeighbourQuery) ([]store.Neighbours, error) {
	out := make([]store.Neighbours, len(qs))
	devOf := make([]int64, len(qs))
	var ids []any
	seen := map[int64]bool{}
	for i, q := range qs {
		dev, err := s.lookupDevice(ctx, q.DeviceKey)
		if errors.Is(err, store.ErrNotFound) {
			continue // a new device has no neighbours
		}
		if err != nil {
			return nil, err
		}
		devOf[i] = dev
		if !seen[dev] {
			seen[dev] = true
			ids = append(ids, dev)
		}
	}
	newest := map[int64]*reading.Reading{}
	version := map[int64]int64{}
	if len(ids) > 0 {
		rows, err := s.query(ctx, s.db, `SELECT id, last_time, last_seq, latest, writes FROM devices WHERE id IN `+inList(len(ids)), ids...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, t, seq, writes int64
			var data []byte
			if err := rows.Scan(&id, &t, &seq, &data, &writes); err != nil {
				rows.Close()
				return nil, err
			}
			if data != nil {
				r, err := s.latestOf(id, t, seq, data)
				if err != nil {
					rows.Close()
					return nil, err
				}
				newest[id] = r
			}
			version[id] = writes
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	// Positions not after the newest: from the device's tail, or per
	// device from the parts around them, read once.
	slow := map[int64][]int{}
	for i, q := range qs {
		dev := devOf[i]
		n := newest[dev]
		if n == nil {
			continue
		}
		t := q.Time.UnixMilli()
		if position(n, t, q.Seq) < 0 {
			r := withKey(*n, q.DeviceKey)
			out[i].Before = &r
			continue
		}
		if before, after, ok := s.tails.neighbours(dev, version[dev], t, q.Seq); ok {
			for _, nb := range []struct{ from, to **reading.Reading }{{&before, &out[i].Before}, {&after, &out[i].After}} {
				if *nb.from != nil {
					r := withKey(**nb.from, q.DeviceKey)
					*nb.to = &r
				}
			}
			continue
		}
		slow[dev] = append(slow[dev], i)
	}
	for dev, idx := range slow {
		if err := s.around(ctx, dev, qs, idx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// latestOf decodes a device's newest reading, once while it stays the
// newest. The cache is bounded: a full one starts again.
func (s *Store) latestOf(dev, t, seq int64, data []byte) (*reading.Reading, error) {
	c, ok := s.latest.get(dev)
	if ok && c.time == t && c.seq == seq {
		return c.r, nil
	}
	r, err := chunk.DecodeRow(data)
	if err != nil {
		return nil, fmt.Errorf("store: newest reading of device %d: %w", dev, err)
	}
	s.latest.set(dev, cachedLatest{t, seq, &r})
	return &r, nil
}

type cachedLatest struct {
	time, seq int64
	r         *reading.Reading
}

// around finds a device's stored readings just before and after the
// positions of qs[idx], from the parts around them, a later recent row
// replacing what an earlier one or a chunk holds of the same identity.
func (s *Store) around(ctx context.Context, dev int64, qs []store.NeighbourQuery, idx []int, out []store.Neighbours) error {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, i := range idx {
		t := qs[i].Time.UnixMilli()
		lo, hi = min(lo, t), max(hi, t)
	}
	var rs []reading.Reading
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		parts, err := s.partsAround(ctx, tx, dev, lo, hi, true)
		if err != nil {
			return err
		}
		rs, err = s.mergedIn(ctx, tx, parts)
		return err
	})
	if err != nil {
		return err
	}
	for _, i := range idx {
		q := qs[i]
		t := q.Time.UnixMilli()
		j, found := slices.BinarySearchFunc(rs, q, func(r reading.Reading, q store.NeighbourQuery) int { return position(&r, t, q.Seq) })
		before, after := j-1, j
		if found {
			after++
		}
		for _, nb := range []struct {
			j  int
			to **reading.Reading
		}{{before, &out[i].Before}, {after, &out[i].After}} {
			if nb.j < 0 || nb.j >= len(rs) {
				continue
			}
			r := rs[nb.j]
			r = withKey(r, q.DeviceKey)
			*nb.to = &r
		}
	}
	return nil
}

// mergedIn reads parts through q (a transaction) and merges their
// readings in order, chunks first then recent rows by id: a later part's
// reading replaces an earlier's of the same identity.
func (s *Store) mergedIn(ctx context.Context, q querier, parts []partID) ([]reading.Reading, error) {
	slices.SortFunc(parts, func(a, b partID) int {
		if a.recent != b.recent {
			if a.recent {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.id, b.id)
	})
	parts = slices.Compact(parts)
	byKey := map[rowKey]reading.Reading{}
	for _, id := range parts {
		rs, err := s.part(ctx, q, id)
		if err != nil {
			return nil, err
		}
		for i := range rs {
			byKey[rowKey{0, rs[i].Time.UnixMilli(), rs[i].Seq()}] = rs[i]
		}
	}
	out := make([]reading.Reading, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	sortReadings(out)
	return out, nil
}

// columnsOf reads one field's values from each of a device's chunks that
// overlap [from, to), in order of time: from the chunks read last, kept
// decoded, or from the database.
func (s *Store) columnsOf(ctx context.Context, q querier, dev int64, field string, from, to int64) ([][]chunk.Point, error) {
	ids, err := s.ids(ctx, q, `SELECT id FROM chunks WHERE device_id = ? AND first_time < ? AND last_time >= ? ORDER BY first_time`, dev, to, from)
	if err != nil {
		return nil, err
	}
	parts := make([][]chunk.Point, len(ids))
	var missing []any
	at := map[int64]int{}
	for i, id := range ids {
		if pts, ok := s.columns.get(column{id, field}); ok {
			parts[i] = pts
		} else {
			missing = append(missing, id)
			at[id] = i
		}
	}
	for len(missing) > 0 {
		some := missing[:min(len(missing), 500)]
		missing = missing[len(some):]
		rows, err := s.query(ctx, q, `SELECT id, data FROM chunks WHERE id IN `+inList(len(some)), some...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return nil, err
			}
			pts, err := chunk.Field(data, field)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: chunk %d: %w", id, err)
			}
			s.columns.put(column{id, field}, pts)
			parts[at[id]] = pts
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// fieldPoint is a value with its reading's position.
type fieldPoint struct {
	time, seq int64
	value     float64
}

// fieldPoints reads one field's values of a device in [from, to) (Unix
// milliseconds), from chunks and recent rows, in order; a recent row
// replaces what a chunk or an earlier row holds of the same identity, with
// its value or without one.
func (s *Store) fieldPoints(ctx context.Context, dev int64, field string, from, to int64) ([]fieldPoint, error) {
	var out []fieldPoint
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.fieldPointsIn(ctx, tx, dev, field, from, to)
		return err
	})
	return out, err
}

// fieldPointsIn is fieldPoints, read through q (a snapshot).
func (s *Store) fieldPointsIn(ctx context.Context, q querier, dev int64, field string, from, to int64) ([]fieldPoint, error) {
	// The recent rows first: few, and they say which chunk values are
	// replaced.
	ids, err := s.ids(ctx, q, `SELECT id FROM recent WHERE device_id = ? AND first_time < ? AND last_time >= ? ORDER BY id`, dev, to, from)
	if err != nil {
		return nil, err
	}
	type override struct {
		value float64
		ok    bool
	}
	overrides := map[rowKey]override{}
	for _, id := range ids {
		rs, err := s.part(ctx, q, partID{true, id})
		if err != nil {
			return nil, err
		}
		for i := range rs {
			if t := rs[i].Time.UnixMilli(); t >= from && t < to {
				v, ok := rs[i].Fields[field]
				overrides[rowKey{0, t, rs[i].Seq()}] = override{v, ok}
			}
		}
	}
	parts, err := s.columnsOf(ctx, q, dev, field, from, to)
	if err != nil {
		return nil, err
	}
	total := len(overrides)
	for _, pts := range parts {
		total += len(pts)
	}
	out := make([]fieldPoint, 0, total)
	for _, pts := range parts {
		for _, p := range pts {
			if p.Time < from || p.Time >= to {
				continue
			}
			if _, replaced := overrides[rowKey{0, p.Time, p.Seq}]; replaced {
				continue
			}
			out = append(out, fieldPoint{p.Time, p.Seq, p.Value})
		}
	}
	for k, o := range overrides {
		if o.ok {
			out = append(out, fieldPoint{k.time, k.seq, o.value})
		}
	}
	if !slices.IsSortedFunc(out, comparePoints) {
		slices.SortFunc(out, comparePoints)
	}
	return out, nil
}

func comparePoints(a, b fieldPoint) int {
	return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
}

// Points returns one field's values in [From, To).
func (s *Store) Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error) {
	dev, unit, err := s.lookupField(ctx, q.DeviceKey, q.Field)
	if err != nil {
		return nil, "", err
	}
	pts, err := s.fieldPoints(ctx, dev, q.Field, q.From.UnixMilli(), q.To.UnixMilli())
	if err != nil {
		return nil, "", err
	}
	out := make([]store.Point, len(pts))
	for i, p := range pts {
		out[i] = store.Point{Time: time.UnixMilli(p.time).UTC(), Value: p.value}
	}
	return out, unit, nil
}

// PointBefore returns the newest value of field before t.
func (s *Store) PointBefore(ctx context.Context, k store.DeviceKey, field string, t time.Time) (store.Point, bool, error) {
	dev, _, err := s.lookupField(ctx, k, field)
	if errors.Is(err, store.ErrNotFound) {
		if _, derr := s.lookupDevice(ctx, k); derr != nil {
			return store.Point{}, false, derr
		}
		return store.Point{}, false, nil
	}
	if err != nil {
		return store.Point{}, false, err
	}
	ms := t.UnixMilli()
	// Back one day at a time from t, then a year at once, until a value
	// is found: the value before is nearly always in the day before.
	for _, span := range []int64{86400000, 366 * 86400000, math.MaxInt64 / 4} {
		pts, err := s.fieldPoints(ctx, dev, field, max(ms-span, math.MinInt64/4), ms)
		if err != nil {
			return store.Point{}, false, err
		}
		if n := len(pts); n > 0 {
			return store.Point{Time: time.UnixMilli(pts[n-1].time).UTC(), Value: pts[n-1].value}, true, nil
		}
	}
	// Before the readings, the last value of the aggregates retention
	// left.
	return s.rolledBefore(ctx, dev, field, t)
}

// Days answers day buckets of a field in [From, To), days starting at
// local midnight: a day whose values all lie in chunks inside it, apart
// from each other, comes from the chunks' summaries, without reading a
// value; any other from its values.
func (s *Store) Days(ctx context.Context, q store.RawQuery) ([]series.Bucket, error) {
	dev, _, err := s.lookupField(ctx, q.DeviceKey, q.Field)
	if err != nil {
		return nil, err
	}
	from, to := q.From.UnixMilli(), q.To.UnixMilli()
	type span struct {
		first, last int64
		summary     []byte
	}
	byDay := map[int64][]span{}
	mixed := map[int64]bool{}
	rows, err := s.query(ctx, s.db, `SELECT first_time, last_time, summary FROM chunks WHERE device_id = ? AND first_time < ? AND last_time >= ?`, dev, to, from)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c span
		if err := rows.Scan(&c.first, &c.last, &c.summary); err != nil {
			rows.Close()
			return nil, err
		}
		d := dayOf(time.UnixMilli(c.first), s.loc)
		if dayOf(time.UnixMilli(c.last), s.loc) != d {
			// Across midnight (written in another zone): by its values.
			for x := d; x <= dayOf(time.UnixMilli(c.last), s.loc); x++ {
				mixed[x] = true
			}
			continue
		}
		byDay[d] = append(byDay[d], c)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	days, err := s.query(ctx, s.db, `SELECT DISTINCT day FROM recent WHERE device_id = ? AND first_time < ? AND last_time >= ?`, dev, to, from)
	if err != nil {
		return nil, err
	}
	for days.Next() {
		var d int64
		if err := days.Scan(&d); err != nil {
			days.Close()
			return nil, err
		}
		mixed[d] = true
	}
	if err := days.Close(); err != nil {
		return nil, err
	}
	rolled, err := s.dayRollups(ctx, dev, q.Field, dayOf(q.From, s.loc), dayOf(q.To, s.loc)+1)
	if err != nil {
		return nil, err
	}
	var out []series.Bucket
	for d := dayOf(q.From, s.loc); ; d++ {
		start, end := dayBounds(d, s.loc)
		if start >= to {
			break
		}
		if start < from || end > to {
			return nil, fmt.Errorf("store: day buckets need a range of whole days")
		}
		spans := byDay[d]
		slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.first, b.first) })
		apart := true
		for i := 1; i < len(spans); i++ {
			apart = apart && spans[i].first > spans[i-1].last
		}
		// Summaries written before the counter rule was whole, or before
		// they kept their values' times: by values.
		for _, c := range spans {
			apart = apart && chunk.Exact(c.summary) && chunk.Timed(c.summary)
		}
		b := series.Bucket{Start: time.UnixMilli(start).In(s.loc), End: time.UnixMilli(end).In(s.loc)}
		// What retention removed of the day comes first: a reading
		// written after is a late one.
		mergeSummary(&b, rolled[d])
		if !mixed[d] && apart {
			for _, c := range spans {
				sum, ok, err := chunk.DecodeSummary(c.summary, q.Field)
				if err != nil {
					return nil, err
				}
				if ok {
					mergeSummary(&b, sum)
				}
			}
		} else {
			pts, err := s.fieldPoints(ctx, dev, q.Field, start, end)
			if err != nil {
				return nil, err
			}
			for _, p := range pts {
				var one chunk.Summary
				one.Add(p.time, p.value)
				mergeSummary(&b, one)
			}
		}
		if b.N > 0 {
			out = append(out, b)
		}
	}
	return out, nil
}

// mergeSummary adds a later summary to a bucket, whose Start and End are
// set: they stand for the times of values a summary did not keep.
func mergeSummary(b *series.Bucket, s chunk.Summary) {
	if s.N == 0 {
		return
	}
	first, last := b.Start, b.End
	if s.Timed {
		first, last = time.UnixMilli(s.FirstAt).In(b.Start.Location()), time.UnixMilli(s.LastAt).In(b.Start.Location())
	}
	if b.N == 0 {
		b.Min, b.Max = s.Min, s.Max
		b.FirstAt = first
	}
	b.LastAt = last
	b.Counter.Merge(s.Counter)
	b.Sum += s.Sum
	b.Min, b.Max = math.Min(b.Min, s.Min), math.Max(b.Max, s.Max)
}

// ForEachChunk calls fn with the readings of each chunk, for tools that
// look at what the store keeps.
func (s *Store) ForEachChunk(ctx context.Context, fn func(rs []reading.Reading) error) error {
	ids, err := s.ids(ctx, s.db, `SELECT id FROM chunks ORDER BY id`)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rs, err := s.part(ctx, s.db, partID{false, id})
		if err != nil {
			return err
		}
		if err := fn(rs); err != nil {
			return err
		}
	}
	return nil
}

// fieldsOf is the FROM of the fields of the devices a filter matches
// (d: customer, sensor, device and the times kept from; f.name and
// df.unit), with the fields among names only when names is not nil.
func fieldsOf(f store.DeviceFilter, names []string) (string, []any) {
	f.Sort, f.Desc, f.Limit, f.Offset, f.Latest = "", false, 0, 0, false
	w, args := deviceWhere(f)
	from := ` FROM (SELECT id, customer, sensor, device, raw_from, hourly_from, daily_from FROM devices` + w + `) d
		JOIN device_fields df ON df.device_id = d.id JOIN fields f ON f.id = df.field_id`
	if names != nil {
		if len(names) == 0 {
			return from + ` WHERE 1 = 0`, args
		}
		from += ` WHERE f.name IN ` + inList(len(names))
		for _, n := range names {
			args = append(args, n)
		}
	}
	return from, args
}

// KindFields lists the fields of the devices a filter matches by sensor
// kind, in one query that returns each once.
func (s *Store) KindFields(ctx context.Context, f store.DeviceFilter) ([]store.KindField, error) {
	from, args := fieldsOf(f, nil)
	rows, err := s.query(ctx, s.db, `SELECT d.sensor, f.name, MAX(df.unit)`+from+` GROUP BY d.sensor, f.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: fields of sensor kinds: %w", err)
	}
	defer rows.Close()
	out := []store.KindField{}
	for rows.Next() {
		var kf store.KindField
		if err := rows.Scan(&kf.Sensor, &kf.Name, &kf.Unit); err != nil {
			return nil, err
		}
		out = append(out, kf)
	}
	return out, rows.Err()
}

// DeviceFields lists the devices a filter matches with their fields, in
// one query.
func (s *Store) DeviceFields(ctx context.Context, f store.DeviceFilter, fields []string) ([]store.DeviceFields, error) {
	from, args := fieldsOf(f, fields)
	rows, err := s.query(ctx, s.db, `SELECT d.customer, d.sensor, d.device, d.raw_from, d.hourly_from, d.daily_from, f.name, df.unit`+
		from+` ORDER BY d.customer, d.sensor, d.device`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: fields of devices: %w", err)
	}
	defer rows.Close()
	out := []store.DeviceFields{}
	for rows.Next() {
		var k store.DeviceKey
		var raw, hourly, daily int64
		var fu store.FieldUnit
		if err := rows.Scan(&k.Customer, &k.Sensor, &k.Device, &raw, &hourly, &daily, &fu.Name, &fu.Unit); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].DeviceKey != k {
			out = append(out, store.DeviceFields{DeviceKey: k, Kept: s.kept(raw, hourly, daily)})
		}
		last := &out[len(out)-1]
		last.Fields = append(last.Fields, fu)
	}
	// The database's collation may not be byte order.
	for i := range out {
		slices.SortFunc(out[i].Fields, func(a, b store.FieldUnit) int { return strings.Compare(a.Name, b.Name) })
	}
	return out, rows.Err()
}
