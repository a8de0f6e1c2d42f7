package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/chunk"
)

// deviceRow is a device's kept summary, as a write reads and updates it.
type deviceRow struct {
	store.DeviceRow
	lastSeq int64
	latest  []byte
	writes  int64
	// rawFrom is when the readings retention left start (Unix
	// milliseconds; 0 when it removed none).
	rawFrom int64
}

// pending is a reading a write takes.
type pending struct {
	r   *reading.Reading
	dev int64
	key rowKey
}

type rowKey struct{ dev, time, seq int64 }

func keyOf(dev int64, r *reading.Reading) rowKey { return rowKey{dev, r.Time.UnixMilli(), r.Seq()} }

// Write stores a batch in one transaction: its new readings as recent
// rows, its re-derived readings as rows that replace the stored ones, the
// devices' rows, units, rejected messages and resolved replays.
func (s *Store) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	res, err := s.write(ctx, b)
	if errors.Is(err, errDeviceGone) {
		// Removed by another process since this one learnt its id: a
		// device that sends again is a new one.
		s.forgetDevices()
		res, err = s.write(ctx, b)
	}
	return res, err
}

// errDeviceGone is a device whose id this store knows but whose row was
// removed (sensorhub device rm in another process).
var errDeviceGone = errors.New("store: a device of the batch was removed")

// forgetDevices forgets the devices' ids and units it has learnt.
func (s *Store) forgetDevices() {
	s.idMu.Lock()
	clear(s.devices)
	clear(s.units)
	s.idMu.Unlock()
}

func (s *Store) write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
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
	keyed := func(rs []reading.Reading) []pending {
		out := make([]pending, len(rs))
		for i := range rs {
			r := &rs[i]
			dev := ids[store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}]
			out[i] = pending{r: r, dev: dev, key: keyOf(dev, r)}
		}
		return out
	}
	fresh, rederived := keyed(b.Readings), keyed(b.Rederived)
	units, err := s.newUnits(ctx, fresh)
	if err != nil {
		return res, err
	}
	var before map[int64]deviceRow
	var written []written
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res = store.WriteResult{}
		devs, err := s.lockDevices(ctx, tx, fresh, rederived)
		if err != nil {
			return err
		}
		before = make(map[int64]deviceRow, len(devs))
		for id, d := range devs {
			before[id] = *d
		}
		stored, w, err := s.insertRecent(ctx, tx, fresh, devs, &res)
		if err != nil {
			return err
		}
		w2, err := s.replaceRecent(ctx, tx, rederived, devs)
		if err != nil {
			return err
		}
		written = append(w, w2...)
		if err := s.updateDevices(ctx, tx, devs, stored, rederived); err != nil {
			return err
		}
		if err := s.writeUnits(ctx, tx, units); err != nil {
			return err
		}
		return s.writeRejected(ctx, tx, b.Rejected, b.Resolved, &res)
	})
	if err != nil {
		return store.WriteResult{}, err
	}
	s.idMu.Lock()
	for k, u := range units {
		s.noteUnit(k, u)
	}
	s.idMu.Unlock()
	s.keepTails(before, written)
	if s.compactor != nil {
		s.compactor.poke(written)
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
	rows, err := s.query(ctx, tx, `SELECT id, last_seen, last_time, last_seq, msg_count, msg_time, msg_from, lost, name, gateway, rssi, snr, latest, writes, raw_from
		FROM devices WHERE id IN `+inList(len(ids))+` ORDER BY id`+s.d.ForUpdate, ids...)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		d := &deviceRow{}
		if err := rows.Scan(&id, &d.LastSeen, &d.LastTime, &d.lastSeq, &d.MsgCount, &d.MsgTime, &d.MsgFrom, &d.Lost, &d.Name, &d.Gateway,
			&d.RSSI, &d.SNR, &d.latest, &d.writes, &d.rawFrom); err != nil {
			return nil, err
		}
		out[id] = d
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) < len(ids) {
		return nil, errDeviceGone
	}
	return out, nil
}

