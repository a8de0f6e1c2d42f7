// Package postgres is the store on a PostgreSQL server (pgx), for
// installations that outgrow one SQLite file or run several ingestors.
// Readings and their values are partitioned by month of device time; values
// are written with COPY; per-minute, hour and day aggregates are kept as data
// arrives, as the SQLite store does. Several processes may write at once.
package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// schema is applied in order at start-up; schema_version records how far
// the database got. Append, never edit: a released step has run somewhere.
var schema = []string{
	`CREATE TABLE devices (
		id        BIGSERIAL PRIMARY KEY,
		customer  TEXT NOT NULL,
		sensor    TEXT NOT NULL,
		device    TEXT NOT NULL,
		name      TEXT NOT NULL DEFAULT '',
		gateway   TEXT NOT NULL DEFAULT '',
		last_seen BIGINT NOT NULL DEFAULT 0, -- Unix ms
		last_time BIGINT NOT NULL DEFAULT 0, -- Unix ms
		readings  BIGINT NOT NULL DEFAULT 0,
		msg_count BIGINT NOT NULL DEFAULT -1,
		lost      BIGINT NOT NULL DEFAULT 0,
		rssi      DOUBLE PRECISION,
		snr       DOUBLE PRECISION,
		UNIQUE (customer, sensor, device)
	);
	CREATE TABLE fields (
		id   BIGSERIAL PRIMARY KEY,
		name TEXT NOT NULL UNIQUE
	);
	CREATE TABLE device_fields (
		device_id BIGINT NOT NULL REFERENCES devices (id),
		field_id  BIGINT NOT NULL REFERENCES fields (id),
		unit      TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (device_id, field_id)
	);
	-- One partition per month of device time, created as data arrives.
	CREATE TABLE readings (
		device_id BIGINT NOT NULL,
		time      TIMESTAMPTZ NOT NULL,
		msg_count BIGINT NOT NULL,
		received  TIMESTAMPTZ NOT NULL,
		doc       JSONB NOT NULL,
		PRIMARY KEY (device_id, time, msg_count)
	) PARTITION BY RANGE (time);
	CREATE TABLE points (
		device_id BIGINT NOT NULL,
		field_id  BIGINT NOT NULL,
		time      TIMESTAMPTZ NOT NULL,
		msg_count BIGINT NOT NULL,
		value     DOUBLE PRECISION NOT NULL,
		PRIMARY KEY (device_id, field_id, time, msg_count)
	) PARTITION BY RANGE (time);
	CREATE TABLE rollups (
		device_id BIGINT NOT NULL,
		field_id  BIGINT NOT NULL,
		res       SMALLINT NOT NULL, -- 0 minute, 1 hour, 2 day
		bucket    TIMESTAMPTZ NOT NULL,
		n         BIGINT NOT NULL,
		sum       DOUBLE PRECISION NOT NULL,
		min       DOUBLE PRECISION NOT NULL,
		max       DOUBLE PRECISION NOT NULL,
		first_t   TIMESTAMPTZ NOT NULL,
		first     DOUBLE PRECISION NOT NULL,
		last_t    TIMESTAMPTZ NOT NULL,
		last      DOUBLE PRECISION NOT NULL,
		PRIMARY KEY (device_id, field_id, res, bucket)
	);
	CREATE TABLE rejected (
		id       BIGSERIAL PRIMARY KEY,
		received BIGINT NOT NULL, -- Unix ns: a replay must see the same message
		topic    TEXT NOT NULL,
		source   TEXT NOT NULL,
		customer TEXT NOT NULL DEFAULT '',
		reason   TEXT NOT NULL,
		payload  BYTEA NOT NULL,
		digest   BYTEA NOT NULL UNIQUE -- the same message delivered again is kept once
	);
	CREATE INDEX rejected_received ON rejected (received);
	CREATE TABLE alert_states (
		rule     TEXT NOT NULL,
		customer TEXT NOT NULL,
		sensor   TEXT NOT NULL,
		device   TEXT NOT NULL,
		machine  JSON NOT NULL, -- kept as written
		alert_id BIGINT NOT NULL DEFAULT 0,
		PRIMARY KEY (rule, customer, sensor, device)
	);
	CREATE TABLE alerts (
		id          BIGSERIAL PRIMARY KEY,
		rule        TEXT NOT NULL,
		customer    TEXT NOT NULL,
		sensor      TEXT NOT NULL,
		device      TEXT NOT NULL,
		name        TEXT NOT NULL DEFAULT '',
		severity    TEXT NOT NULL,
		state       TEXT NOT NULL,
		started     BIGINT NOT NULL, -- Unix ns
		resolved    BIGINT,
		message     TEXT NOT NULL,
		vals        JSONB NOT NULL DEFAULT '{}',
		acked_by    TEXT NOT NULL DEFAULT '',
		acked_at    BIGINT,
		ack_comment TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX alerts_state ON alerts (state, id);
	CREATE TABLE notifications (
		id       BIGSERIAL PRIMARY KEY,
		alert_id BIGINT NOT NULL REFERENCES alerts (id),
		kind     TEXT NOT NULL,
		notifier TEXT NOT NULL,
		event    JSON NOT NULL,
		status   TEXT NOT NULL,
		attempts INT NOT NULL DEFAULT 0,
		error    TEXT NOT NULL DEFAULT '',
		created  BIGINT NOT NULL,
		done     BIGINT
	);
	CREATE INDEX notifications_alert ON notifications (alert_id);
	CREATE INDEX notifications_pending ON notifications (notifier, id) WHERE status = 'pending';`,
	// Web sessions, as the session library (scs pgxstore) keeps them: shared
	// by every web process.
	`CREATE TABLE sessions (
		token  TEXT PRIMARY KEY,
		data   BYTEA NOT NULL,
		expiry TIMESTAMPTZ NOT NULL
	);
	CREATE INDEX sessions_expiry_idx ON sessions (expiry);`,
	// The customer a rejected message's sender was bound to (its MQTT login's
	// or ingest token's): a replay is held to it again. Of the messages
	// kept before, those refused for naming another customer were bound to
	// the one they were kept under.
	`ALTER TABLE rejected ADD COLUMN binding TEXT NOT NULL DEFAULT '';
	UPDATE rejected SET binding = customer WHERE reason LIKE 'customer % refused: this sender may only send for %';`,
}

