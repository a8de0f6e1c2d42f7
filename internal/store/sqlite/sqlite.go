// Package sqlite is the store in one SQLite file (modernc.org/sqlite, pure
// Go), in WAL mode. Values live in a narrow table keyed by device, field and
// time, so a per-device, per-field time-range query is one index range scan.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// schema is applied in order; schema_version records how far a file got.
var schema = []string{
	`CREATE TABLE devices (
		id        INTEGER PRIMARY KEY,
		customer  TEXT NOT NULL,
		sensor    TEXT NOT NULL,
		device    TEXT NOT NULL,
		name      TEXT NOT NULL DEFAULT '',
		gateway   TEXT NOT NULL DEFAULT '',
		last_seen INTEGER NOT NULL DEFAULT 0,
		last_time INTEGER NOT NULL DEFAULT 0,
		readings  INTEGER NOT NULL DEFAULT 0,
		msg_count INTEGER NOT NULL DEFAULT -1,
		lost      INTEGER NOT NULL DEFAULT 0,
		rssi      REAL,
		snr       REAL,
		UNIQUE (customer, sensor, device)
	);
	CREATE TABLE fields (
		id   INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	);
	CREATE TABLE device_fields (
		device_id INTEGER NOT NULL,
		field_id  INTEGER NOT NULL,
		unit      TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (device_id, field_id)
	) WITHOUT ROWID;
	-- A rowid table: its rows carry the whole reading as JSON, too large
	-- for a WITHOUT ROWID b-tree.
	CREATE TABLE readings (
		id        INTEGER PRIMARY KEY,
		device_id INTEGER NOT NULL,
		time      INTEGER NOT NULL,
		msg_count INTEGER NOT NULL,
		received  INTEGER NOT NULL,
		doc       TEXT NOT NULL,
		UNIQUE (device_id, time, msg_count)
	);
	CREATE TABLE points (
		device_id INTEGER NOT NULL,
		field_id  INTEGER NOT NULL,
		time      INTEGER NOT NULL,
		msg_count INTEGER NOT NULL,
		value     REAL NOT NULL,
		PRIMARY KEY (device_id, field_id, time, msg_count)
	) WITHOUT ROWID;
	CREATE TABLE rejected (
		id       INTEGER PRIMARY KEY,
		received INTEGER NOT NULL, -- Unix nanoseconds: a replay must see the same message
		topic    TEXT NOT NULL,
		source   TEXT NOT NULL,
		customer TEXT NOT NULL DEFAULT '',
		reason   TEXT NOT NULL,
		payload  BLOB NOT NULL,
		-- the same message delivered again is kept once
		digest   BLOB NOT NULL UNIQUE
	);
	CREATE INDEX rejected_received ON rejected (received);`,
	// Aggregates per minute (res 0), hour (1) and day (2), kept as data
	// arrives so that long ranges are answered without reading every point.
	`CREATE TABLE rollups (
		device_id INTEGER NOT NULL,
		field_id  INTEGER NOT NULL,
		res       INTEGER NOT NULL,
		bucket    INTEGER NOT NULL,
		n         INTEGER NOT NULL,
		sum       REAL NOT NULL,
		min       REAL NOT NULL,
		max       REAL NOT NULL,
		first_t   INTEGER NOT NULL,
		first     REAL NOT NULL,
		last_t    INTEGER NOT NULL,
		last      REAL NOT NULL,
		PRIMARY KEY (device_id, field_id, res, bucket)
	) WITHOUT ROWID;`,
	// The alert stage: a state machine per rule and device, the alerts it
	// fired, and the notifications to send and sent.
	`CREATE TABLE alert_states (
		rule     TEXT NOT NULL,
		customer TEXT NOT NULL,
		sensor   TEXT NOT NULL,
		device   TEXT NOT NULL,
		machine  TEXT NOT NULL,
		alert_id INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (rule, customer, sensor, device)
	) WITHOUT ROWID;
	CREATE TABLE alerts (
		id          INTEGER PRIMARY KEY,
		rule        TEXT NOT NULL,
		customer    TEXT NOT NULL,
		sensor      TEXT NOT NULL,
		device      TEXT NOT NULL,
		name        TEXT NOT NULL DEFAULT '',
		severity    TEXT NOT NULL,
		state       TEXT NOT NULL,
		started     INTEGER NOT NULL,
		resolved    INTEGER,
		message     TEXT NOT NULL,
		vals        TEXT NOT NULL DEFAULT '{}',
		acked_by    TEXT NOT NULL DEFAULT '',
		acked_at    INTEGER,
		ack_comment TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX alerts_state ON alerts (state, id);
	CREATE TABLE notifications (
		id       INTEGER PRIMARY KEY,
		alert_id INTEGER NOT NULL REFERENCES alerts (id),
		kind     TEXT NOT NULL,
		notifier TEXT NOT NULL,
		event    TEXT NOT NULL,
		status   TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		error    TEXT NOT NULL DEFAULT '',
		created  INTEGER NOT NULL,
		done     INTEGER
	);
	CREATE INDEX notifications_alert ON notifications (alert_id);
	CREATE INDEX notifications_pending ON notifications (notifier, id) WHERE status = 'pending';`,
	// Web sessions, as the session library (scs sqlite3store) keeps them.
	`CREATE TABLE sessions (
		token  TEXT PRIMARY KEY,
		data   BLOB NOT NULL,
		expiry REAL NOT NULL
	);
	CREATE INDEX sessions_expiry_idx ON sessions (expiry);`,
	// The customer a rejected message's sender was bound to (its MQTT login's
	// or ingest token's): a replay is held to it again. Of the messages
	// kept before, those refused for naming another customer were bound to
	// the one they were kept under.
	`ALTER TABLE rejected ADD COLUMN binding TEXT NOT NULL DEFAULT '';
	UPDATE rejected SET binding = customer WHERE reason LIKE 'customer % refused: this sender may only send for %';`,
}

