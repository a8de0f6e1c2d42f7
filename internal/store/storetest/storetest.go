// Package storetest is the conformance suite that every store backend passes.
package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Open opens a new, empty store whose days start at midnight in loc.
type Open func(t *testing.T, loc *time.Location) store.Store

// Compactor is a store that keeps recent readings apart from compacted
// ones: Compact folds them together now.
type Compactor interface {
	Compact(ctx context.Context) error
}

// Run runs the suite; open returns a new, empty store for each subtest.
// A store that compacts runs every case twice: as written, and with every
// write compacted at once, so that both the recent readings and the
// compacted ones answer the same.
func Run(t *testing.T, open Open) {
	cases := []struct {
		name string
		f    func(*testing.T, store.Store)
	}{
		{"LatestAndUnits", testLatest},
		{"DuplicatesStoredOnce", testDuplicates},
		{"LateReadingKeepsLatest", testLate},
		{"Devices", testDevices},
		{"DeviceFilter", testDeviceFilter},
		{"LossAcrossClockJump", testLossAcrossClockJump},
		{"Points", testPoints},
		{"DailyIncrease", testDailyIncrease},
		{"Aggregations", testAggregations},
		{"Rejected", testRejected},
		{"RollupsMatchRaw", testRollupsMatchRaw},
		{"DailyIncreaseAcrossDST", testDailyIncreaseDST},
		{"Alerts", testAlerts},
		{"AlertChangesAreAtomic", testAlertsAtomic},
		{"FireAndResolveTogether", testFireAndResolveTogether},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Neighbours", testNeighbours},
		{"LateReadingIntoChunk", testLateIntoChunk},
		{"Retention", testRetention},
		{"RemoveDevice", testRemoveDevice},
		{"RolledUpDuplicates", testRolledDuplicates},
		{"ReportOutbox", testReportOutbox},
		{"InvalidIntervals", testInvalidIntervals},
		{"CounterJitter", testCounterJitter},
		{"GapSpread", testGapSpread},
		{"EachPoints", testEachPoints},
		{"Leases", testLeases},
		{"Catalog", testCatalog},
		{"FieldIndex", testFieldIndex},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.f(t, open(t, Location)) })
	}
	if _, ok := open(t, Location).(Compactor); ok {
		for _, c := range cases {
			t.Run(c.name+"/compacted", func(t *testing.T) { c.f(t, compacting(open(t, Location))) })
		}
	}
	for _, zone := range []string{"Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Europe/Brussels"} {
		t.Run("DaysIn/"+zone, func(t *testing.T) { testDaysInZone(t, open, zone) })
	}
}

// testDailyIncreaseDST: a counter that grows by exactly 1 an hour gives 23
// on the spring day of Europe/Brussels, 25 on the autumn day, 24 on others.
func testDailyIncreaseDST(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	start := time.Date(2022, 3, 25, 0, 0, 0, 0, loc)
	end := time.Date(2022, 11, 2, 0, 0, 0, 0, loc)
	var rs []reading.Reading
	for i, ts := 0, start; ts.Before(end); i, ts = i+1, ts.Add(time.Hour) {
		r := base
		r.Time, r.MsgCount = ts, int64(i)
		r.Fields = map[string]float64{"E": float64(i)}
		rs = append(rs, r)
	}
	write(t, s, store.Batch{Readings: rs})
	step, _ := series.ParseStep("1d")
	got, err := series.Read(ctx(t), s, series.Query{DeviceKey: key(base), Field: "E", Agg: "increase", Step: step,
		From: time.Date(2022, 3, 26, 0, 0, 0, 0, loc), To: time.Date(2022, 11, 1, 0, 0, 0, 0, loc)}, loc)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != 220 {
		t.Fatalf("%d days, want 220", len(got.Points))
	}
	for _, p := range got.Points {
		want := 24.0
		switch day := p.Time.In(loc).Format("2006-01-02"); day {
		case "2022-03-27":
			want = 23
		case "2022-10-30":
			want = 25
		}
		if p.Value != want {
			t.Errorf("%s: %v, want %v", p.Time.In(loc).Format("2006-01-02"), p.Value, want)
		}
		if h, m, _ := p.Time.In(loc).Clock(); h != 0 || m != 0 {
			t.Errorf("day bucket at %s, want local midnight", p.Time.In(loc))
		}
	}
}

