package sqlstore

import (
	"cmp"
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// chunkCache keeps the decoded readings of the chunks read last, so that
// late readings of one day, which each look into that day's chunk, decode
// it once. A chunk is never changed, only replaced under a new id.
type chunkCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[int64]*list.Element
}

type cachedChunk struct {
	id int64
	rs []reading.Reading
}

func newChunkCache(max int) *chunkCache {
	return &chunkCache{max: max, order: list.New(), items: map[int64]*list.Element{}}
}

func (c *chunkCache) get(id int64, data func() ([]byte, error)) ([]reading.Reading, error) {
	c.mu.Lock()
	if e, ok := c.items[id]; ok {
		c.order.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*cachedChunk).rs, nil
	}
	c.mu.Unlock()
	b, err := data()
	if err != nil {
		return nil, err
	}
	rs, err := chunk.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("store: chunk %d: %w", id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[id]; !ok {
		c.items[id] = c.order.PushFront(&cachedChunk{id: id, rs: rs})
		for c.order.Len() > c.max {
			old := c.order.Remove(c.order.Back()).(*cachedChunk)
			delete(c.items, old.id)
		}
	}
	return rs, nil
}

// chunkReadings decodes a chunk by id, through the cache.
func (s *Store) chunkReadings(ctx context.Context, q querier, id int64) ([]reading.Reading, error) {
	return s.chunks.get(id, func() ([]byte, error) {
		var data []byte
		err := s.queryRow(ctx, q, `SELECT data FROM chunks WHERE id = ?`, id).Scan(&data)
		return data, err
	})
}

// inChunks reports whether a reading of this identity is in a chunk.
func (s *Store) inChunks(ctx context.Context, q querier, k rowKey) (bool, error) {
	ids, err := s.chunkIDs(ctx, q, `SELECT id FROM chunks WHERE device_id = ? AND first_time <= ? AND last_time >= ?`, k.dev, k.time, k.time)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		rs, err := s.chunkReadings(ctx, q, id)
		if err != nil {
			return false, err
		}
		i, found := slices.BinarySearchFunc(rs, k, func(r reading.Reading, k rowKey) int {
			return cmp.Or(cmp.Compare(r.Time.UnixMilli(), k.time), cmp.Compare(r.Seq(), k.seq))
		})
		if found && i < len(rs) {
			return true, nil
		}
	}
	return false, nil
}

func (s *Store) chunkIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
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