// Store is a store.Store in a SQLite file.
type Store struct {
	db  *sql.DB
	loc *time.Location
	// mu serialises writers: SQLite has one writer at a time, and waiting
	// here is cheaper than retrying on SQLITE_BUSY.
	mu      sync.Mutex
	devices map[store.DeviceKey]int64
	fields  map[string]int64
	// units caches each device field's stored unit, to write it only when
	// it changes.
	units map[unitKey]string
	stmts struct {
		pointsMany, pointsOne, before, after *sql.Stmt
	}
}

// Open opens (creating if needed) the SQLite store at path and brings its
// schema up to date. Day aggregates start at midnight in loc.
func Open(ctx context.Context, path string, loc *time.Location) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	// A larger page cache keeps the index pages of recent data in memory
	// instead of re-reading them on every batch.
	q.Add("_pragma", "cache_size(-65536)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, loc: loc, devices: map[store.DeviceKey]int64{}, fields: map[string]int64{}, units: map[unitKey]string{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return err
	}
	if v > len(schema) {
		return fmt.Errorf("schema version %d is newer than this sensorhub knows (%d): upgrade sensorhub", v, len(schema))
	}
	for i := v; i < len(schema); i++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, schema[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, i+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB is the database, for the web sessions kept in it.
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Write stores the batch in one transaction.
func (s *Store) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	res, err := s.write(ctx, b)
	return res, classify(err)
}