// insertRecent writes the new readings as recent rows and returns those
// that were new. A reading after the device's newest is new; one before it
// may be stored already, in a chunk or a recent row, or have been rolled
// up with its day by retention: then it is a duplicate.
func (s *Store) insertRecent(ctx context.Context, tx *sql.Tx, ps []pending, devs map[int64]*deviceRow, res *store.WriteResult) ([]pending, []written, error) {
	var stored []pending
	first := map[rowKey]bool{}
	known, err := s.rolledKeys(ctx, tx, ps, devs)
	if err != nil {
		return nil, nil, err
	}
	// Per device, the range of its readings not after its newest and not
	// answered by its tail: those may be stored already.
	type span struct{ lo, hi int64 }
	old := map[int64]*span{}
	for _, p := range ps {
		d := devs[p.dev]
		if d == nil || d.latest == nil || p.key.time > d.LastTime || p.key.time == d.LastTime && p.key.seq > d.lastSeq || known[p.key] {
			continue
		}
		if found, ok := s.tails.stored(p.dev, d.writes, p.key.time, p.key.seq); ok {
			known[p.key] = found
			continue
		}
		if sp := old[p.dev]; sp == nil {
			old[p.dev] = &span{p.key.time, p.key.time}
		} else {
			sp.lo, sp.hi = min(sp.lo, p.key.time), max(sp.hi, p.key.time)
		}
	}
	for dev, sp := range old {
		keys, err := s.storedKeys(ctx, tx, dev, sp.lo, sp.hi)
		if err != nil {
			return nil, nil, err
		}
		maps.Copy(known, keys)
	}
	for _, p := range ps {
		if first[p.key] || known[p.key] {
			res.Duplicates++
			continue
		}
		first[p.key] = true
		stored = append(stored, p)
		res.Stored++
	}
	w, err := s.appendRecent(ctx, tx, stored)
	return stored, w, err
}

// rolledKeys are the identities of the readings that retention rolled up
// among those of ps before their device's raw_from: a reading sent again
// after its day's readings were removed. A late reading of such a day that
// is not among them is new: it joins the day's aggregates when retention
// runs next, and its identity with it.
func (s *Store) rolledKeys(ctx context.Context, tx *sql.Tx, ps []pending, devs map[int64]*deviceRow) (map[rowKey]bool, error) {
	var days []devDay
	seen := map[devDay]bool{}
	for _, p := range ps {
		if d := devs[p.dev]; d != nil && p.key.time < d.rawFrom {
			if dd := (devDay{p.dev, dayOf(p.r.Time, s.loc)}); !seen[dd] {
				seen[dd] = true
				days = append(days, dd)
			}
		}
	}
	known := map[rowKey]bool{}
	for _, dd := range days {
		var data []byte
		err := s.queryRow(ctx, tx, `SELECT identities FROM rolled_keys WHERE device_id = ? AND day = ?`, dd.dev, dd.day).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: identities of device %d, day %s: %w", dd.dev, dayName(dd.day), err)
		}
		keys, err := chunk.DecodeKeys(data)
		if err != nil {
			return nil, fmt.Errorf("store: identities of device %d, day %s: %w", dd.dev, dayName(dd.day), err)
		}
		for _, k := range keys {
			known[rowKey{dd.dev, k.Time, k.Seq}] = true
		}
	}
	return known, nil
}

// replaceRecent writes re-derived readings as recent rows, which replace
// what is stored under their identity.
func (s *Store) replaceRecent(ctx context.Context, tx *sql.Tx, ps []pending, devs map[int64]*deviceRow) ([]written, error) {
	last := map[rowKey]pending{}
	for _, p := range ps {
		last[p.key] = p
	}
	var rows []pending
	for _, p := range last {
		rows = append(rows, p)
		if d := devs[p.dev]; d != nil && d.LastTime == p.key.time && d.lastSeq == p.key.seq {
			latest, err := chunk.EncodeRow(p.r)
			if err != nil {
				return nil, err
			}
			d.latest = latest
		}
	}
	return s.appendRecent(ctx, tx, rows)
}

// recentPerInsert is how many recent rows one INSERT takes.
const recentPerInsert = 100

// written is a recent row a write appended: a device's readings of one
// local day, n of them, encoded.
type written struct {
	dev, day int64
	n        int
	data     []byte
}

