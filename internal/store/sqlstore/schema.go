package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The schema's versions. The row layout of earlier releases (a JSON
// document per reading, a row per value, aggregates upserted per value)
// stopped at legacySQLite or legacyPostgres; a database written by them
// is converted to chunks at start-up.
const (
	versionConverting = 90  // chunk tables made, readings being converted
	versionChunks     = 100 // readings in chunks
	versionRetention  = 110 // aggregates of the days retention removed
	versionReports    = 120 // the outbox of scheduled reports
	versionTrust      = 130 // leases, invalid intervals, rolled-up message keys, the installation
	versionCatalog    = 140 // the catalog and its audit log: this release
)

// SchemaVersion is the schema version of this release.
const SchemaVersion = versionCatalog

// schema is the whole schema of this release, written once for both
// engines.
const schema = `
CREATE TABLE devices (
	id        {{SERIAL}},
	customer  TEXT NOT NULL,
	sensor    TEXT NOT NULL,
	device    TEXT NOT NULL,
	name      TEXT NOT NULL DEFAULT '',
	gateway   TEXT NOT NULL DEFAULT '',
	last_seen {{INT}} NOT NULL DEFAULT 0,
	last_time {{INT}} NOT NULL DEFAULT 0,
	readings  {{INT}} NOT NULL DEFAULT 0,
	msg_count {{INT}} NOT NULL DEFAULT -1,
	lost      {{INT}} NOT NULL DEFAULT 0,
	rssi      {{REAL}},
	snr       {{REAL}},
	UNIQUE (customer, sensor, device)
);
CREATE TABLE fields (
	id   {{SERIAL}},
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE device_fields (
	device_id {{INT}} NOT NULL,
	field_id  {{INT}} NOT NULL,
	unit      TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (device_id, field_id)
){{WITHOUT_ROWID}};
CREATE TABLE rejected (
	id       {{SERIAL}},
	received {{INT}} NOT NULL, -- Unix nanoseconds: a replay must see the same message
	topic    TEXT NOT NULL,
	source   TEXT NOT NULL,
	customer TEXT NOT NULL DEFAULT '',
	reason   TEXT NOT NULL,
	payload  {{BLOB}} NOT NULL,
	digest   {{BLOB}} NOT NULL UNIQUE, -- the same message delivered again is kept once
	binding  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rejected_received ON rejected (received);
CREATE TABLE alert_states (
	rule     TEXT NOT NULL,
	customer TEXT NOT NULL,
	sensor   TEXT NOT NULL,
	device   TEXT NOT NULL,
	machine  TEXT NOT NULL,
	alert_id {{INT}} NOT NULL DEFAULT 0,
	PRIMARY KEY (rule, customer, sensor, device)
){{WITHOUT_ROWID}};
CREATE TABLE alerts (
	id          {{SERIAL}},
	rule        TEXT NOT NULL,
	customer    TEXT NOT NULL,
	sensor      TEXT NOT NULL,
	device      TEXT NOT NULL,
	name        TEXT NOT NULL DEFAULT '',
	severity    TEXT NOT NULL,
	state       TEXT NOT NULL,
	started     {{INT}} NOT NULL,
	resolved    {{INT}},
	message     TEXT NOT NULL,
	vals        TEXT NOT NULL DEFAULT '{}',
	acked_by    TEXT NOT NULL DEFAULT '',
	acked_at    {{INT}},
	ack_comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alerts_state ON alerts (state, id);
CREATE TABLE notifications (
	id       {{SERIAL}},
	alert_id {{INT}} NOT NULL REFERENCES alerts (id),
	kind     TEXT NOT NULL,
	notifier TEXT NOT NULL,
	event    TEXT NOT NULL,
	status   TEXT NOT NULL,
	attempts {{INT}} NOT NULL DEFAULT 0,
	error    TEXT NOT NULL DEFAULT '',
	created  {{INT}} NOT NULL,
	done     {{INT}}
);
CREATE INDEX notifications_alert ON notifications (alert_id);
CREATE INDEX notifications_pending ON notifications (notifier, id) WHERE status = 'pending';
{{SESSIONS}};
` + chunkSchema + retentionSchema + reportSchema + trustSchema + catalogSchema