// Devices lists devices.
func (s *Store) Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error) {
	rows, err := s.query(ctx, s.db, `SELECT customer, sensor, device, name, gateway, last_seen, last_time,
			readings, msg_count, lost, rssi, snr
		FROM devices
		WHERE (? = '' OR customer = ?) AND (? = '' OR sensor = ?) AND readings > 0
		ORDER BY customer, sensor, device`, f.Customer, f.Customer, f.Sensor, f.Sensor)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Device{}
	for rows.Next() {
		var d store.Device
		var seen, last int64
		if err := rows.Scan(&d.Customer, &d.Sensor, &d.Device, &d.Name, &d.Gateway, &seen, &last,
			&d.Readings, &d.MsgCount, &d.Lost, &d.RSSI, &d.SNR); err != nil {
			return nil, err
		}
		d.LastSeen = time.UnixMilli(seen).UTC()
		d.LastTime = time.UnixMilli(last).UTC()
		d.Expected = d.Lost + d.Readings
		if d.Expected > 0 {
			d.LossRatio = float64(d.Lost) / float64(d.Expected)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Neighbours finds the stored readings around each query's position. A
// position after the device's newest, as nearly every new reading's is,
// is answered from the device's row; others look into the recent rows and
// the chunks around it.
func (s *Store) Neighbours(ctx context.Context, qs []store.NeighbourQuery) ([]store.Neighbours, error) {
	out := make([]store.Neighbours, len(qs))
	type newest struct {
		time, seq int64
		r         *reading.Reading
	}
	newestOf := map[int64]*newest{}
	for i, q := range qs {
		dev, err := s.lookupDevice(ctx, q.DeviceKey)
		if errors.Is(err, store.ErrNotFound) {
			continue // a new device has no neighbours
		}
		if err != nil {
			return nil, err
		}
		n, ok := newestOf[dev]
		if !ok {
			n = &newest{}
			var data []byte
			if err := s.queryRow(ctx, s.db, `SELECT last_time, last_seq, latest FROM devices WHERE id = ?`, dev).Scan(&n.time, &n.seq, &data); err != nil {
				return nil, err
			}
			if data != nil {
				r, err := chunk.DecodeRow(data)
				if err != nil {
					return nil, fmt.Errorf("store: newest reading of %s: %w", q.Device, err)
				}
				r = withKey(r, q.DeviceKey)
				n.r = &r
			}
			newestOf[dev] = n
		}
		t := q.Time.UnixMilli()
		if n.r == nil {
			continue
		}
		if position(n.r, t, q.Seq) < 0 {
			out[i].Before = n.r
			continue
		}
		if out[i], err = s.around(ctx, dev, q); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// around finds a device's stored readings just before and after a
// position, in recent rows and chunks; a recent row replaces a chunk's
// reading of the same identity.
func (s *Store) around(ctx context.Context, dev int64, q store.NeighbourQuery) (store.Neighbours, error) {
	t := q.Time.UnixMilli()
	var n store.Neighbours
	better := func(cur, cand *reading.Reading, before bool) bool {
		if cur == nil {
			return true
		}
		c := position(cand, cur.Time.UnixMilli(), cur.Seq())
		return before && c > 0 || !before && c < 0
	}
	for _, side := range []struct {
		before bool
		recent string
		chunks string
		to     **reading.Reading
	}{
		{true, `SELECT data FROM recent WHERE device_id = ? AND (time < ? OR time = ? AND seq < ?) ORDER BY time DESC, seq DESC LIMIT 1`,
			`SELECT id FROM chunks WHERE device_id = ? AND first_time <= ? ORDER BY last_time DESC LIMIT 3`, &n.Before},
		{false, `SELECT data FROM recent WHERE device_id = ? AND (time > ? OR time = ? AND seq > ?) ORDER BY time, seq LIMIT 1`,
			`SELECT id FROM chunks WHERE device_id = ? AND last_time >= ? ORDER BY first_time LIMIT 3`, &n.After},
	} {
		var data []byte
		switch err := s.queryRow(ctx, s.db, side.recent, dev, t, t, q.Seq).Scan(&data); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return n, err
		default:
			r, err := chunk.DecodeRow(data)
			if err != nil {
				return n, err
			}
			r = withKey(r, q.DeviceKey)
			*side.to = &r
		}
		ids, err := s.chunkIDs(ctx, s.db, side.chunks, dev, t)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			rs, err := s.chunkReadings(ctx, s.db, id)
			if err != nil {
				return n, err
			}
			i, _ := slices.BinarySearchFunc(rs, q, func(r reading.Reading, q store.NeighbourQuery) int { return position(&r, t, q.Seq) })
			// rs[i] is the first at or after the position.
			j := i - 1
			if !side.before {
				j = i
				if j < len(rs) && position(&rs[j], t, q.Seq) == 0 {
					j++
				}
			}
			if j < 0 || j >= len(rs) {
				continue
			}
			if cand := withKey(rs[j], q.DeviceKey); better(*side.to, &cand, side.before) {
				*side.to = &cand
			}
		}
	}
	// A chunk's reading that a recent row replaces is read as the row.
	for _, p := range []**reading.Reading{&n.Before, &n.After} {
		if *p == nil {
			continue
		}
		var data []byte
		err := s.queryRow(ctx, s.db, `SELECT data FROM recent WHERE device_id = ? AND time = ? AND seq = ?`,
			dev, (*p).Time.UnixMilli(), (*p).Seq()).Scan(&data)
		if err == nil {
			r, err := chunk.DecodeRow(data)
			if err != nil {
				return n, err
			}
			r = withKey(r, q.DeviceKey)
			*p = &r
		} else if !errors.Is(err, sql.ErrNoRows) {
			return n, err
		}
	}
	return n, nil
}

// fieldPoint is a value with its reading's position.
type fieldPoint struct {
	time, seq int64
	value     float64
}

// fieldPoints reads one field's values of a device in [from, to) (Unix
// milliseconds), from chunks and recent rows, in order; a recent row
// replaces a chunk's value of the same identity.
func (s *Store) fieldPoints(ctx context.Context, dev int64, field string, from, to int64) ([]fieldPoint, error) {
	rows, err := s.query(ctx, s.db, `SELECT data FROM chunks WHERE device_id = ? AND first_time < ? AND last_time >= ? ORDER BY first_time`, dev, to, from)
	if err != nil {
		return nil, err
	}
	var out []fieldPoint
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return nil, err
		}
		pts, err := chunk.Field(data, field)
		if err != nil {
			rows.Close()
			return nil, err
		}
		for _, p := range pts {
			if p.Time >= from && p.Time < to {
				out = append(out, fieldPoint{p.Time, p.Seq, p.Value})
			}
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	recent, err := s.recentField(ctx, dev, field, `time >= ? AND time < ? ORDER BY time, seq`, from, to)
	if err != nil {
		return nil, err
	}
	return mergePoints(out, recent), nil
}

// recentField reads a field from the recent rows a condition selects:
// every row, with ok false where the row has no value of the field (it
// may replace a chunk's reading that has one).
func (s *Store) recentField(ctx context.Context, dev int64, field, cond string, args ...any) ([]recentPoint, error) {
	rows, err := s.query(ctx, s.db, `SELECT time, seq, data FROM recent WHERE device_id = ? AND `+cond, append([]any{dev}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recentPoint
	for rows.Next() {
		var p recentPoint
		var data []byte
		if err := rows.Scan(&p.time, &p.seq, &data); err != nil {
			return nil, err
		}
		if p.value, p.ok, err = chunk.RowField(data, field); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

type recentPoint struct {
	fieldPoint
	ok bool
}

// mergePoints merges chunk points and recent rows, both in order: a
// recent row replaces the chunk's point of its identity, with its value
// or without one.
func mergePoints(chunked []fieldPoint, recent []recentPoint) []fieldPoint {
	if len(recent) == 0 {
		return chunked
	}
	slices.SortStableFunc(chunked, comparePoints)
	out := make([]fieldPoint, 0, len(chunked)+len(recent))
	i := 0
	for _, r := range recent {
		for i < len(chunked) && comparePoints(chunked[i], r.fieldPoint) < 0 {
			out = append(out, chunked[i])
			i++
		}
		if i < len(chunked) && comparePoints(chunked[i], r.fieldPoint) == 0 {
			i++ // replaced
		}
		if r.ok {
			out = append(out, r.fieldPoint)
		}
	}
	return append(out, chunked[i:]...)
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
	return store.Point{}, false, nil
}

// Days answers day buckets of a field in [From, To), days starting at
// local midnight: a day whose values all lie in chunks inside it, apart
// from each other, comes from the chunks' summaries, without reading a
// value; any other from its values.
func (s *Store) Days(ctx context.Context, q store.RawQuery) ([]store.Bucket, error) {
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
	days, err := s.query(ctx, s.db, `SELECT DISTINCT day FROM recent WHERE device_id = ? AND time >= ? AND time < ?`, dev, from, to)
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
	var out []store.Bucket
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
		b := store.Bucket{Start: time.UnixMilli(start).In(s.loc)}
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
				one.Add(p.value)
				mergeSummary(&b, one)
			}
		}
		if b.N > 0 {
			out = append(out, b)
		}
	}
	return out, nil
}

// mergeSummary adds a later summary to a bucket.
func mergeSummary(b *store.Bucket, s chunk.Summary) {
	if s.N == 0 {
		return
	}
	if b.N == 0 {
		b.Min, b.Max, b.First = s.Min, s.Max, s.First
	} else {
		b.Increase += store.CounterIncrease(b.Last, s.First)
	}
	b.N += s.N
	b.Sum += s.Sum
	b.Min, b.Max = math.Min(b.Min, s.Min), math.Max(b.Max, s.Max)
	b.Increase += s.Increase
	b.Last = s.Last
}
