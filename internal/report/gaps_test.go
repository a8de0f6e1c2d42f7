package report_test

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// TestGapIsSpreadOverItsDays: a meter at a steady 2 kW, read every quarter
// hour from 27 October 2025 to 10 November, silent from Tuesday 28
// October at 20:00 to Thursday 30 October at 04:00. Every day of that week
// consumed 48 kWh (2 kW x 24 h), the energy the counter gained across the
// silence spread over it by time: Tuesday's last 4 hours (8 kWh), all of
// Wednesday and Thursday's first 4 hours are estimated, 64 kWh in all.
// The series answer (the dashboard's daily bars) gives each day the same
// kWh and estimated part as the report; the quarters of the silence are
// no demand, and the meter's gap is the data quality's silent period.
// Once retention removed the readings, the daily aggregates give the same
// days.
func TestGapIsSpreadOverItsDays(t *testing.T) {
	silentFrom, silentTo := local(2025, 10, 28, 20, 0), local(2025, 10, 30, 4, 0)
	src, st := meterWithGap(t, silentFrom, silentTo)
	week := report.Week(local(2025, 10, 29, 12, 0), brussels)
	r, m := meterOf(t, src, week)

	estimated := map[string]float64{"2025-10-28": 8, "2025-10-29": 48, "2025-10-30": 8}
	if len(m.Days) != 7 {
		t.Fatalf("days %+v, want the 7 of the week", m.Days)
	}
	for _, d := range m.Days {
		if !near(d.KWh, 48) || math.Abs(d.EstimatedKWh-estimated[d.Day]) > 1e-6 {
			t.Errorf("%s: %v kWh, %v estimated; want 48, %v estimated", d.Day, d.KWh, d.EstimatedKWh, estimated[d.Day])
		}
	}
	if !near(m.KWh, 7*48) || !near(m.EstimatedKWh, 64) || !near(r.Energy.Days[2].EstimatedKWh, 48) {
		t.Errorf("the week: %v kWh, %v estimated (Wednesday of all meters %v); want 336, 64 and 48", m.KWh, m.EstimatedKWh, r.Energy.Days[2].EstimatedKWh)
	}

	// The dashboard's daily bars: the same kWh and estimated part a day.
	got, err := series.Read(context.Background(), st, series.Query{DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "301"},
		Field: "E", Agg: "increase", Step: series.Step{Days: 1}, From: week.From, To: week.To}, brussels)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Points) != len(m.Days) {
		t.Fatalf("the series has %d days, the report %d", len(got.Points), len(m.Days))
	}
	barEstimate := map[int64]float64{}
	for _, e := range got.Estimated {
		barEstimate[e.Time.UnixMilli()] = e.Value
	}
	for i, p := range got.Points {
		d := m.Days[i]
		if !p.Time.Equal(d.Start) || !near(d.KWh, p.Value) || math.Abs(barEstimate[p.Time.UnixMilli()]-d.EstimatedKWh) > 1e-6 {
			t.Errorf("%s: the series gives %v kWh (%v estimated) on %s, the report %v (%v)", d.Day, p.Value, barEstimate[p.Time.UnixMilli()], p.Time.In(brussels), *d.KWh, d.EstimatedKWh)
		}
	}

	// 32 hours of quarters are left out of the demand: 7 x 96 - 128.
	if len(m.Profile) != 7*96-128 || m.PeakKW != 2 || m.BaseloadKW != 2 {
		t.Errorf("demand: %d quarters, peak %v kW, baseload %v kW; want 544, 2 and 2", len(m.Profile), m.PeakKW, m.BaseloadKW)
	}
	for _, q := range m.Profile {
		if !q.At.Before(silentFrom) && q.At.Before(silentTo) {
			t.Errorf("the quarter at %s, in the silence, is in the demand profile", q.At)
		}
	}

	if len(m.Gaps) != 1 || !m.Gaps[0].From.Equal(silentFrom) || !m.Gaps[0].To.Equal(silentTo) || m.Gaps[0].MissingHours != 31.75 || !m.Flagged {
		t.Errorf("gaps %+v (flagged %v), want Tuesday 20:00 to Thursday 04:00, 31.75 hours missing", m.Gaps, m.Flagged)
	}
	if q := r.Quality.Devices; len(q) != 1 || len(q[0].Silent) != 1 || q[0].Silent[0] != m.Gaps[0] {
		t.Errorf("data quality %+v, want the meter's gap %+v", q, m.Gaps)
	}

	var csv bytes.Buffer
	if err := r.CSV(&csv, "days", csvFormat(t, r, "")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), "\n2025-10-28,48.0,48.0,8.0\n") || !strings.Contains(csv.String(), "\n2025-10-27,48.0,48.0,0.0\n") {
		t.Errorf("the days' CSV lacks Tuesday's 8 kWh estimated, or Monday's none:\n%s", csv.String())
	}
	text, err := report.Text(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "64.0 kWh estimated") {
		t.Errorf("the text does not say what is estimated:\n%s", text)
	}

	// Once retention removed the week's readings, its days come from the
	// daily aggregates, with the same kWh and estimated parts.
	if _, err := st.ApplyRetention(context.Background(), store.Retention{Ages: func(string, string) store.Ages { return store.Ages{Raw: 9 * 24 * time.Hour} }},
		local(2025, 11, 12, 0, 0)); err != nil {
		t.Fatal(err)
	}
	_, m = meterOf(t, src, week)
	if !m.FromAggregates.Equal(week.To) || len(m.Days) != 7 {
		t.Fatalf("after retention: readings kept from %s, days %+v; want the week's days from the aggregates", m.FromAggregates, m.Days)
	}
	for _, d := range m.Days {
		if !near(d.KWh, 48) || math.Abs(d.EstimatedKWh-estimated[d.Day]) > 1e-6 {
			t.Errorf("%s from the aggregates: %v kWh, %v estimated; want 48, %v estimated", d.Day, d.KWh, d.EstimatedKWh, estimated[d.Day])
		}
	}
	if !near(m.KWh, 7*48) || !near(m.EstimatedKWh, 64) {
		t.Errorf("the week from the aggregates: %v kWh, %v estimated; want 336 and 64", m.KWh, m.EstimatedKWh)
	}
}