// chunkSchema is what the chunk layout adds to the tables earlier
// releases had.
const chunkSchema = `
-- The newest reading's position and the reading itself, for its page and
-- the formulas of the next.
ALTER TABLE devices ADD COLUMN last_seq {{INT}} NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN latest {{BLOB}};
-- Counted up by every write of the device's readings: a store that keeps
-- some of them decoded knows whether they are still what is stored.
ALTER TABLE devices ADD COLUMN writes {{INT}} NOT NULL DEFAULT 0;
-- Readings not yet folded into chunks: a write's new readings of one
-- device and local day, as one uncompressed chunk body; a later row
-- replaces what an earlier row or a chunk holds of the same identity (a
-- reading derived again). Rows only ever append.
CREATE TABLE recent (
	id         {{SERIAL}},
	device_id  {{INT}} NOT NULL,
	day        {{INT}} NOT NULL,
	first_time {{INT}} NOT NULL,
	last_time  {{INT}} NOT NULL,
	n          {{INT}} NOT NULL,
	received   {{INT}} NOT NULL,
	data       {{BLOB}} NOT NULL
);
CREATE INDEX recent_device_time ON recent (device_id, first_time);
-- A device's readings of one local day (or part of one), as compressed
-- columns, with each field's summary of them; summary comes first, so
-- that reading it does not read the data.
CREATE TABLE chunks (
	id         {{SERIAL}},
	device_id  {{INT}} NOT NULL,
	day        {{INT}} NOT NULL,
	first_time {{INT}} NOT NULL,
	last_time  {{INT}} NOT NULL,
	n          {{INT}} NOT NULL,
	summary    {{BLOB}} NOT NULL,
	data       {{BLOB}} NOT NULL
);
CREATE INDEX chunks_device_time ON chunks (device_id, first_time);
CREATE INDEX chunks_device_day ON chunks (device_id, day);
{{TUNE}}
`

// retentionSchema is what retention adds: the aggregates of each device's
// local day whose readings it removed, and from when each resolution of a
// device's data is kept.
const retentionSchema = `
-- Each field's summary of the day (chunk.EncodeSummaries) and of each
-- of its hours (chunk.EncodeHours; NULL once the hourly aggregates are
-- past their age).
CREATE TABLE day_rollups (
	device_id {{INT}} NOT NULL,
	day       {{INT}} NOT NULL,
	summary   {{BLOB}} NOT NULL,
	hours     {{BLOB}},
	PRIMARY KEY (device_id, day)
){{WITHOUT_ROWID}};
-- Unix milliseconds before which the device's readings, hourly and daily
-- aggregates were removed; 0 when none were.
ALTER TABLE devices ADD COLUMN raw_from {{INT}} NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN hourly_from {{INT}} NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN daily_from {{INT}} NOT NULL DEFAULT 0;
`

// reportSchema is the outbox of scheduled reports: a row per report,
// period and notifier, so that each period is sent once.
const reportSchema = `
CREATE TABLE report_sends (
	name        TEXT NOT NULL,
	period_from {{INT}} NOT NULL, -- Unix milliseconds
	notifier    TEXT NOT NULL,
	status      TEXT NOT NULL,
	attempts    {{INT}} NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT '',
	created     {{INT}} NOT NULL,
	done        {{INT}},
	PRIMARY KEY (name, period_from, notifier)
);
`

// trustSchema is what this release adds, one part a concern.
const trustSchema = leaseSchema + intervalSchema + rolledSchema + installSchema

// leaseSchema holds the leases that let one process of many do a job
// (the alert stage's evaluation).
const leaseSchema = `
CREATE TABLE leases (
	name    TEXT NOT NULL PRIMARY KEY,
	holder  TEXT NOT NULL,
	expires {{INT}} NOT NULL -- Unix milliseconds, on the database's clock
);
`

// intervalSchema holds the intervals of a device's readings that an
// admin marked invalid.
const intervalSchema = `
CREATE TABLE invalid_intervals (
	id        {{SERIAL}},
	device_id {{INT}} NOT NULL,
	from_time {{INT}} NOT NULL, -- Unix milliseconds
	to_time   {{INT}} NOT NULL,
	reason    TEXT NOT NULL,
	marked_by TEXT NOT NULL,
	marked_at {{INT}} NOT NULL
);
CREATE INDEX invalid_intervals_device ON invalid_intervals (device_id, from_time);
`

// rolledSchema is what a day rolled up by retention keeps of its
// readings' identities, so that one sent again is a duplicate; and where
// each device's msgCount sequence stands, so that its losses follow the
// sequence rather than the readings' times.
const rolledSchema = `
-- When the message of msg_count was sent and when the device last
-- restarted its msgCount (store.DeviceRow), Unix milliseconds.
ALTER TABLE devices ADD COLUMN msg_time {{INT}} NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN msg_from {{INT}} NOT NULL DEFAULT 0;
UPDATE devices SET msg_time = last_time;
-- The identities (time, Seq) of a device's readings of one local day that
-- retention rolled up into day_rollups (chunk.EncodeKeys): kept as long
-- as the day's aggregates are.
CREATE TABLE rolled_keys (
	device_id  {{INT}} NOT NULL,
	day        {{INT}} NOT NULL,
	identities {{BLOB}} NOT NULL,
	PRIMARY KEY (device_id, day)
){{WITHOUT_ROWID}};
`

// installSchema names the installation a store belongs to: one row,
// made with the store (or at the upgrade to this release) and carried by
// its backups, so that a restore can tell another installation's backup.
const installSchema = `
CREATE TABLE IF NOT EXISTS installation (
	one {{INT}} NOT NULL PRIMARY KEY CHECK (one = 1),
	id  TEXT NOT NULL
);
`

