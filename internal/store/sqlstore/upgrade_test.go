package sqlstore_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/postgres"
	"github.com/sensorhub/sensorhub/internal/store/series"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"github.com/sensorhub/sensorhub/internal/store/storetest"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// legacyReadings are the readings in the fixtures of testdata, written by
// the release before chunks (its row layout: a JSON document per reading,
// a row per value, aggregates per minute, hour and day), SQLite schema
// version 4 and PostgreSQL schema version 2: three days of a power meter
// every 10 minutes and two hours of an air line every 30 s; with them a
// rejected message and a firing alert with its notification.
func legacyReadings() []reading.Reading {
	loc := storetest.Location
	var rs []reading.Reading
	start := time.Date(2022, 5, 2, 0, 5, 0, 0, loc)
	for i := 0; i < 3*24*6; i++ {
		t := start.Add(time.Duration(i) * 10 * time.Minute)
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Gateway: "171",
			Time: t, Received: t.Add(1500 * time.Millisecond), MsgCount: int64(i + 1),
			Fields: map[string]float64{"E": 1000 + float64(i)*0.5, "P": float64(10 + i%7), "_lost": 0},
			Units:  map[string]string{"E": "kWh", "P": "kW"}, Strings: map[string]string{"Mod": "centrale"}})
	}
	s2 := time.Date(2022, 5, 3, 8, 0, 0, 0, loc)
	for i := 0; i < 240; i++ {
		t := s2.Add(time.Duration(i) * 30 * time.Second)
		rssi := -60.0 - float64(i%9)
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "air", Device: "201", Name: "air-line-1", Gateway: "170",
			Time: t, Received: t.Add(800 * time.Millisecond), MsgCount: int64(i + 1), RSSI: &rssi,
			Fields: map[string]float64{"Pres": 6.4 - float64(i%20)*0.05, "OpenPres": 6, "_rssi": rssi},
			Units:  map[string]string{"Pres": "bar", "OpenPres": "bar", "_rssi": "dBm"}, Strings: map[string]string{"Mod": "air"}})
	}
	return rs
}