// appendRecent appends readings as recent rows: one per device and local
// day, holding its readings in order.
func (s *Store) appendRecent(ctx context.Context, tx *sql.Tx, ps []pending) ([]written, error) {
	byGroup := map[devDay][]reading.Reading{}
	var order []devDay
	for _, p := range ps {
		g := devDay{p.dev, dayOf(p.r.Time, s.loc)}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], *p.r)
	}
	args := make([]any, 0, recentPerInsert*7)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		_, err := s.exec(ctx, tx, `INSERT INTO recent (device_id, day, first_time, last_time, n, received, data) VALUES `+placeholders(len(args)/7, 7), args...)
		args = args[:0]
		if err != nil {
			return fmt.Errorf("store: readings: %w", err)
		}
		return nil
	}
	var out []written
	for _, g := range order {
		rs := byGroup[g]
		sortReadings(rs)
		data, err := chunk.EncodeRows(rs)
		if err != nil {
			return nil, fmt.Errorf("store: readings of device %d: %w", g.dev, err)
		}
		out = append(out, written{g.dev, g.day, len(rs), data})
		received := rs[0].Received.UnixMilli()
		for i := range rs {
			received = min(received, rs[i].Received.UnixMilli())
		}
		args = append(args, g.dev, g.day, rs[0].Time.UnixMilli(), rs[len(rs)-1].Time.UnixMilli(), len(rs), received, data)
		if len(args) == recentPerInsert*7 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return out, flush()
}

// keepTails brings the devices' tails to what a write committed: the
// recent rows written, decoded as any reader would read them, a later row
// replacing an earlier one's reading of the same position.
func (s *Store) keepTails(before map[int64]deviceRow, ws []written) {
	byDev := map[int64][]reading.Reading{}
	bad := map[int64]bool{}
	for _, w := range ws {
		rs, err := chunk.DecodeRows(w.data)
		if err != nil {
			// Not expected of what was just encoded; the store has it.
			s.log.Warn("store: readings just written do not decode; they are read from the store", "device", w.dev, "err", err)
			bad[w.dev] = true
		}
		byDev[w.dev] = append(byDev[w.dev], rs...)
	}
	for dev, rs := range byDev {
		if bad[dev] {
			s.tails.drop(dev)
			continue
		}
		sortReadings(rs) // stable: of one position, the last written last
		kept := rs[:0]
		for i := range rs {
			if i+1 < len(rs) && position(&rs[i], rs[i+1].Time.UnixMilli(), rs[i+1].Seq()) == 0 {
				continue
			}
			kept = append(kept, rs[i])
		}
		d := before[dev]
		s.tails.written(dev, d.writes, d.latest == nil, d.LastTime, d.lastSeq, kept)
	}
}

// sortReadings orders a device's readings by time, then Seq.
func sortReadings(rs []reading.Reading) {
	order := func(a, b reading.Reading) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Seq(), b.Seq())) }
	if !slices.IsSortedFunc(rs, order) {
		slices.SortStableFunc(rs, order)
	}
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
	var args []any
	for _, id := range ids {
		d, ps := devs[id], byDev[id]
		changed := false
		for _, p := range rederived {
			changed = changed || p.dev == id
		}
		if len(ps) == 0 && !changed {
			continue
		}
		// Fold follows msgCount in the order the readings came.
		rs := make([]*reading.Reading, len(ps))
		for i, p := range ps {
			rs[i] = p.r
		}
		slices.SortStableFunc(ps, func(a, b pending) int {
			return cmp.Or(cmp.Compare(a.key.time, b.key.time), cmp.Compare(a.key.seq, b.key.seq))
		})
		var newest *pending
		for i, p := range ps {
			if d.latest == nil && newest == nil || p.key.time > d.LastTime || p.key.time == d.LastTime && p.key.seq > d.lastSeq {
				newest = &ps[i]
			}
		}
		if newest != nil {
			latest, err := chunk.EncodeRow(newest.r)
			if err != nil {
				return err
			}
			d.latest, d.lastSeq = latest, newest.key.seq
		}
		// The newest time Fold keeps is the newest reading's, which the
		// loop above found by position.
		d.Fold(rs)
		args = append(args, len(ps), d.LastSeen, d.LastTime, d.lastSeq, d.MsgCount, d.MsgTime, d.MsgFrom, d.Lost, d.Name, d.Gateway, d.RSSI, d.SNR, d.latest, id)
	}
	if s.d.Name != "postgres" {
		// In process, one statement parsed once and run for each row is
		// quicker than one that takes them all.
		update, err := tx.PrepareContext(ctx, s.q(updateDevicesSQL(s.d, 0)))
		if err != nil {
			return fmt.Errorf("store: devices: %w", err)
		}
		defer update.Close()
		for ; len(args) > 0; args = args[len(deviceColumns):] {
			row := args[:len(deviceColumns)]
			if _, err := update.ExecContext(ctx, row...); err != nil {
				return fmt.Errorf("store: device %d: %w", row[len(row)-1], err)
			}
		}
		return nil
	}
	// On a server, a few statements for every device's row, in id order:
	// not a round trip each.
	for len(args) > 0 {
		part := args[:min(len(args), devicesPerUpdate*len(deviceColumns))]
		args = args[len(part):]
		if _, err := s.exec(ctx, tx, updateDevicesSQL(s.d, len(part)/len(deviceColumns)), part...); err != nil {
			return fmt.Errorf("store: devices: %w", err)
		}
	}
	return nil
}