// migrationLock is the advisory lock that keeps two processes starting at
// once from migrating together.
const migrationLock = 0x5e5011b

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	loc  *time.Location
	log  *slog.Logger

	mu      sync.Mutex
	devices map[store.DeviceKey]int64
	fields  map[string]int64
	units   map[unitKey]string
	// months holds the partitions known to exist, by first day.
	months map[time.Time]bool
}

type unitKey struct{ device, field int64 }

// Open connects to the database at url (postgres://user:pass@host/db?...)
// and brings its schema up to date. Day aggregates start at midnight in loc.
func Open(ctx context.Context, url string, loc *time.Location, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: postgres url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres at %s: %w", cfg.ConnConfig.Host, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, loc: loc, log: log, devices: map[store.DeviceKey]int64{}, fields: map[string]int64{},
		units: map[unitKey]string{}, months: map[time.Time]bool{}}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL)`); err != nil {
		return err
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return err
	}
	if v > len(schema) {
		return fmt.Errorf("schema version %d is newer than this sensorhub knows (%d): upgrade sensorhub", v, len(schema))
	}
	for i := v; i < len(schema); i++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, schema[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, i+1)
			return err
		})
		if err != nil {
			return err
		}
		s.log.Info("store: schema migrated", "version", i+1)
	}
	return nil
}

// Close closes the connections.
func (s *Store) Close() error { s.pool.Close(); return nil }

// Pool is the connection pool, for the web sessions kept in the database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Write stores the batch in one transaction. The ids of new devices and
// fields, and the month partitions, are created before it in their own
// short transactions, so that concurrent writers do not wait on each other
// for them; an id without readings is harmless.
func (s *Store) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	res, err := s.write(ctx, b)
	return res, classify(err)
}

func (s *Store) write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	var res store.WriteResult
	if err := s.ensure(ctx, b.Readings, b.Rederived); err != nil {
		return res, err
	}
	// Readings are inserted in key order, so that two writers of
	// overlapping batches take the same locks in the same order.
	rs := slices.Clone(b.Readings)
	slices.SortStableFunc(rs, func(a, b reading.Reading) int {
		return cmp.Or(cmp.Compare(a.Customer, b.Customer), cmp.Compare(a.Sensor, b.Sensor), cmp.Compare(a.Device, b.Device),
			a.Time.Compare(b.Time), cmp.Compare(a.Seq(), b.Seq()))
	})
	newUnits := map[unitKey]string{}
	err := retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			res = store.WriteResult{}
			clear(newUnits)
			if err := s.writeReadings(ctx, tx, rs, &res, newUnits); err != nil {
				return err
			}
			if err := s.writeRejected(ctx, tx, b.Rejected, &res); err != nil {
				return err
			}
			for i := range b.Rederived {
				if err := s.rederive(ctx, tx, &b.Rederived[i]); err != nil {
					return err
				}
			}
			if len(b.Resolved) > 0 {
				if _, err := tx.Exec(ctx, `DELETE FROM rejected WHERE id = ANY($1)`, b.Resolved); err != nil {
					return fmt.Errorf("store: resolve rejected: %w", err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return store.WriteResult{}, err
	}
	s.mu.Lock()
	for k, v := range newUnits {
		if v != "" || s.units[k] == "" {
			s.units[k] = v
		}
	}
	s.mu.Unlock()
	return res, nil
}

// retry runs a transaction again when the server aborted it to break a
// deadlock or a serialization conflict with another writer.
func retry(ctx context.Context, tx func() error) error {
	var err error
	for attempt := range 5 {
		if err = tx(); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
	return err
}

type readingKey struct {
	device   int64
	time     int64
	msgCount int64
}

func (s *Store) writeReadings(ctx context.Context, tx pgx.Tx, rs []reading.Reading, res *store.WriteResult, newUnits map[unitKey]string) error {
	if len(rs) == 0 {
		return nil
	}
	devs := make([]int64, len(rs))
	times := make([]time.Time, len(rs))
	counts := make([]int64, len(rs))
	received := make([]time.Time, len(rs))
	docs := make([]string, len(rs))
	for i := range rs {
		r := &rs[i]
		devs[i] = s.deviceIDOf(r)
		times[i], counts[i], received[i] = r.Time.Truncate(time.Millisecond), r.Seq(), r.Received
		doc, err := json.Marshal(r)
		if err != nil {
			return err
		}
		docs[i] = string(doc)
	}
	rows, err := tx.Query(ctx, `INSERT INTO readings (device_id, time, msg_count, received, doc)
		SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::timestamptz[], $5::jsonb[])
		ON CONFLICT DO NOTHING RETURNING device_id, time, msg_count`, devs, times, counts, received, docs)
	if err != nil {
		return fmt.Errorf("store: readings: %w", err)
	}
	inserted := map[readingKey]bool{}
	var k readingKey
	var t time.Time
	_, err = pgx.ForEachRow(rows, []any{&k.device, &t, &k.msgCount}, func() error {
		k.time = t.UnixMilli()
		inserted[k] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: readings: %w", err)
	}
	// A reading is new when the insert returned its key, and only its first
	// copy in the batch is.
	var pts []store.StoredPoint
	var copyRows [][]any
	fresh := map[int64][]*reading.Reading{}
	var unitDev, unitField []int64
	var unitName []string
	for i := range rs {
		r := &rs[i]
		k := readingKey{devs[i], times[i].UnixMilli(), r.Seq()}
		if !inserted[k] {
			res.Duplicates++
			continue
		}
		delete(inserted, k)
		res.Stored++
		for name, v := range r.Fields {
			fid := s.fieldIDOf(name)
			pts = append(pts, store.StoredPoint{Device: devs[i], Field: fid, Time: k.time, Seq: r.Seq(), Value: v})
			copyRows = append(copyRows, []any{devs[i], fid, times[i], r.Seq(), v})
			uk := unitKey{devs[i], fid}
			s.mu.Lock()
			u, known := s.units[uk]
			s.mu.Unlock()
			if nu, seen := newUnits[uk]; seen {
				u, known = nu, true
			}
			if !known || (u != r.Units[name] && r.Units[name] != "") {
				unitDev, unitField, unitName = append(unitDev, devs[i]), append(unitField, fid), append(unitName, r.Units[name])
				newUnits[uk] = r.Units[name]
			}
		}
		fresh[devs[i]] = append(fresh[devs[i]], r)
	}
	// New readings' values cannot be stored yet: COPY them.
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"points"}, []string{"device_id", "field_id", "time", "msg_count", "value"},
		pgx.CopyFromRows(copyRows)); err != nil {
		return fmt.Errorf("store: points: %w", err)
	}
	if len(unitDev) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO device_fields (device_id, field_id, unit)
			SELECT DISTINCT ON (d, f) d, f, u FROM unnest($1::bigint[], $2::bigint[], $3::text[]) WITH ORDINALITY AS x(d, f, u, o)
			ORDER BY d, f, o DESC
			ON CONFLICT (device_id, field_id) DO UPDATE SET unit = excluded.unit
			WHERE excluded.unit != '' AND excluded.unit != device_fields.unit`, unitDev, unitField, unitName); err != nil {
			return fmt.Errorf("store: units: %w", err)
		}
	}
	if err := s.addRollups(ctx, tx, pts); err != nil {
		return err
	}
	return s.updateDevices(ctx, tx, fresh)
}