// catalogSchema holds the catalog (store.Catalog): its items as JSON, the
// one version every change raises, and the audit log of the changes.
const catalogSchema = `
CREATE TABLE catalog (
	kind     TEXT NOT NULL,
	name     TEXT NOT NULL,
	customer TEXT NOT NULL DEFAULT '',
	spec     TEXT NOT NULL,
	source   TEXT NOT NULL DEFAULT '',
	version  {{INT}} NOT NULL,
	PRIMARY KEY (kind, name)
);
CREATE TABLE catalog_version (
	one     {{INT}} NOT NULL PRIMARY KEY CHECK (one = 1),
	version {{INT}} NOT NULL
);
INSERT INTO catalog_version (one, version) VALUES (1, 0);
CREATE TABLE catalog_audit (
	id       {{SERIAL}},
	version  {{INT}} NOT NULL,
	at       {{INT}} NOT NULL, -- Unix milliseconds
	by_whom  TEXT NOT NULL,
	kind     TEXT NOT NULL,
	name     TEXT NOT NULL,
	customer TEXT NOT NULL DEFAULT '',
	spec_before TEXT,
	spec_after  TEXT
);
CREATE INDEX catalog_audit_at ON catalog_audit (at);
`

// migrate brings the schema up to this release: a new database gets it
// whole; one of the row layout is converted.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := s.d.Lock(ctx, conn); err != nil {
		return err
	}
	defer s.d.Unlock(context.WithoutCancel(ctx), conn)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var v int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return err
	}
	switch {
	case v == 0:
		return s.inTx(ctx, conn, func(tx *sql.Tx) error {
			if err := execAll(ctx, tx, s.d.ddl(schema)); err != nil {
				return fmt.Errorf("create the schema: %w", err)
			}
			return s.setVersion(ctx, tx, versionCatalog)
		})
	case v > versionCatalog:
		return fmt.Errorf("schema version %d is newer than this sensorhub knows (%d): upgrade sensorhub", v, versionCatalog)
	case v < versionConverting:
		if err := s.upgradeLegacy(ctx, conn, v); err != nil {
			return err
		}
		fallthrough
	case v == versionConverting:
		if err := s.convert(ctx, conn); err != nil {
			return err
		}
		fallthrough
	case v == versionChunks:
		if err := s.inTx(ctx, conn, func(tx *sql.Tx) error {
			if err := execAll(ctx, tx, s.d.ddl(retentionSchema)); err != nil {
				return fmt.Errorf("add the retention tables: %w", err)
			}
			return s.setVersion(ctx, tx, versionRetention)
		}); err != nil {
			return err
		}
		fallthrough
	case v == versionRetention:
		if err := s.inTx(ctx, conn, func(tx *sql.Tx) error {
			if err := execAll(ctx, tx, s.d.ddl(reportSchema)); err != nil {
				return fmt.Errorf("add the report outbox: %w", err)
			}
			return s.setVersion(ctx, tx, versionReports)
		}); err != nil {
			return err
		}
		fallthrough
	case v == versionReports:
		if err := s.inTx(ctx, conn, func(tx *sql.Tx) error {
			if err := execAll(ctx, tx, s.d.ddl(trustSchema)); err != nil {
				return fmt.Errorf("add the tables of schema %d: %w", versionTrust, err)
			}
			return s.setVersion(ctx, tx, versionTrust)
		}); err != nil {
			return err
		}
		fallthrough
	case v == versionTrust:
		return s.inTx(ctx, conn, func(tx *sql.Tx) error {
			if err := execAll(ctx, tx, s.d.ddl(catalogSchema)); err != nil {
				return fmt.Errorf("add the catalog: %w", err)
			}
			return s.setVersion(ctx, tx, versionCatalog)
		})
	}
	return nil
}

func (s *Store) setVersion(ctx context.Context, tx *sql.Tx, v int) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_version`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO schema_version (version) VALUES (?)`), v)
	return err
}

func (s *Store) inTx(ctx context.Context, conn *sql.Conn, f func(tx *sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// execAll runs the statements of a script, one by one (a driver may take
// only one statement a call).
func execAll(ctx context.Context, tx *sql.Tx, script string) error {
	for _, stmt := range splitStatements(script) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w: %s", err, stmt)
		}
	}
	return nil
}

// splitStatements splits a script at the semicolons that end its lines,
// leaving out comments.
func splitStatements(script string) []string {
	var out []string
	var cur []byte
	for _, line := range splitLines(script) {
		if trimmed := trimSpace(line); trimmed == "" || len(trimmed) >= 2 && trimmed[:2] == "--" {
			continue
		}
		cur = append(cur, line...)
		cur = append(cur, '\n')
		if t := trimSpace(line); t[len(t)-1] == ';' {
			out = append(out, string(cur))
			cur = nil
		}
	}
	if len(trimSpace(string(cur))) > 0 {
		out = append(out, string(cur))
	}
	return out
}

var errLegacyTooOld = errors.New("the database was written by a release older than the one before this: " +
	"start that release once to bring it up to date, then this one")