func (s *Store) write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	var res store.WriteResult
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	// Ids learnt inside a transaction that rolls back must be forgotten.
	newDevices := map[store.DeviceKey]int64{}
	newFields := map[string]int64{}
	newUnits := map[unitKey]string{}
	// fresh holds, per device, the readings this batch stored, in order.
	fresh := map[int64][]*reading.Reading{}

	if len(b.Readings) > 0 {
		insReading, err := tx.PrepareContext(ctx, `INSERT INTO readings (device_id, time, msg_count, received, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return res, err
		}
		var points []store.StoredPoint
		insUnit, err := tx.PrepareContext(ctx, `INSERT INTO device_fields (device_id, field_id, unit) VALUES (?, ?, ?)
			ON CONFLICT (device_id, field_id) DO UPDATE SET unit = excluded.unit WHERE excluded.unit != '' AND excluded.unit != device_fields.unit`)
		if err != nil {
			return res, err
		}
		for i := range b.Readings {
			r := &b.Readings[i]
			dev, err := s.deviceID(ctx, tx, store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}, newDevices)
			if err != nil {
				return res, err
			}
			doc, err := json.Marshal(r)
			if err != nil {
				return res, err
			}
			t := r.Time.UnixMilli()
			out, err := insReading.ExecContext(ctx, dev, t, r.Seq(), r.Received.UnixMilli(), doc)
			if err != nil {
				return res, fmt.Errorf("store: reading %s: %w", r.Key(), err)
			}
			if n, _ := out.RowsAffected(); n == 0 {
				res.Duplicates++
				continue
			}
			res.Stored++
			for name, v := range r.Fields {
				fid, err := s.fieldID(ctx, tx, name, newFields)
				if err != nil {
					return res, err
				}
				points = append(points, store.StoredPoint{Device: dev, Field: fid, Time: t, Seq: r.Seq(), Value: v})
				uk := unitKey{dev, fid}
				if u, known := s.units[uk]; !known || (u != r.Units[name] && r.Units[name] != "") {
					if _, err := insUnit.ExecContext(ctx, dev, fid, r.Units[name]); err != nil {
						return res, err
					}
					newUnits[uk] = r.Units[name]
				}
			}
			fresh[dev] = append(fresh[dev], r)
		}
		if err := s.insertPoints(ctx, tx, points); err != nil {
			return res, err
		}
		if err := s.addRollups(ctx, tx, points); err != nil {
			return res, err
		}
		for dev, rs := range fresh {
			if err := updateDevice(ctx, tx, dev, rs); err != nil {
				return res, err
			}
		}
	}
	if len(b.Rejected) > 0 {
		// A message rejected again (a replay) keeps its row, with the new
		// reason.
		ins, err := tx.PrepareContext(ctx, `INSERT INTO rejected (received, topic, source, customer, reason, payload, digest, binding)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE SET reason = excluded.reason WHERE reason != excluded.reason`)
		if err != nil {
			return res, err
		}
		for _, rj := range b.Rejected {
			out, err := ins.ExecContext(ctx, rj.Received.UnixNano(), rj.Topic, rj.Source, rj.Customer, rj.Reason, rj.Payload, rj.Digest(), rj.Binding)
			if err != nil {
				return res, fmt.Errorf("store: rejected message: %w", err)
			}
			if n, _ := out.RowsAffected(); n > 0 {
				res.Rejected++
			}
		}
	}
	for i := range b.Rederived {
		if err := s.rederive(ctx, tx, &b.Rederived[i], newDevices, newFields); err != nil {
			return res, err
		}
	}
	for _, id := range b.Resolved {
		if _, err := tx.ExecContext(ctx, `DELETE FROM rejected WHERE id = ?`, id); err != nil {
			return res, fmt.Errorf("store: resolve rejected %d: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return store.WriteResult{}, fmt.Errorf("store: commit: %w", err)
	}
	for k, v := range newDevices {
		s.devices[k] = v
	}
	for k, v := range newFields {
		s.fields[k] = v
	}
	for k, v := range newUnits {
		if v != "" || s.units[k] == "" {
			s.units[k] = v
		}
	}
	return res, nil
}

// pointsPerInsert is the rows of the prepared multi-row INSERT; the rest
// of a batch goes one row at a time. One statement for many rows costs far
// less than one each, and preparing it once saves parsing it every batch.
const pointsPerInsert = 200

func pointsInsert(rows int) string {
	var q strings.Builder
	q.WriteString("INSERT INTO points (device_id, field_id, time, msg_count, value) VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?)")
	}
	q.WriteString(" ON CONFLICT DO NOTHING")
	return q.String()
}

// insertPoints writes new points.
func (s *Store) insertPoints(ctx context.Context, tx *sql.Tx, pts []store.StoredPoint) error {
	const cols = 5
	flat := make([]any, 0, len(pts)*cols)
	for _, p := range pts {
		flat = append(flat, p.Device, p.Field, p.Time, p.Seq, p.Value)
	}
	many, one := tx.StmtContext(ctx, s.stmts.pointsMany), tx.StmtContext(ctx, s.stmts.pointsOne)
	for len(flat) > 0 {
		stmt, n := many, pointsPerInsert
		if len(flat) < pointsPerInsert*cols {
			stmt, n = one, 1
		}
		if _, err := stmt.ExecContext(ctx, flat[:n*cols]...); err != nil {
			return fmt.Errorf("store: points: %w", err)
		}
		flat = flat[n*cols:]
	}
	return nil
}

type unitKey struct{ device, field int64 }

// updateDevice folds a batch's new readings of one device into its row.
func updateDevice(ctx context.Context, tx *sql.Tx, dev int64, rs []*reading.Reading) error {
	var d store.DeviceRow
	err := tx.QueryRowContext(ctx, `SELECT last_seen, last_time, msg_count, lost, name, gateway, rssi, snr FROM devices WHERE id = ?`, dev).
		Scan(&d.LastSeen, &d.LastTime, &d.MsgCount, &d.Lost, &d.Name, &d.Gateway, &d.RSSI, &d.SNR)
	if err != nil {
		return fmt.Errorf("store: device %d: %w", dev, err)
	}
	d.Fold(rs)
	_, err = tx.ExecContext(ctx, `UPDATE devices SET readings = readings + ?, last_seen = ?, last_time = ?, msg_count = ?, lost = ?,
		name = ?, gateway = ?, rssi = ?, snr = ? WHERE id = ?`,
		len(rs), d.LastSeen, d.LastTime, d.MsgCount, d.Lost, d.Name, d.Gateway, d.RSSI, d.SNR, dev)
	if err != nil {
		return fmt.Errorf("store: device %d: %w", dev, err)
	}
	return nil
}

func (s *Store) deviceID(ctx context.Context, tx *sql.Tx, k store.DeviceKey, pending map[store.DeviceKey]int64) (int64, error) {
	if id, ok := s.devices[k]; ok {
		return id, nil
	}
	if id, ok := pending[k]; ok {
		return id, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO devices (customer, sensor, device) VALUES (?, ?, ?)
		ON CONFLICT (customer, sensor, device) DO UPDATE SET device = excluded.device RETURNING id`,
		k.Customer, k.Sensor, k.Device).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: device %s/%s/%s: %w", k.Customer, k.Sensor, k.Device, err)
	}
	pending[k] = id
	return id, nil
}