// updateDevices folds new readings into their devices' rows, locked in id
// order so that concurrent writers cannot deadlock on them.
func (s *Store) updateDevices(ctx context.Context, tx pgx.Tx, fresh map[int64][]*reading.Reading) error {
	if len(fresh) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(fresh))
	for id := range fresh {
		ids = append(ids, id)
	}
	rows, err := tx.Query(ctx, `SELECT id, last_seen, last_time, msg_count, lost, name, gateway, rssi, snr
		FROM devices WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return fmt.Errorf("store: devices: %w", err)
	}
	rowsByID := map[int64]*store.DeviceRow{}
	var id int64
	var d store.DeviceRow
	_, err = pgx.ForEachRow(rows, []any{&id, &d.LastSeen, &d.LastTime, &d.MsgCount, &d.Lost, &d.Name, &d.Gateway, &d.RSSI, &d.SNR}, func() error {
		row := d
		rowsByID[id] = &row
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: devices: %w", err)
	}
	batch := &pgx.Batch{}
	for id, rs := range fresh {
		d := rowsByID[id]
		if d == nil {
			return fmt.Errorf("store: device %d is missing", id)
		}
		d.Fold(rs)
		batch.Queue(`UPDATE devices SET readings = readings + $1, last_seen = $2, last_time = $3, msg_count = $4, lost = $5,
			name = $6, gateway = $7, rssi = $8, snr = $9 WHERE id = $10`,
			len(rs), d.LastSeen, d.LastTime, d.MsgCount, d.Lost, d.Name, d.Gateway, d.RSSI, d.SNR, id)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("store: devices: %w", err)
	}
	return nil
}

// addRollups merges the new points into the kept aggregates, in key order.
func (s *Store) addRollups(ctx context.Context, tx pgx.Tx, pts []store.StoredPoint) error {
	aggs := store.FoldRollups(pts, s.loc)
	if len(aggs) == 0 {
		return nil
	}
	n := len(aggs)
	dev, fid, res, cnt := make([]int64, n), make([]int64, n), make([]int16, n), make([]int64, n)
	bucket, firstT, lastT := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	sum, mn, mx, first, last := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, a := range aggs {
		dev[i], fid[i], res[i], cnt[i] = a.Device, a.Field, int16(a.Res), a.N
		bucket[i], firstT[i], lastT[i] = time.UnixMilli(a.Bucket), time.UnixMilli(a.FirstT), time.UnixMilli(a.LastT)
		sum[i], mn[i], mx[i], first[i], last[i] = a.Sum, a.Min, a.Max, a.First, a.Last
	}
	_, err := tx.Exec(ctx, `INSERT INTO rollups AS r (device_id, field_id, res, bucket, n, sum, min, max, first_t, first, last_t, last)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::timestamptz[], $5::bigint[], $6::float8[],
			$7::float8[], $8::float8[], $9::timestamptz[], $10::float8[], $11::timestamptz[], $12::float8[])
		ON CONFLICT (device_id, field_id, res, bucket) DO UPDATE SET
			n = r.n + excluded.n,
			sum = r.sum + excluded.sum,
			min = LEAST(r.min, excluded.min),
			max = GREATEST(r.max, excluded.max),
			first = CASE WHEN excluded.first_t < r.first_t THEN excluded.first ELSE r.first END,
			first_t = LEAST(r.first_t, excluded.first_t),
			last = CASE WHEN excluded.last_t >= r.last_t THEN excluded.last ELSE r.last END,
			last_t = GREATEST(r.last_t, excluded.last_t)`,
		dev, fid, res, bucket, cnt, sum, mn, mx, firstT, first, lastT, last)
	if err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	return nil
}

func (s *Store) writeRejected(ctx context.Context, tx pgx.Tx, rjs []reading.Rejected, res *store.WriteResult) error {
	if len(rjs) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, rj := range rjs {
		// A message rejected again (a replay) keeps its row, with the new
		// reason.
		batch.Queue(`INSERT INTO rejected AS r (received, topic, source, customer, reason, payload, digest, binding)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (digest) DO UPDATE SET reason = excluded.reason WHERE r.reason != excluded.reason`,
			rj.Received.UnixNano(), rj.Topic, rj.Source, rj.Customer, rj.Reason, rj.Payload, rj.Digest(), rj.Binding).
			Exec(func(ct pgconn.CommandTag) error {
				res.Rejected += int(ct.RowsAffected())
				return nil
			})
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("store: rejected message: %w", err)
	}
	return nil
}

// rederive replaces the fields of a stored reading, its points, and the
// aggregates of the buckets that hold it, rebuilt from the points.
func (s *Store) rederive(ctx context.Context, tx pgx.Tx, r *reading.Reading) error {
	dev := s.deviceIDOf(r)
	doc, err := json.Marshal(r)
	if err != nil {
		return err
	}
	t := r.Time.Truncate(time.Millisecond)
	if _, err := tx.Exec(ctx, `UPDATE readings SET doc = $1 WHERE device_id = $2 AND time = $3 AND msg_count = $4`, doc, dev, t, r.Seq()); err != nil {
		return fmt.Errorf("store: rederive %s: %w", r.Key(), err)
	}
	for name, v := range r.Fields {
		fid := s.fieldIDOf(name)
		ct, err := tx.Exec(ctx, `INSERT INTO points AS p (device_id, field_id, time, msg_count, value) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (device_id, field_id, time, msg_count) DO UPDATE SET value = excluded.value WHERE p.value != excluded.value`,
			dev, fid, t, r.Seq(), v)
		if err != nil {
			return fmt.Errorf("store: rederive %s: %w", r.Key(), err)
		}
		if ct.RowsAffected() == 0 {
			continue // unchanged
		}
		if _, err := tx.Exec(ctx, `INSERT INTO device_fields (device_id, field_id, unit) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			dev, fid, r.Units[name]); err != nil {
			return err
		}
		for _, res := range store.Resolutions {
			start := store.BucketStart(r.Time, res, s.loc)
			end := store.NextBucket(start, res, s.loc)
			if _, err := tx.Exec(ctx, `INSERT INTO rollups AS r (device_id, field_id, res, bucket, n, sum, min, max, first_t, first, last_t, last)
				SELECT $1, $2, $3, $4, COUNT(*), SUM(value), MIN(value), MAX(value),
					MIN(time), (array_agg(value ORDER BY time, msg_count))[1],
					MAX(time), (array_agg(value ORDER BY time DESC, msg_count DESC))[1]
				FROM points WHERE device_id = $1 AND field_id = $2 AND time >= $4 AND time < $5
				ON CONFLICT (device_id, field_id, res, bucket) DO UPDATE SET n = excluded.n, sum = excluded.sum,
					min = excluded.min, max = excluded.max, first_t = excluded.first_t, first = excluded.first,
					last_t = excluded.last_t, last = excluded.last`,
				dev, fid, int16(res), start, end); err != nil {
				return fmt.Errorf("store: rebuild aggregates of %s: %w", r.Key(), err)
			}
		}
	}
	return nil
}