// TestDayEndsAtMidnight: the reading at midnight closes the day before,
// in the report and in the series at every step: a full Monday of 2 kW is
// 48 kWh, by day or added up by hour or quarter, not 47.5.
func TestDayEndsAtMidnight(t *testing.T) {
	src, st := meterWithGap(t, time.Time{}, time.Time{})
	monday := local(2025, 11, 3, 0, 0)
	_, m := meterOf(t, src, report.Period{From: monday, To: monday.AddDate(0, 0, 1), Kind: "range"})
	if len(m.Days) != 1 || !near(m.Days[0].KWh, 48) || m.Days[0].EstimatedKWh != 0 {
		t.Fatalf("the report's Monday %+v, want 48 kWh, none estimated", m.Days)
	}
	for _, step := range []series.Step{{Days: 1}, {Dur: time.Hour}, {Dur: report.Quarter}} {
		got, err := series.Read(context.Background(), st, series.Query{DeviceKey: store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "301"},
			Field: "E", Agg: "increase", Step: step, From: monday, To: monday.AddDate(0, 0, 1)}, brussels)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, p := range got.Points {
			sum += p.Value
		}
		if math.Abs(sum-48) > 1e-9 || len(got.Estimated) != 0 || !got.Points[0].Time.Equal(monday) {
			t.Errorf("step %s: Monday adds up to %v kWh from %s (estimated %v), want 48 from midnight, none estimated", step, sum, got.Points[0].Time, got.Estimated)
		}
	}
}

// meterWithGap stores a meter at a steady 2 kW read every quarter hour
// from 27 October 2025 to 10 November (no change of time), without the
// readings strictly between silentFrom and silentTo.
func meterWithGap(t *testing.T, silentFrom, silentTo time.Time) (*report.Source, store.Store) {
	t.Helper()
	var rs []reading.Reading
	for at, n := local(2025, 10, 27, 0, 0), 0; !at.After(local(2025, 11, 10, 0, 0)); at, n = at.Add(report.Quarter), n+1 {
		if at.After(silentFrom) && at.Before(silentTo) {
			continue
		}
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier",
			Time: at, Received: at, MsgCount: int64(n + 1), Fields: map[string]float64{"E": 10000 + 0.5*float64(n)}, Units: map[string]string{"E": "kWh"}})
	}
	src, st := meterSource(t, rs)
	src.Now = func() time.Time { return local(2025, 11, 12, 0, 0) }
	return src, st
}