func (s *Store) fieldID(ctx context.Context, tx *sql.Tx, name string, pending map[string]int64) (int64, error) {
	if id, ok := s.fields[name]; ok {
		return id, nil
	}
	if id, ok := pending[name]; ok {
		return id, nil
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO fields (name) VALUES (?)
		ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: field %s: %w", name, err)
	}
	pending[name] = id
	return id, nil
}

// lookupDevice finds a device's id without creating it.
func (s *Store) lookupDevice(ctx context.Context, k store.DeviceKey) (int64, error) {
	s.mu.Lock()
	id, ok := s.devices[k]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	err := s.db.QueryRowContext(ctx, `SELECT id FROM devices WHERE customer = ? AND sensor = ? AND device = ?`,
		k.Customer, k.Sensor, k.Device).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	return id, err
}

// lookupField finds a device's field: the ids that key its points and its
// unit; ErrNotFound when the device never sent it.
func (s *Store) lookupField(ctx context.Context, k store.DeviceKey, field string) (dev, fid int64, unit string, err error) {
	if dev, err = s.lookupDevice(ctx, k); err != nil {
		return 0, 0, "", err
	}
	err = s.db.QueryRowContext(ctx, `SELECT df.field_id, df.unit FROM device_fields df JOIN fields f ON f.id = df.field_id
		WHERE df.device_id = ? AND f.name = ?`, dev, field).Scan(&fid, &unit)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, "", store.ErrNotFound
	}
	return dev, fid, unit, err
}