// ensure creates what a batch's readings need before it is written: the
// month partitions of their times, and the ids of their devices and fields.
func (s *Store) ensure(ctx context.Context, batches ...[]reading.Reading) error {
	var months []time.Time
	var devs []store.DeviceKey
	var fields []string
	seenDev := map[store.DeviceKey]bool{}
	seenField := map[string]bool{}
	seenMonth := map[time.Time]bool{}
	s.mu.Lock()
	for _, rs := range batches {
		for i := range rs {
			r := &rs[i]
			m := monthOf(r.Time)
			if !s.months[m] && !seenMonth[m] {
				seenMonth[m] = true
				months = append(months, m)
			}
			k := store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}
			if _, ok := s.devices[k]; !ok && !seenDev[k] {
				seenDev[k] = true
				devs = append(devs, k)
			}
			for name := range r.Fields {
				if _, ok := s.fields[name]; !ok && !seenField[name] {
					seenField[name] = true
					fields = append(fields, name)
				}
			}
		}
	}
	s.mu.Unlock()
	for _, m := range months {
		if err := s.createPartitions(ctx, m); err != nil {
			return err
		}
	}
	for _, k := range devs {
		id, err := s.upsertID(ctx, `WITH ins AS (INSERT INTO devices (customer, sensor, device) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING RETURNING id)
			SELECT id FROM ins UNION ALL SELECT id FROM devices WHERE customer = $1 AND sensor = $2 AND device = $3`,
			k.Customer, k.Sensor, k.Device)
		if err != nil {
			return fmt.Errorf("store: device %s/%s/%s: %w", k.Customer, k.Sensor, k.Device, err)
		}
		s.mu.Lock()
		s.devices[k] = id
		s.mu.Unlock()
	}
	for _, name := range fields {
		id, err := s.upsertID(ctx, `WITH ins AS (INSERT INTO fields (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id)
			SELECT id FROM ins UNION ALL SELECT id FROM fields WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("store: field %s: %w", name, err)
		}
		s.mu.Lock()
		s.fields[name] = id
		s.mu.Unlock()
	}
	return nil
}

// upsertID runs an insert-or-select that returns one id. Of two writers
// inserting the same key, the one that waited sees neither its insert nor
// (in its snapshot) the other's row: it tries again.
func (s *Store) upsertID(ctx context.Context, q string, args ...any) (int64, error) {
	for range 3 {
		var id int64
		err := s.pool.QueryRow(ctx, q, args...).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		return id, err
	}
	return 0, errors.New("no id after three tries")
}

func (s *Store) deviceIDOf(r *reading.Reading) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.devices[store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}]
}

func (s *Store) fieldIDOf(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fields[name]
}

func monthOf(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// createPartitions creates the readings and points partitions of the
// month starting at m, under an advisory lock: two writers creating the
// same table at once would otherwise collide in the catalog.
func (s *Store) createPartitions(ctx context.Context, m time.Time) error {
	next := m.AddDate(0, 1, 0)
	suffix := m.Format("y2006m01")
	h := fnv.New32a()
	h.Write([]byte(suffix))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum32())); err != nil {
			return err
		}
		for _, table := range []string{"readings", "points"} {
			q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
				pgx.Identifier{table + "_" + suffix}.Sanitize(), table, m.Format(time.RFC3339), next.Format(time.RFC3339))
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: partition %s: %w", suffix, err)
	}
	s.mu.Lock()
	s.months[m] = true
	s.mu.Unlock()
	return nil
}

// lookupDevice finds a device's id without creating it.
func (s *Store) lookupDevice(ctx context.Context, k store.DeviceKey) (int64, error) {
	s.mu.Lock()
	id, ok := s.devices[k]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	err := s.pool.QueryRow(ctx, `SELECT id FROM devices WHERE customer = $1 AND sensor = $2 AND device = $3`,
		k.Customer, k.Sensor, k.Device).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, store.ErrNotFound
	}
	return id, err
}

// lookupField finds a device's field: the ids that key its points, and its
// unit; ErrNotFound when the device never sent it.
func (s *Store) lookupField(ctx context.Context, k store.DeviceKey, field string) (dev, fid int64, unit string, err error) {
	if dev, err = s.lookupDevice(ctx, k); err != nil {
		return 0, 0, "", err
	}
	err = s.pool.QueryRow(ctx, `SELECT df.field_id, df.unit FROM device_fields df JOIN fields f ON f.id = df.field_id
		WHERE df.device_id = $1 AND f.name = $2`, dev, field).Scan(&fid, &unit)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, "", store.ErrNotFound
	}
	return dev, fid, unit, err
}

// Devices lists devices.
func (s *Store) Devices(ctx context.Context, f store.DeviceFilter) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT customer, sensor, device, name, gateway, last_seen, last_time,
			readings, msg_count, lost, rssi, snr
		FROM devices
		WHERE ($1 = '' OR customer = $1) AND ($2 = '' OR sensor = $2) AND readings > 0
		ORDER BY customer, sensor, device`, f.Customer, f.Sensor)
	if err != nil {
		return nil, err
	}
	out := []store.Device{}
	var d store.Device
	var seen, last int64
	_, err = pgx.ForEachRow(rows, []any{&d.Customer, &d.Sensor, &d.Device, &d.Name, &d.Gateway, &seen, &last,
		&d.Readings, &d.MsgCount, &d.Lost, &d.RSSI, &d.SNR}, func() error {
		d.LastSeen = time.UnixMilli(seen).UTC()
		d.LastTime = time.UnixMilli(last).UTC()
		d.Expected = d.Lost + d.Readings
		d.LossRatio = 0
		if d.Expected > 0 {
			d.LossRatio = float64(d.Lost) / float64(d.Expected)
		}
		out = append(out, d)
		d.RSSI, d.SNR = nil, nil
		return nil
	})
	return out, err
}