func gunzip(t *testing.T, name string) []byte {
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUpgradeSQLite: a SQLite file of the row layout is converted when
// opened, and every reading, device, unit, rejected message and alert is
// as it was.
func TestUpgradeSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	if err := os.WriteFile(path, gunzip(t, "rows-sqlite.db.gz"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	s, err := sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	checkUpgraded(t, s)
	s.Close()
	after, _ := os.Stat(path)
	t.Logf("file: %d bytes in the row layout, %d in chunks", before.Size(), after.Size())
	if after.Size() > before.Size()/3 {
		t.Errorf("the file kept %d of %d bytes", after.Size(), before.Size())
	}
	// Opened again: converted once, nothing changes.
	s, err = sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkUpgraded(t, s)
}

// TestUpgradePostgres: the same on PostgreSQL, from a dump of a schema the
// release before wrote.
func TestUpgradePostgres(t *testing.T) {
	url := testenv.PostgresSchema(t)
	schema := ""
	for _, kv := range strings.Split(url[strings.Index(url, "?")+1:], "&") {
		if v, ok := strings.CutPrefix(kv, "search_path="); ok {
			schema = v
		}
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(gunzip(t, "rows-postgres.sql.gz"))))
	sc.Buffer(nil, 1<<20)
	var stmt strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\\") || strings.HasPrefix(line, "--") || strings.HasPrefix(line, "CREATE SCHEMA") ||
			strings.Contains(line, "set_config('search_path'") {
			continue
		}
		stmt.WriteString(strings.ReplaceAll(line, "legacyfix.", `"`+schema+`".`) + "\n")
		if strings.HasSuffix(line, ";") {
			if _, err := conn.Exec(context.Background(), stmt.String()); err != nil {
				t.Fatalf("%v: %s", err, stmt.String())
			}
			stmt.Reset()
		}
	}
	conn.Close(context.Background())
	s, err := postgres.Open(context.Background(), url, sqlstore.Options{Location: storetest.Location, Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkUpgraded(t, s)
}

func checkUpgraded(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	ctx := context.Background()
	want := legacyReadings()
	devs, err := s.Devices(ctx, store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 || devs[0].Device != "201" || devs[0].Readings != 240 || devs[1].Readings != 432 || devs[1].MsgCount != 432 {
		t.Fatalf("devices %+v", devs)
	}
	byDevice := map[string][]reading.Reading{}
	for _, r := range want {
		byDevice[r.Device] = append(byDevice[r.Device], r)
	}
	for dev, rs := range byDevice {
		k := store.DeviceKey{Customer: "finemeca", Sensor: rs[0].Sensor, Device: dev}
		for field := range rs[0].Fields {
			pts, unit, err := s.Points(ctx, store.RawQuery{DeviceKey: k, Field: field, From: rs[0].Time, To: rs[len(rs)-1].Time.Add(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if unit != rs[0].Units[field] {
				t.Errorf("%s %s: unit %q, want %q", dev, field, unit, rs[0].Units[field])
			}
			if len(pts) != len(rs) {
				t.Fatalf("%s %s: %d values, want %d", dev, field, len(pts), len(rs))
			}
			for i, p := range pts {
				if !p.Time.Equal(rs[i].Time) || p.Value != rs[i].Fields[field] {
					t.Fatalf("%s %s value %d: %v at %s, want %v at %s", dev, field, i, p.Value, p.Time, rs[i].Fields[field], rs[i].Time)
				}
			}
		}
		last, err := s.Latest(ctx, k)
		if err != nil || last.MsgCount != rs[len(rs)-1].MsgCount || last.Name != rs[0].Name || last.Strings["Mod"] != rs[0].Strings["Mod"] {
			t.Errorf("%s latest %+v (%v)", dev, last, err)
		}
	}
	step, _ := series.ParseStep("1d")
	days, err := series.Read(ctx, s, series.Query{DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "301"},
		Field: "E", Agg: "increase", Step: step, From: time.Date(2022, 5, 2, 0, 0, 0, 0, storetest.Location), To: time.Date(2022, 5, 5, 0, 0, 0, 0, storetest.Location)}, storetest.Location)
	if err != nil {
		t.Fatal(err)
	}
	// Readings at 00:05, 00:15...: the 10 minutes across each midnight
	// are shared half and half by the days on either side.
	if len(days.Points) != 3 || days.Points[0].Value != 143*0.5+0.25 || days.Points[1].Value != 144*0.5 || days.Points[2].Value != 143*0.5+0.25 {
		t.Errorf("daily increase %v", days.Points)
	}
	rj, err := s.Rejected(ctx, store.RejectedFilter{})
	if err != nil || len(rj) != 1 || string(rj[0].Payload) != "{bad" {
		t.Errorf("rejected %+v (%v)", rj, err)
	}
	alerts, err := s.Alerts(ctx, store.AlertFilter{State: "firing"})
	if err != nil || len(alerts) != 1 || alerts[0].Device != "201" {
		t.Fatalf("alerts %+v (%v)", alerts, err)
	}
	if ns, err := s.Notifications(ctx, alerts[0].ID); err != nil || len(ns) != 1 {
		t.Errorf("notifications %+v (%v)", ns, err)
	}
	// What was stored before is found again: a duplicate.
	res, err := s.Write(ctx, store.Batch{Readings: want[100:110]})
	if err != nil || res.Duplicates != 10 || res.Stored != 0 {
		t.Errorf("the old readings again: %+v (%v), want 10 duplicates", res, err)
	}
}

// TestUpgradeFromChunks: a database of the release before retention (the
// chunk layout, schema version 100) gets the retention tables and
// columns and the report outbox, and keeps its readings.
func TestUpgradeFromChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	s, err := sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	rs := legacyReadings()
	if _, err := s.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	for _, q := range append(undo130, `DROP TABLE report_sends`, `DROP TABLE day_rollups`, `ALTER TABLE devices DROP COLUMN raw_from`, `ALTER TABLE devices DROP COLUMN hourly_from`,
		`ALTER TABLE devices DROP COLUMN daily_from`,
		`UPDATE schema_version SET version = 100`) {
		if _, err := s.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = sqlite.Open(context.Background(), path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatalf("opening a database of schema version 100: %v", err)
	}
	defer s.Close()
	k := store.DeviceKey{Customer: rs[0].Customer, Sensor: rs[0].Sensor, Device: rs[0].Device}
	if kept, err := s.Kept(context.Background(), k); err != nil || kept != (store.Kept{}) {
		t.Errorf("kept %+v %v, want nothing removed", kept, err)
	}
	var version int
	if err := s.DB().QueryRow(`SELECT version FROM schema_version`).Scan(&version); err != nil || version != sqlstore.SchemaVersion {
		t.Errorf("schema version %d %v, want %d", version, err, sqlstore.SchemaVersion)
	}
	devs, _ := s.Devices(context.Background(), store.DeviceFilter{})
	var n int64
	for _, d := range devs {
		n += d.Readings
	}
	if n != int64(len(rs)) {
		t.Errorf("%d readings after the upgrade, want %d", n, len(rs))
	}
}

// TestUpgradeFromTrust: a store of the release before the catalog
// (schema 130) gets an empty catalog at version 0 and keeps its readings.
func TestUpgradeFromTrust(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensorhub.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatal(err)
	}
	rs := legacyReadings()
	if _, err := s.Write(ctx, store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	for _, q := range append(undo140, `UPDATE schema_version SET version = 130`) {
		if _, err := s.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = sqlite.Open(ctx, path, sqlstore.Options{Location: storetest.Location})
	if err != nil {
		t.Fatalf("opening a database of schema version 130: %v", err)
	}
	defer s.Close()
	if v, items, err := s.ReadCatalog(ctx); err != nil || v != 0 || len(items) != 0 {
		t.Errorf("catalog after the upgrade: version %d, %d items, %v; want an empty one", v, len(items), err)
	}
	if v, err := s.ChangeCatalog(ctx, "admin", []store.CatalogChange{{Kind: store.CatalogCustomers, Name: "acme", Spec: []byte(`{}`)}}); err != nil || v != 1 {
		t.Errorf("first change after the upgrade: version %d, %v", v, err)
	}
	devs, _ := s.Devices(ctx, store.DeviceFilter{})
	var n int64
	for _, d := range devs {
		n += d.Readings
	}
	if n != int64(len(rs)) {
		t.Errorf("%d readings after the upgrade, want %d", n, len(rs))
	}
}

// undo140 takes a store of this release back to schema 130's tables.
var undo140 = []string{`DROP TABLE catalog`, `DROP TABLE catalog_version`, `DROP TABLE catalog_audit`}

// undo130 takes a store of this release back to schema 120's tables.
var undo130 = append(slices.Clip(undo140), `DROP TABLE rolled_keys`, `ALTER TABLE devices DROP COLUMN msg_time`, `ALTER TABLE devices DROP COLUMN msg_from`,
	`DROP TABLE invalid_intervals`, `DROP TABLE installation`, `DROP TABLE leases`)