// Devices lists devices.
func (s *Store) Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT customer, sensor, device, name, gateway, last_seen, last_time,
			readings, msg_count, lost, rssi, snr
		FROM devices
		WHERE (?1 = '' OR customer = ?1) AND (?2 = '' OR sensor = ?2) AND readings > 0
		ORDER BY customer, sensor, device`, f.Customer, f.Sensor)
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

// Neighbours finds the stored readings around each query's position.
func (s *Store) Neighbours(ctx context.Context, qs []store.NeighbourQuery) ([]store.Neighbours, error) {
	out := make([]store.Neighbours, len(qs))
	for i, q := range qs {
		for _, n := range []struct {
			stmt *sql.Stmt
			to   **reading.Reading
		}{{s.stmts.before, &out[i].Before}, {s.stmts.after, &out[i].After}} {
			r, ok, err := s.readingNear(ctx, q.DeviceKey, n.stmt, q.Time, q.Seq)
			if err != nil {
				return nil, err
			}
			if ok {
				*n.to = &r
			}
		}
	}
	return out, nil
}

// prepare prepares the statements of the hot paths once.
func (s *Store) prepare(ctx context.Context) error {
	var err error
	for _, p := range []struct {
		stmt **sql.Stmt
		q    string
	}{
		{&s.stmts.pointsMany, pointsInsert(pointsPerInsert)},
		{&s.stmts.pointsOne, pointsInsert(1)},
		{&s.stmts.before, `SELECT doc FROM readings WHERE device_id = ? AND (time, msg_count) < (?, ?) ORDER BY time DESC, msg_count DESC LIMIT 1`},
		{&s.stmts.after, `SELECT doc FROM readings WHERE device_id = ? AND (time, msg_count) > (?, ?) ORDER BY time, msg_count LIMIT 1`},
	} {
		if *p.stmt, err = s.db.PrepareContext(ctx, p.q); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) readingNear(ctx context.Context, k store.DeviceKey, stmt *sql.Stmt, t time.Time, seq int64) (reading.Reading, bool, error) {
	var r reading.Reading
	id, err := s.lookupDevice(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	var doc string
	err = stmt.QueryRowContext(ctx, id, t.UnixMilli(), seq).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return r, false, fmt.Errorf("store: decode reading: %w", err)
	}
	return r, true, nil
}

// Latest returns the newest reading of a device.
func (s *Store) Latest(ctx context.Context, k store.DeviceKey) (reading.Reading, error) {
	r, ok, err := s.readingNear(ctx, k, s.stmts.before, time.UnixMilli(math.MaxInt64), math.MaxInt64)
	if err == nil && !ok {
		err = store.ErrNotFound
	}
	return r, err
}

// Points returns one field's values in [From, To).
func (s *Store) Points(ctx context.Context, q store.RawQuery) ([]store.Point, string, error) {
	id, fid, unit, err := s.lookupField(ctx, q.DeviceKey, q.Field)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT time, value FROM points
		WHERE device_id = ? AND field_id = ? AND time >= ? AND time < ? ORDER BY time, msg_count`,
		id, fid, q.From.UnixMilli(), q.To.UnixMilli())
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	pts := []store.Point{}
	for rows.Next() {
		var t int64
		var v float64
		if err := rows.Scan(&t, &v); err != nil {
			return nil, "", err
		}
		pts = append(pts, store.Point{Time: time.UnixMilli(t).UTC(), Value: v})
	}
	return pts, unit, rows.Err()
}

// PointBefore returns the newest value of field before t.
func (s *Store) PointBefore(ctx context.Context, k store.DeviceKey, field string, t time.Time) (store.Point, bool, error) {
	id, err := s.lookupDevice(ctx, k)
	if err != nil {
		return store.Point{}, false, err
	}
	var ms int64
	var v float64
	err = s.db.QueryRowContext(ctx, `SELECT p.time, p.value FROM points p JOIN fields f ON f.id = p.field_id
		WHERE p.device_id = ? AND f.name = ? AND p.time < ? ORDER BY p.time DESC, p.msg_count DESC LIMIT 1`,
		id, field, t.UnixMilli()).Scan(&ms, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Point{}, false, nil
	}
	if err != nil {
		return store.Point{}, false, err
	}
	return store.Point{Time: time.UnixMilli(ms).UTC(), Value: v}, true, nil
}

func rejectedWhere(f store.RejectedFilter) (string, []any) {
	return where(store.RejectedConds(f, "instr(reason, ?) > 0"))
}

func where(c store.Conds) (string, []any) {
	if len(c.Where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(c.Where, " AND "), c.Args
}

// Rejected lists rejected messages, newest first.
func (s *Store) Rejected(ctx context.Context, f store.RejectedFilter) ([]reading.Rejected, error) {
	where, args := rejectedWhere(f)
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, received, topic, source, customer, reason, payload, binding FROM rejected`+
		where+` ORDER BY id DESC LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []reading.Rejected{}
	for rows.Next() {
		var r reading.Rejected
		var ns int64
		if err := rows.Scan(&r.ID, &ns, &r.Topic, &r.Source, &r.Customer, &r.Reason, &r.Payload, &r.Binding); err != nil {
			return nil, err
		}
		r.Received = time.Unix(0, ns).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountRejected counts rejected messages.
func (s *Store) CountRejected(ctx context.Context, f store.RejectedFilter) (int64, error) {
	where, args := rejectedWhere(f)
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM rejected`+where, args...).Scan(&n)
	return n, err
}