func (s *Store) readingNear(ctx context.Context, k store.DeviceKey, q string, t time.Time) (reading.Reading, bool, error) {
	var r reading.Reading
	id, err := s.lookupDevice(ctx, k)
	if errors.Is(err, store.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	var doc []byte
	err = s.pool.QueryRow(ctx, q, id, t).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, false, fmt.Errorf("store: decode reading: %w", err)
	}
	return r, true, nil
}

// Latest returns the newest reading of a device.
func (s *Store) Latest(ctx context.Context, k store.DeviceKey) (reading.Reading, error) {
	r, ok, err := s.readingNear(ctx, k, `SELECT doc FROM readings WHERE device_id = $1 AND time < $2 ORDER BY time DESC, msg_count DESC LIMIT 1`,
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
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
	rows, err := s.pool.Query(ctx, `SELECT time, value FROM points
		WHERE device_id = $1 AND field_id = $2 AND time >= $3 AND time < $4 ORDER BY time, msg_count`,
		id, fid, q.From, q.To)
	if err != nil {
		return nil, "", err
	}
	pts := []store.Point{}
	var p store.Point
	_, err = pgx.ForEachRow(rows, []any{&p.Time, &p.Value}, func() error {
		pts = append(pts, store.Point{Time: p.Time.UTC(), Value: p.Value})
		return nil
	})
	return pts, unit, err
}

// PointBefore returns the newest value of field before t.
func (s *Store) PointBefore(ctx context.Context, k store.DeviceKey, field string, t time.Time) (store.Point, bool, error) {
	id, err := s.lookupDevice(ctx, k)
	if err != nil {
		return store.Point{}, false, err
	}
	var p store.Point
	err = s.pool.QueryRow(ctx, `SELECT p.time, p.value FROM points p JOIN fields f ON f.id = p.field_id
		WHERE p.device_id = $1 AND f.name = $2 AND p.time < $3 ORDER BY p.time DESC, p.msg_count DESC LIMIT 1`,
		id, field, t).Scan(&p.Time, &p.Value)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Point{}, false, nil
	}
	p.Time = p.Time.UTC()
	return p, err == nil, err
}

