package storetest

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// testLateIntoChunk: a reading that arrives after its day was folded into
// a chunk lands in it, with its re-derived successor in the same write;
// the day's buckets, the device's counts and the newest reading agree with
// the values, and the reading sent again is a duplicate.
func testLateIntoChunk(t *testing.T, s store.Store) {
	base := Payloads(t, "centrale.jsonl")[0]
	start := time.Date(2022, 5, 2, 0, 5, 0, 0, loc)
	var rs []reading.Reading
	for i := range 3 * 24 * 6 {
		r := base
		r.Time = start.Add(time.Duration(i) * 10 * time.Minute)
		r.MsgCount = int64(i + 1)
		r.Fields = map[string]float64{"E": float64(i) * 2, "kwh": 2}
		rs = append(rs, r)
	}
	late, next := rs[200], rs[201]
	write(t, s, store.Batch{Readings: append(append([]reading.Reading(nil), rs[:200]...), rs[201:]...)})
	if c, ok := s.(Compactor); ok {
		if err := c.Compact(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	// Without the late reading its successor's increase was 4; with it, 2.
	next.Fields = map[string]float64{"E": next.Fields["E"], "kwh": 2}
	res := write(t, s, store.Batch{Readings: []reading.Reading{late}, Rederived: []reading.Reading{next}})
	if res.Stored != 1 {
		t.Fatalf("the late reading: %+v, want stored", res)
	}
	if res := write(t, s, store.Batch{Readings: []reading.Reading{late, rs[0], rs[400]}}); res.Stored != 0 || res.Duplicates != 3 {
		t.Fatalf("sent again: %+v, want 3 duplicates", res)
	}
	k := key(base)
	pts, _, err := s.Points(ctx(t), store.RawQuery{DeviceKey: k, Field: "E", From: start, To: start.Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != len(rs) {
		t.Fatalf("%d points, want %d", len(pts), len(rs))
	}
	for i, p := range pts {
		if !p.Time.Equal(rs[i].Time) || p.Value != rs[i].Fields["E"] {
			t.Fatalf("point %d: %v at %s, want %v at %s", i, p.Value, p.Time, rs[i].Fields["E"], rs[i].Time)
		}
	}
	day, _ := series.ParseStep("1d")
	for _, agg := range []string{"sum", "count", "increase", "first", "last"} {
		q := series.Query{DeviceKey: k, Field: "kwh", Agg: agg, Step: day, From: time.Date(2022, 5, 2, 0, 0, 0, 0, loc), To: time.Date(2022, 5, 5, 0, 0, 0, 0, loc)}
		got, err := series.Read(ctx(t), s, q, loc)
		if err != nil {
			t.Fatal(err)
		}
		want, err := series.ReadRaw(ctx(t), s, q, loc)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got.Points) != fmt.Sprint(want.Points) {
			t.Errorf("%s by day: %v, the values give %v", agg, got.Points, want.Points)
		}
		if agg == "sum" && (len(got.Points) != 3 || got.Points[1].Value != 2*144) {
			t.Errorf("kwh a day: %v, want 288 on the second day", got.Points)
		}
	}
	devs, _ := s.Devices(ctx(t), store.DeviceFilter{})
	if len(devs) != 1 || devs[0].Readings != int64(len(rs)) || devs[0].Lost != 0 {
		t.Fatalf("devices %+v, want %d readings, none lost", devs, len(rs))
	}
	last, err := s.Latest(ctx(t), k)
	if err != nil || last.MsgCount != int64(len(rs)) {
		t.Fatalf("latest msgCount %d (%v), want %d", last.MsgCount, err, len(rs))
	}
}

// testDaysInZone: days start at midnight in the zone, whole-hour or not,
// and a day of 23 or 25 hours has as many values: a counter that grows by
// one every 15 minutes increases by the day's quarter hours, by summaries
// and by values alike.
func testDaysInZone(t *testing.T, open Open, zone string) {
	z, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, z)
	base := Payloads(t, "centrale.jsonl")[0]
	from := time.Date(2025, 10, 24, 0, 0, 0, 0, z)
	to := time.Date(2025, 11, 6, 0, 0, 0, 0, z)
	var rs []reading.Reading
	for i, ts := 0, from.Add(-24*time.Hour); ts.Before(to.Add(time.Hour)); i, ts = i+1, ts.Add(15*time.Minute) {
		r := base
		r.Time, r.MsgCount = ts, int64(i)
		r.Fields = map[string]float64{"E": float64(i)}
		rs = append(rs, r)
		if len(rs) == 500 {
			write(t, s, store.Batch{Readings: rs})
			rs = nil
		}
	}
	write(t, s, store.Batch{Readings: rs})
	for _, compacted := range []bool{false, true} {
		if compacted {
			c, ok := s.(Compactor)
			if !ok {
				return
			}
			if err := c.Compact(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		step, _ := series.ParseStep("1d")
		q := series.Query{DeviceKey: key(base), Field: "E", Agg: "increase", Step: step, From: from, To: to}
		got, err := series.Read(ctx(t), s, q, z)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Points) != 13 {
			t.Fatalf("compacted %v: %d days, want 13", compacted, len(got.Points))
		}
		for _, p := range got.Points {
			local := p.Time.In(z)
			if h, m, _ := local.Clock(); h != 0 || m != 0 {
				t.Errorf("compacted %v: a day starts at %s", compacted, local)
			}
			y, mo, d := local.Date()
			hours := time.Date(y, mo, d+1, 0, 0, 0, 0, z).Sub(time.Date(y, mo, d, 0, 0, 0, 0, z)).Hours()
			if want := hours * 4; math.Abs(p.Value-want) > 1e-9 {
				t.Errorf("compacted %v: %s increased %v, want %v (a day of %v hours)", compacted, local.Format("2006-01-02"), p.Value, want, hours)
			}
		}
		raw, err := series.ReadRaw(ctx(t), s, q, z)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(raw.Points) != fmt.Sprint(got.Points) {
			t.Errorf("compacted %v: by summaries %v, by values %v", compacted, got.Points, raw.Points)
		}
	}
}