// testRollupsMatchRaw writes a week of readings every 7 minutes, over the
// autumn change of time, in two overlapping writes, and checks that every
// aggregation at every step gives what the raw points give.
func testRollupsMatchRaw(t *testing.T, s store.Store) {
	base := Payloads(t, "devicev01.jsonl")[3]
	start := time.Date(2022, 10, 27, 13, 3, 0, 0, time.UTC)
	var rs []reading.Reading
	for i := 0; i < 7*24*60/7; i++ {
		r := base
		r.Time = start.Add(time.Duration(i) * 7 * time.Minute)
		r.MsgCount = int64(i)
		r.Fields = map[string]float64{"Temp": float64((i*37)%101) / 7, "E": float64(i) * 1.5}
		rs = append(rs, r)
	}
	write(t, s, store.Batch{Readings: rs[:800]})
	write(t, s, store.Batch{Readings: rs[700:]}) // 100 duplicates
	k := key(base)
	from := time.Date(2022, 10, 28, 5, 17, 31, 0, loc)
	to := time.Date(2022, 11, 2, 19, 44, 0, 0, loc)
	for _, st := range []string{"1m", "5m", "1h", "3h", "1d", "2d"} {
		step, _ := series.ParseStep(st)
		for _, agg := range series.Aggregations {
			q := series.Query{DeviceKey: k, Field: "Temp", From: from, To: to, Step: step, Agg: agg}
			got, err := series.Read(ctx(t), s, q, loc)
			if err != nil {
				t.Fatal(err)
			}
			want, err := series.ReadRaw(ctx(t), s, q, loc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Points) != len(want.Points) || len(got.Points) == 0 {
				t.Fatalf("step %s agg %s: %d points, raw gives %d", st, agg, len(got.Points), len(want.Points))
			}
			for i := range want.Points {
				g, w := got.Points[i], want.Points[i]
				if !g.Time.Equal(w.Time) || math.Abs(g.Value-w.Value) > 1e-9*math.Max(1, math.Abs(w.Value)) {
					t.Fatalf("step %s agg %s bucket %d: %v %v, raw gives %v %v", st, agg, i, g.Time, g.Value, w.Time, w.Value)
				}
			}
		}
	}
}

// Location is the zone the suite queries in; open stores with it.
var Location, _ = time.LoadLocation("Europe/Brussels")

var loc = Location

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// Payloads decodes a file of testdata/payloads with the default
// configuration.
func Payloads(t testing.TB, name string) []reading.Reading {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(here), "..", "..", "..", "testdata", "payloads", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := plan.MustCompile(config.Default()).Decoder
	var out []reading.Reading
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, err := dec.Decode(reading.Envelope{Topic: "finemeca/test", Payload: sc.Bytes(), Received: time.Now(), Source: "test"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, r)
	}
	return out
}

// compactingStore compacts after every write.
type compactingStore struct {
	store.Store
}

func compacting(s store.Store) store.Store { return compactingStore{s} }

// inner is the store a compacting one wraps, for its optional interfaces.
func inner(s store.Store) store.Store {
	if cs, ok := s.(compactingStore); ok {
		return cs.Store
	}
	return s
}

func (s compactingStore) Write(ctx context.Context, b store.Batch) (store.WriteResult, error) {
	res, err := s.Store.Write(ctx, b)
	if err == nil {
		err = s.Store.(Compactor).Compact(ctx)
	}
	return res, err
}