// Rollups returns the kept aggregates of one field at res.
func (s *Store) Rollups(ctx context.Context, q store.RawQuery, res store.Resolution) ([]store.Bucket, error) {
	id, fid, _, err := s.lookupField(ctx, q.DeviceKey, q.Field)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT bucket, n, sum, min, max, first, last FROM rollups
		WHERE device_id = $1 AND field_id = $2 AND res = $3 AND bucket >= $4 AND bucket < $5 ORDER BY bucket`,
		id, fid, int16(res), q.From, q.To)
	if err != nil {
		return nil, err
	}
	var out []store.Bucket
	var b store.Bucket
	_, err = pgx.ForEachRow(rows, []any{&b.Start, &b.N, &b.Sum, &b.Min, &b.Max, &b.First, &b.Last}, func() error {
		b.Start = b.Start.UTC()
		out = append(out, b)
		return nil
	})
	return out, err
}

// where joins conditions written with ? into a WHERE clause with numbered
// placeholders.
func where(c store.Conds) (string, []any) {
	if len(c.Where) == 0 {
		return "", nil
	}
	var b strings.Builder
	b.WriteString(" WHERE ")
	n := 0
	for i, cond := range c.Where {
		if i > 0 {
			b.WriteString(" AND ")
		}
		for _, r := range cond {
			if r == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String(), c.Args
}

func rejectedWhere(f store.RejectedFilter) (string, []any) {
	return where(store.RejectedConds(f, "strpos(reason, ?) > 0"))
}

// Rejected lists rejected messages, newest first.
func (s *Store) Rejected(ctx context.Context, f store.RejectedFilter) ([]reading.Rejected, error) {
	w, args := rejectedWhere(f)
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT id, received, topic, source, customer, reason, payload, binding FROM rejected`+
		w+` ORDER BY id DESC LIMIT `+fmt.Sprint(limit), args...)
	if err != nil {
		return nil, err
	}
	out := []reading.Rejected{}
	var r reading.Rejected
	var ns int64
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &ns, &r.Topic, &r.Source, &r.Customer, &r.Reason, &r.Payload, &r.Binding}, func() error {
		r.Received = time.Unix(0, ns).UTC()
		out = append(out, r)
		r.Payload = nil
		return nil
	})
	return out, err
}