// devicesPerUpdate is how many devices' rows one UPDATE takes on
// PostgreSQL, within its bound on a statement's parameters.
const devicesPerUpdate = 500

// deviceColumns are the values updateDevices gives for each device's
// row, in order, with their types, the row's id last.
var deviceColumns = []struct{ name, kind string }{
	{"readings", "int"}, {"last_seen", "int"}, {"last_time", "int"}, {"last_seq", "int"}, {"msg_count", "int"},
	{"msg_time", "int"}, {"msg_from", "int"}, {"lost", "int"}, {"name", "text"}, {"gateway", "text"}, {"rssi", "real"},
	{"snr", "real"}, {"latest", "blob"}, {"id", "int"},
}

// updateDevicesSQL updates devices' rows with deviceColumns' values: one
// row's, as parameters (rows 0), or rows' from a list of VALUES, typed
// (PostgreSQL types a parameter of VALUES as text otherwise).
func updateDevicesSQL(d *Dialect, rows int) string {
	id := len(deviceColumns) // v.column1, v.column2... of the VALUES; the id last
	var set []string
	for i, c := range deviceColumns[:id-1] {
		v := "?"
		if rows > 0 {
			v = fmt.Sprintf("v.column%d", i+1)
		}
		if c.name == "readings" {
			v = "devices.readings + " + v
		}
		set = append(set, c.name+" = "+v)
	}
	set = append(set, "writes = devices.writes + 1")
	if rows == 0 {
		return "UPDATE devices SET " + strings.Join(set, ", ") + " WHERE id = ?"
	}
	typed := make([]string, len(deviceColumns))
	for i, c := range deviceColumns {
		kind := map[string]string{"int": d.Int, "text": "TEXT", "real": d.Real, "blob": d.Blob}[c.kind]
		typed[i] = "CAST(? AS " + kind + ")"
	}
	row := "(" + strings.Join(typed, ", ") + ")"
	return fmt.Sprintf("UPDATE devices SET %s FROM (VALUES %s) AS v WHERE devices.id = v.column%d",
		strings.Join(set, ", "), strings.Repeat(row+", ", rows-1)+row, id)
}