func (s compactingStore) Days(ctx context.Context, q store.RawQuery) ([]series.Bucket, error) {
	return s.Store.(series.DayReader).Days(ctx, q)
}

func (s compactingStore) Hours(ctx context.Context, q store.RawQuery) ([]series.Bucket, error) {
	return s.Store.(series.Rollups).Hours(ctx, q)
}

func (s compactingStore) Location() *time.Location {
	return s.Store.(interface{ Location() *time.Location }).Location()
}

func write(t *testing.T, s store.Store, b store.Batch) store.WriteResult {
	t.Helper()
	res, err := s.Write(ctx(t), b)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return res
}

func key(r reading.Reading) store.DeviceKey {
	return store.DeviceKey{Customer: r.Customer, Sensor: r.Sensor, Device: r.Device}
}

func testLatest(t *testing.T, s store.Store) {
	rs := Payloads(t, "devicev01.jsonl")
	write(t, s, store.Batch{Readings: rs})
	got, err := s.Latest(ctx(t), key(rs[0]))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2022, 4, 17, 21, 54, 41, 0, time.UTC)
	if !got.Time.Equal(want) {
		t.Errorf("latest time %s, want %s", got.Time, want)
	}
	if got.Fields["Temp"] != 14.62 || got.Fields["Hum"] != 61 || got.Fields["Pres"] != 1013 {
		t.Errorf("latest fields %v, want Temp 14.62, Hum 61, Pres 1013", got.Fields)
	}
	if got.Units["Temp"] != "C" || got.Units["Hum"] != "%" {
		t.Errorf("latest units %v", got.Units)
	}
	if got.MsgCount != 237 || got.RSSI == nil || *got.RSSI != -51 {
		t.Errorf("latest msgCount %d rssi %v", got.MsgCount, got.RSSI)
	}
	if _, err := s.Latest(ctx(t), store.DeviceKey{Customer: "finemeca", Sensor: "devicev01", Device: "nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("latest of unknown device: %v, want ErrNotFound", err)
	}
	// The device list gives the same newest reading when asked, and only
	// then.
	for _, with := range []bool{true, false} {
		devs, err := s.Devices(ctx(t), store.DeviceFilter{Customer: rs[0].Customer, Sensor: rs[0].Sensor, Latest: with})
		if err != nil || len(devs) != 1 {
			t.Fatalf("devices: %v, %v", devs, err)
		}
		l := devs[0].Latest
		if !with {
			if l != nil {
				t.Errorf("the device list gave a newest reading unasked")
			}
			continue
		}
		if l == nil || !l.Time.Equal(want) || l.Fields["Temp"] != 14.62 || l.Units["Temp"] != "C" || l.Device != rs[0].Device || l.MsgCount != 237 {
			t.Errorf("the device list's newest reading %+v; want the one Latest gives", l)
		}
	}
}