// CountRejected counts rejected messages.
func (s *Store) CountRejected(ctx context.Context, f store.RejectedFilter) (int64, error) {
	w, args := rejectedWhere(f)
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM rejected`+w, args...).Scan(&n)
	return n, err
}

// Neighbours finds the stored readings around each query's position, all
// in one query.
func (s *Store) Neighbours(ctx context.Context, qs []store.NeighbourQuery) ([]store.Neighbours, error) {
	out := make([]store.Neighbours, len(qs))
	devs := make([]int64, 0, len(qs))
	times := make([]time.Time, 0, len(qs))
	seqs := make([]int64, 0, len(qs))
	pos := make([]int, 0, len(qs))
	for i, q := range qs {
		id, err := s.lookupDevice(ctx, q.DeviceKey)
		if errors.Is(err, store.ErrNotFound) {
			continue // a new device has no neighbours
		}
		if err != nil {
			return nil, err
		}
		devs, times, seqs, pos = append(devs, id), append(times, q.Time), append(seqs, q.Seq), append(pos, i)
	}
	if len(devs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT x.i, b.doc, a.doc
		FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[]) WITH ORDINALITY AS x(d, t, s, i)
		LEFT JOIN LATERAL (SELECT doc FROM readings WHERE device_id = x.d AND (time, msg_count) < (x.t, x.s) ORDER BY time DESC, msg_count DESC LIMIT 1) b ON true
		LEFT JOIN LATERAL (SELECT doc FROM readings WHERE device_id = x.d AND (time, msg_count) > (x.t, x.s) ORDER BY time, msg_count LIMIT 1) a ON true`,
		devs, times, seqs)
	if err != nil {
		return nil, fmt.Errorf("store: neighbours: %w", err)
	}
	var i int64
	var before, after []byte
	_, err = pgx.ForEachRow(rows, []any{&i, &before, &after}, func() error {
		n := &out[pos[i-1]]
		for _, d := range []struct {
			doc []byte
			to  **reading.Reading
		}{{before, &n.Before}, {after, &n.After}} {
			if d.doc == nil {
				continue
			}
			var r reading.Reading
			if err := json.Unmarshal(d.doc, &r); err != nil {
				return fmt.Errorf("store: decode reading: %w", err)
			}
			*d.to = &r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: neighbours: %w", err)
	}
	return out, nil
}