// newUnits are the device fields whose unit is new or changed, with the
// field ids made as needed.
func (s *Store) newUnits(ctx context.Context, ps []pending) (map[unitKey]string, error) {
	names := map[string]bool{}
	for _, p := range ps {
		for name := range p.r.Fields {
			names[name] = true
		}
	}
	fids, err := s.fieldIDs(ctx, names)
	if err != nil {
		return nil, err
	}
	out := map[unitKey]string{}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	for _, p := range ps {
		for name := range p.r.Fields {
			k := unitKey{p.dev, fids[name]}
			u := p.r.Units[name]
			known, ok := s.knownUnit(k)
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

// writeUnits keeps the devices' fields' units, in the order of device and
// field: the devices' rows, locked first, already hold other writers of
// them back, and every writer takes the rows in one order still.
func (s *Store) writeUnits(ctx context.Context, tx *sql.Tx, units map[unitKey]string) error {
	keys := slices.SortedFunc(maps.Keys(units), func(a, b unitKey) int {
		return cmp.Or(cmp.Compare(a.device, b.device), cmp.Compare(a.field, b.field))
	})
	// A few statements, not one a field: new devices bring all their
	// fields at once.
	args := make([]any, 0, 3*min(len(keys), unitsPerInsert))
	for part := range slices.Chunk(keys, unitsPerInsert) {
		args = args[:0]
		for _, k := range part {
			args = append(args, k.device, k.field, units[k])
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO device_fields (device_id, field_id, unit) VALUES `+placeholders(len(part), 3)+`
			ON CONFLICT (device_id, field_id) DO UPDATE SET unit = excluded.unit WHERE excluded.unit != ''`, args...); err != nil {
			return fmt.Errorf("store: units: %w", err)
		}
	}
	return nil
}

// unitsPerInsert is how many device fields' units one INSERT takes.
const unitsPerInsert = 200

// writeRejected keeps rejected messages, a message rejected again (a
// replay) keeping its row with the new reason, and removes the rejected
// messages a replay resolved.
//
// Each row of the table is taken in the order of (received, digest), kept
// and removed rows together: one order that every writer and retention
// take, so that writers of several processes keeping or resolving the
// same messages wait on each other rather than deadlock, and kept rows'
// ids follow arrival.
func (s *Store) writeRejected(ctx context.Context, tx *sql.Tx, rjs []reading.Rejected, resolved []int64, res *store.WriteResult) error {
	cs := make([]rejectedChange, 0, len(rjs)+len(resolved))
	for i := range rjs {
		cs = append(cs, rejectedChange{received: rjs[i].Received.UnixNano(), digest: rjs[i].Digest(), rj: &rjs[i]})
	}
	gone, err := s.rejectedRows(ctx, tx, resolved)
	if err != nil {
		return err
	}
	cs = append(cs, gone...)
	// Of one row, what is kept before its removal, as a batch decodes it.
	slices.SortStableFunc(cs, func(a, b rejectedChange) int {
		return cmp.Or(cmp.Compare(a.received, b.received), bytes.Compare(a.digest, b.digest))
	})
	for _, c := range cs {
		if c.rj == nil {
			if _, err := s.exec(ctx, tx, `DELETE FROM rejected WHERE id = ?`, c.id); err != nil {
				return fmt.Errorf("store: resolve rejected %d: %w", c.id, err)
			}
			continue
		}
		rj := c.rj
		out, err := s.exec(ctx, tx, `INSERT INTO rejected (received, topic, source, customer, reason, payload, digest, binding)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET reason = excluded.reason WHERE rejected.reason != excluded.reason`,
			c.received, rj.Topic, rj.Source, rj.Customer, rj.Reason, rj.Payload, c.digest, rj.Binding)
		if err != nil {
			return fmt.Errorf("store: rejected message: %w", err)
		}
		if n, _ := out.RowsAffected(); n > 0 {
			res.Rejected++
		}
	}
	return nil
}

// rejectedChange is a row of the rejected table that a write keeps (rj)
// or removes (id), with what orders it.
type rejectedChange struct {
	received int64
	digest   []byte
	rj       *reading.Rejected
	id       int64
}

// rejectedRows are the removals of the rejected messages ids that are
// still kept: their received time and digest, which never change, are
// read without a lock.
func (s *Store) rejectedRows(ctx context.Context, tx *sql.Tx, ids []int64) ([]rejectedChange, error) {
	var out []rejectedChange
	for len(ids) > 0 {
		some := ids[:min(len(ids), 500)]
		ids = ids[len(some):]
		args := make([]any, len(some))
		for i, id := range some {
			args[i] = id
		}
		rows, err := s.query(ctx, tx, `SELECT id, received, digest FROM rejected WHERE id IN `+inList(len(args)), args...)
		if err != nil {
			return nil, fmt.Errorf("store: resolved rejected messages: %w", err)
		}
		for rows.Next() {
			var c rejectedChange
			if err := rows.Scan(&c.id, &c.received, &c.digest); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, c)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