func testDuplicates(t *testing.T, s store.Store) {
	rs := Payloads(t, "air.jsonl")
	res := write(t, s, store.Batch{Readings: append(rs, rs[1])})
	if res.Stored != 4 || res.Duplicates != 1 {
		t.Fatalf("first write: %+v, want 4 stored, 1 duplicate", res)
	}
	res = write(t, s, store.Batch{Readings: rs})
	if res.Stored != 0 || res.Duplicates != 4 {
		t.Fatalf("second write: %+v, want 0 stored, 4 duplicates", res)
	}
	pts, _, err := s.Points(ctx(t), store.RawQuery{DeviceKey: key(rs[0]), Field: "Pres",
		From: time.Unix(0, 0), To: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 4 {
		t.Fatalf("%d Pres points after duplicate writes, want 4", len(pts))
	}
	devs, err := s.Devices(ctx(t), store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Readings != 4 {
		t.Fatalf("devices %+v, want one with 4 readings", devs)
	}
}

func testLate(t *testing.T, s store.Store) {
	rs := Payloads(t, "air.jsonl")
	write(t, s, store.Batch{Readings: rs[2:]})
	write(t, s, store.Batch{Readings: rs[:2]})
	got, err := s.Latest(ctx(t), key(rs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if got.MsgCount != 5 || got.Fields["Pres"] != 5.72 {
		t.Fatalf("latest after late readings: msgCount %d Pres %v, want 5 and 5.72", got.MsgCount, got.Fields["Pres"])
	}
	devs, _ := s.Devices(ctx(t), store.DeviceFilter{})
	if len(devs) != 1 || devs[0].MsgCount != 5 {
		t.Fatalf("devices %+v, want msg_count 5", devs)
	}
}

func testDevices(t *testing.T, s store.Store) {
	var all []reading.Reading
	for _, f := range []string{"air.jsonl", "centrale.jsonl", "devicev01.jsonl"} {
		all = append(all, Payloads(t, f)...)
	}
	write(t, s, store.Batch{Readings: all})
	devs, err := s.Devices(ctx(t), store.DeviceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 3 {
		t.Fatalf("%d devices, want 3", len(devs))
	}
	air := devs[0]
	if air.Sensor != "air" || air.Device != "201" || air.Name != "air-line-1" || air.Gateway != "170" {
		t.Errorf("first device %+v, want air 201 air-line-1 on gateway 170", air)
	}
	if air.MsgCount != 5 || air.Lost != 1 || air.Expected != 5 || math.Abs(air.LossRatio-0.2) > 1e-9 {
		t.Errorf("air msg_count %d lost %d expected %d ratio %v, want 5, 1, 5, 0.2", air.MsgCount, air.Lost, air.Expected, air.LossRatio)
	}
	if air.RSSI == nil || *air.RSSI != -64 || air.SNR == nil || *air.SNR != 6 {
		t.Errorf("air rssi/snr %v/%v, want -64/6", air.RSSI, air.SNR)
	}
	if air.LastSeen.IsZero() || !air.LastTime.Equal(time.Date(2022, 5, 2, 6, 1, 30, 0, time.UTC)) {
		t.Errorf("air last_seen %s last_time %s", air.LastSeen, air.LastTime)
	}
	// The sample skips from msgCount 881 to 3760 (2878 missing), then the
	// meter restarted (3760 -> 3): a restart is no loss.
	if c := devs[1]; c.Sensor != "centrale" || c.Lost != 3760-881-1 || c.MsgCount != 3 {
		t.Errorf("centrale %+v, want lost 2878 and msg_count 3", c)
	}
	only, err := s.Devices(ctx(t), store.DeviceFilter{Sensor: "devicev01"})
	if err != nil || len(only) != 1 || only[0].Device != "100" {
		t.Errorf("filter by sensor: %+v, %v", only, err)
	}
	none, err := s.Devices(ctx(t), store.DeviceFilter{Customer: "other"})
	if err != nil || len(none) != 0 {
		t.Errorf("filter by other customer: %+v, %v", none, err)
	}
}

func testPoints(t *testing.T, s store.Store) {
	rs := Payloads(t, "air.jsonl")
	write(t, s, store.Batch{Readings: rs})
	k := key(rs[0])
	from := time.Date(2022, 5, 2, 6, 0, 30, 0, time.UTC)
	to := time.Date(2022, 5, 2, 6, 1, 30, 0, time.UTC)
	pts, unit, err := s.Points(ctx(t), store.RawQuery{DeviceKey: k, Field: "Pres", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	if unit != "bar" {
		t.Errorf("unit %q, want bar", unit)
	}
	if len(pts) != 2 || pts[0].Value != 6.40 || pts[1].Value != 5.91 || !pts[0].Time.Equal(from) {
		t.Fatalf("points in [from,to): %+v, want 6.40 at from then 5.91", pts)
	}
	if _, _, err := s.Points(ctx(t), store.RawQuery{DeviceKey: k, Field: "Nope", From: from, To: to}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown field: %v, want ErrNotFound", err)
	}
	p, ok, err := s.PointBefore(ctx(t), k, "Pres", from)
	if err != nil || !ok || p.Value != 6.42 {
		t.Errorf("point before: %+v %v %v, want 6.42", p, ok, err)
	}
	ns, err := s.Neighbours(ctx(t), []store.NeighbourQuery{
		{DeviceKey: k, Time: to}, {DeviceKey: k, Time: rs[0].Time, Seq: rs[0].Seq()},
		{DeviceKey: store.DeviceKey{Customer: "x", Sensor: "y", Device: "z"}, Time: to}})
	if err != nil {
		t.Fatal(err)
	}
	if r := ns[0].Before; r == nil || r.MsgCount != 3 || r.Fields["Pres"] != 5.91 {
		t.Errorf("reading before %s: %+v, want the third reading", to, r)
	}
	if ns[1].Before != nil {
		t.Errorf("reading before the first: found %+v", ns[1].Before)
	}
	if ns[2].Before != nil || ns[2].After != nil {
		t.Errorf("neighbours of an unknown device: found %+v", ns[2])
	}
}

func testDailyIncrease(t *testing.T, s store.Store) {
	rs := Payloads(t, "centrale.jsonl")
	write(t, s, store.Batch{Readings: rs})
	step, _ := series.ParseStep("1d")
	got, err := series.Read(ctx(t), s, series.Query{
		DeviceKey: key(rs[0]), Field: "E", Agg: "increase", Step: step,
		From: time.Date(2022, 5, 3, 0, 0, 0, 0, loc), To: time.Date(2022, 5, 5, 0, 0, 0, 0, loc),
	}, loc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Unit != "kWh" {
		t.Errorf("unit %q, want kWh", got.Unit)
	}
	// Each interval between readings is shared by the days it covers in
	// proportion to time: 3 May gets half of the 0.1 of the minute across
	// its midnight, the 190.5 from 00:00:30 to 23:59:30, and 30 s of the
	// 6 h 0 min 30 s to the restart at 06:00 on 4 May, which counts its
	// 12.5 from zero: 0.05 + 190.5 + 12.5 x 30/21630; 4 May the rest.
	want := []store.Point{
		{Time: time.Date(2022, 5, 3, 0, 0, 0, 0, loc), Value: 190.567337032},
		{Time: time.Date(2022, 5, 4, 0, 0, 0, 0, loc), Value: 12.4826629681},
	}
	if len(got.Points) != len(want) {
		t.Fatalf("points %v, want %v", got.Points, want)
	}
	for i := range want {
		if !got.Points[i].Time.Equal(want[i].Time) || got.Points[i].Value != want[i].Value {
			t.Errorf("day %d: %v %v, want %v %v", i, got.Points[i].Time, got.Points[i].Value, want[i].Time, want[i].Value)
		}
	}
	// The 6 hours' restart is an estimate on both days; the minute across
	// midnight is no gap.
	if e := got.Estimated; len(e) != 2 || e[0].Value != 0.0173370319001 || e[1].Value != want[1].Value {
		t.Errorf("estimated %v, want 12.5 x 30/21630 on 3 May and the rest on 4 May", e)
	}
}

func testAggregations(t *testing.T, s store.Store) {
	rs := Payloads(t, "air.jsonl")
	write(t, s, store.Batch{Readings: rs})
	step, _ := series.ParseStep("1m")
	want := map[string][]float64{
		// Buckets 08:00 (6.42, 6.40) and 08:01 (5.91, 5.72), local time.
		"avg": {6.41, 5.815}, "min": {6.40, 5.72}, "max": {6.42, 5.91}, "sum": {12.82, 11.63},
		"count": {2, 2}, "first": {6.42, 5.91}, "last": {6.40, 5.72},
		// Pres only falls, each time by less than an eighth: jitter, not a
		// counter restart from zero.
		"increase": {0, 0},
	}
	for _, agg := range series.Aggregations {
		got, err := series.Read(ctx(t), s, series.Query{DeviceKey: key(rs[0]), Field: "Pres", Agg: agg, Step: step,
			From: time.Date(2022, 5, 2, 0, 0, 0, 0, loc), To: time.Date(2022, 5, 3, 0, 0, 0, 0, loc)}, loc)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Points) != 2 {
			t.Fatalf("%s: %d buckets, want 2", agg, len(got.Points))
		}
		for i, w := range want[agg] {
			if math.Abs(got.Points[i].Value-w) > 1e-9 {
				t.Errorf("%s bucket %d = %v, want %v", agg, i, got.Points[i].Value, w)
			}
		}
		if !got.Points[1].Time.Equal(time.Date(2022, 5, 2, 8, 1, 0, 0, loc)) {
			t.Errorf("%s: second bucket at %s, want 08:01 local", agg, got.Points[1].Time.In(loc))
		}
	}
}

func testRejected(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	rj := []reading.Rejected{
		{Topic: "finemeca/a", Payload: []byte("{bad"), Reason: "invalid JSON: unexpected EOF", Received: now.Add(-time.Minute), Source: "mqtt"},
		{Topic: "intruder/x", Payload: []byte(`{"Customer":"intruder"}`), Reason: `unknown customer "intruder"`, Received: now, Source: "http", Customer: "intruder"},
	}
	res := write(t, s, store.Batch{Rejected: rj})
	if res.Rejected != 2 {
		t.Fatalf("write result %+v, want 2 rejected", res)
	}
	// A redelivered copy of a rejected message is kept once.
	if res := write(t, s, store.Batch{Rejected: rj[:1]}); res.Rejected != 0 {
		t.Fatalf("rewrite of a rejected message: %+v, want it kept once", res)
	}
	got, err := s.Rejected(ctx(t), store.RejectedFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Topic != "intruder/x" || string(got[1].Payload) != "{bad" || !got[1].Received.Equal(rj[0].Received) {
		t.Fatalf("rejected %+v, want both, newest first, payload kept", got)
	}
	byReason, _ := s.Rejected(ctx(t), store.RejectedFilter{Reason: "invalid JSON"})
	if len(byReason) != 1 || byReason[0].Topic != "finemeca/a" {
		t.Errorf("filter by reason: %+v", byReason)
	}
	byTopic, _ := s.Rejected(ctx(t), store.RejectedFilter{Topic: "intruder/x"})
	if len(byTopic) != 1 || byTopic[0].Customer != "intruder" {
		t.Errorf("filter by topic: %+v", byTopic)
	}
	n, err := s.CountRejected(ctx(t), store.RejectedFilter{From: now})
	if err != nil || n != 1 {
		t.Errorf("count since now: %d %v, want 1", n, err)
	}
	// A replay that turned the first into a reading removes it with the
	// reading's batch.
	write(t, s, store.Batch{Readings: Payloads(t, "air.jsonl")[:1], Resolved: []int64{got[1].ID}})
	left, _ := s.Rejected(ctx(t), store.RejectedFilter{})
	if len(left) != 1 || left[0].ID != got[0].ID {
		t.Errorf("after resolving %d: %+v, want only %d left", got[1].ID, left, got[0].ID)
	}
}

// LoadDays writes days of readings of one devicev01 device every interval,
// ending now, and returns the device; benchmarks use it.
func LoadDays(tb testing.TB, s store.Store, days int, interval time.Duration) store.DeviceKey {
	tb.Helper()
	return loadEvery(tb, s, Payloads(tb, "devicev01.jsonl")[3], days, interval, func(_ int, t time.Time) map[string]float64 {
		hour := float64(t.Hour()) + float64(t.Minute())/60
		return map[string]float64{"Temp": 12 + 6*math.Sin(hour/24*2*math.Pi), "Pres": 1013, "Hum": 60}
	})
}

// loadEvery writes days of base's device's readings every interval up to
// now, the nth at t with fields(n, t), and returns its key.
func loadEvery(tb testing.TB, s store.Store, base reading.Reading, days int, interval time.Duration, fields func(n int, t time.Time) map[string]float64) store.DeviceKey {
	tb.Helper()
	end := time.Now().UTC().Truncate(time.Second)
	batch := make([]reading.Reading, 0, 1000)
	n := 0
	for t := end.Add(-time.Duration(days) * 24 * time.Hour); t.Before(end); t = t.Add(interval) {
		r := base
		r.Time, r.MsgCount, r.Fields = t, int64(n+1), fields(n, t)
		batch = append(batch, r)
		n++
		if len(batch) == cap(batch) {
			if _, err := s.Write(context.Background(), store.Batch{Readings: batch}); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := s.Write(context.Background(), store.Batch{Readings: batch}); err != nil {
		tb.Fatal(err)
	}
	return key(base)
}

// testLossAcrossClockJump: messages 1, 2, 4, 5, 6, 7 of a device (3 was
// lost) with one whose time is out of order among them: a clock ahead by
// most of an hour on message 4, a message without msgCount timed an hour
// ahead, or a clock an hour behind on message 4. One message is lost,
// whether they come one by one or in one batch.
func testLossAcrossClockJump(t *testing.T, s store.Store) {
	base := Payloads(t, "air.jsonl")[0]
	t0 := time.Date(2025, 6, 2, 10, 0, 0, 0, loc)
	msg := func(count int64, sent, at time.Duration) reading.Reading {
		r := base
		r.Time, r.Received, r.MsgCount = t0.Add(at), t0.Add(sent+time.Second), count
		r.Fields = map[string]float64{"Pres": 6}
		if count == reading.NoMsgCount {
			r.Digest = reading.PayloadDigest([]byte("no msgCount"))
		}
		return r
	}
	in := func(count int64, minute int) reading.Reading {
		return msg(count, time.Duration(minute)*time.Minute, time.Duration(minute)*time.Minute)
	}
	cases := []struct {
		name string
		odd  reading.Reading
		want int64 // the newest msgCount
	}{
		{"a clock ahead on message 4", msg(4, 3*time.Minute, 50*time.Minute), 7},
		{"a message without msgCount timed an hour ahead", msg(reading.NoMsgCount, 3*time.Minute, time.Hour), 7},
		{"a clock behind on message 4", msg(4, 3*time.Minute, -time.Hour), 7},
	}
	for i, c := range cases {
		for _, oneBatch := range []bool{false, true} {
			rs := []reading.Reading{in(1, 0), in(2, 1), c.odd, in(5, 4), in(6, 5), in(7, 70)}
			if c.odd.MsgCount < 0 {
				rs = slices.Insert(rs, 3, in(4, 3))
			}
			dev := fmt.Sprintf("clock-%d-%v", i, oneBatch)
			for j := range rs {
				rs[j].Device = dev
			}
			if oneBatch {
				write(t, s, store.Batch{Readings: rs})
			} else {
				for _, r := range rs {
					write(t, s, store.Batch{Readings: []reading.Reading{r}})
				}
			}
			k := key(rs[0])
			devs, err := s.Devices(ctx(t), store.DeviceFilter{Customer: k.Customer, Sensor: k.Sensor})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range devs {
				found = found || d.Device == dev
				if d.Device == dev && (d.Lost != 1 || d.MsgCount != c.want || d.Readings != int64(len(rs))) {
					t.Errorf("%s, %s: lost %d, msg_count %d, %d readings; want 1 lost, msg_count %d, %d readings",
						c.name, map[bool]string{false: "one by one", true: "in one batch"}[oneBatch], d.Lost, d.MsgCount, d.Readings, c.want, len(rs))
				}
			}
			if !found {
				t.Errorf("%s: device %s not listed", c.name, dev)
			}
		}
	}
}
