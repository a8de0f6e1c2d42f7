package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
)

// steadyMeter stores two weeks (27 October to 10 November 2025, no change
// of time) of a meter drawing 2 kW, a reading every quarter hour, through
// value, which gives the counter at a reading's time from the steady one.
func steadyMeter(t *testing.T, value func(at time.Time, steady float64) float64) (*report.Source, store.Store) {
	t.Helper()
	var rs []reading.Reading
	// The meter reads 49,262.5 kWh on Wednesday 5 November at 12:00.
	at0 := local(2025, 11, 5, 12, 0)
	for at, n := local(2025, 10, 27, 0, 0), 1; !at.After(local(2025, 11, 10, 0, 0)); at, n = at.Add(report.Quarter), n+1 {
		steady := 49262.5 + float64(at.Sub(at0)/report.Quarter)*0.5
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier",
			Time: at, Received: at, MsgCount: int64(n), Fields: map[string]float64{"E": value(at, steady)}, Units: map[string]string{"E": "kWh"}})
	}
	return meterSource(t, rs)
}

// meterSource stores a meter's readings for a report of finemeca.
func meterSource(t *testing.T, rs []reading.Reading) (*report.Source, store.Store) {
	t.Helper()
	cfg := config.Default()
	cfg.Customers = []string{"finemeca"}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: brussels})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	return &report.Source{Store: st, Config: cfg, Location: brussels}, st
}

func meterOf(t *testing.T, src *report.Source, p report.Period) (*report.Report, report.Meter) {
	t.Helper()
	r, err := src.Make(context.Background(), "finemeca", p)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Energy.Meters) != 1 {
		t.Fatalf("%d meters, want 301", len(r.Energy.Meters))
	}
	return r, r.Energy.Meters[0]
}

// TestJitterIsNotAReset: the meter reads 49,262.5 kWh, then 49,262.4 a
// quarter later (a gateway's replay of an older value), then goes on. The
// step back is jitter: no reset, and the day's consumption is the 48 kWh
// of 2 kW over 24 h, not 49,262 kWh.
func TestJitterIsNotAReset(t *testing.T) {
	src, _ := steadyMeter(t, func(at time.Time, steady float64) float64 {
		if at.Equal(local(2025, 11, 5, 12, 15)) {
			return 49262.4
		}
		return steady
	})
	week := report.Week(local(2025, 11, 5, 12, 0), brussels)
	r, m := meterOf(t, src, week)
	if len(m.Resets) != 0 || m.Flagged {
		t.Errorf("resets %v, flagged %v: want none for a step back of 0.1 kWh", m.Resets, m.Flagged)
	}
	for _, d := range m.Days {
		if !near(d.KWh, 48) {
			t.Errorf("%s: %v kWh, want 48", d.Day, d.KWh)
		}
	}
	if !near(m.KWh, 7*48) || !near(m.PreviousKWh, 7*48) || !near(m.DiffKWh, 0) || !near(r.Energy.KWh, 7*48) {
		t.Errorf("week %v kWh (customer %v), before %v, diff %v; want 336, 336, 0", m.KWh, r.Energy.KWh, m.PreviousKWh, m.DiffKWh)
	}
	// The quarter of 12:00 counts nothing, that of 12:15 both quarters'
	// kWh: the highest value read stays the baseline, so the 0.1 kWh of
	// the step back is not counted twice.
	if !near(m.PeakKW, 4) || !m.PeakAt.Equal(local(2025, 11, 5, 12, 15)) {
		t.Errorf("peak %v kW at %s, want 4 kW at Wednesday 12:15", m.PeakKW, m.PeakAt)
	}
}

// TestResetCountsFromZero: the meter restarts from zero on Friday at
// 12:00 (it reads the quarter's 0.5 kWh): a reset, listed, and the
// consumption goes on from zero.
func TestResetCountsFromZero(t *testing.T) {
	restart := local(2025, 11, 7, 12, 0)
	src, _ := steadyMeter(t, func(at time.Time, steady float64) float64 {
		if !at.Before(restart) {
			return 0.5 + float64(at.Sub(restart)/report.Quarter)*0.5
		}
		return steady
	})
	_, m := meterOf(t, src, report.Week(restart, brussels))
	if len(m.Resets) != 1 || !m.Resets[0].Equal(restart) || !m.Flagged {
		t.Errorf("resets %v, flagged %v; want Friday 12:00", m.Resets, m.Flagged)
	}
	if !near(m.KWh, 7*48) || !near(m.PeakKW, 2) {
		t.Errorf("week %v kWh, peak %v kW; want 336 and 2", m.KWh, m.PeakKW)
	}
}

// TestInvalidLeftOut: intervals marked invalid leave the consumption of
// the readings' intervals that overlap them out of the days, the week,
// the demand profile and the week before, and the report lists them.
func TestInvalidLeftOut(t *testing.T) {
	src, st := steadyMeter(t, func(_ time.Time, steady float64) float64 { return steady })
	k := store.DeviceKey{Customer: "finemeca", Sensor: "centrale", Device: "301"}
	mark := func(from, to time.Time, reason string) {
		if _, err := st.MarkInvalid(context.Background(), store.InvalidInterval{DeviceKey: k, From: from, To: to, Reason: reason, MarkedBy: "admin", MarkedAt: to}); err != nil {
			t.Fatal(err)
		}
	}
	// Thursday 10:00 to 11:00: the 4 intervals that end 10:15 to 11:00.
	mark(local(2025, 11, 6, 10, 0), local(2025, 11, 6, 11, 0), "meter on the test bench")
	// Tuesday of the week before, 08:05 to 08:10: the interval 08:00-08:15.
	mark(local(2025, 10, 28, 8, 5), local(2025, 10, 28, 8, 10), "replayed by hand")
	r, m := meterOf(t, src, report.Week(local(2025, 11, 6, 0, 0), brussels))
	if !near(m.Days[3].KWh, 46) || !near(m.KWh, 7*48-2) || !near(m.PreviousKWh, 7*48-0.5) || !near(r.Energy.KWh, 7*48-2) {
		t.Errorf("Thursday %v kWh, week %v, before %v; want 46, 334, 335.5", m.Days[3].KWh, m.KWh, m.PreviousKWh)
	}
	if len(m.Invalid) != 1 || m.Invalid[0].Reason != "meter on the test bench" || m.Invalid[0].MarkedBy != "admin" {
		t.Errorf("listed %+v, want Thursday's interval with its reason", m.Invalid)
	}
	if len(m.Profile) != 7*24*4-4 {
		t.Errorf("%d quarters in the demand profile, want 7 days of 96 less the 4 left out", len(m.Profile))
	}
	text, err := report.Text(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "left out, marked invalid by admin: 2025-11-06 10:00:00 to 2025-11-06 11:00:00, meter on the test bench") {
		t.Errorf("the mail's text does not say what was left out:\n%s", text)
	}
	var csv bytes.Buffer
	if err := r.CSV(&csv, "meters", csvFormat(t, r, "")); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(csv.String()), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[0], ",Invalid intervals") || !strings.HasSuffix(lines[1], ",1") {
		t.Errorf("the meters' CSV does not count the invalid interval:\n%s", csv.String())
	}
}

// TestNoDataIsNotZero: a meter at 2 kW, first read on Tuesday 28 October
// 2025 at 00:00, reported on Saturday at noon: Monday, which no reading
// tells of, is no data (null, an empty cell, a dash), not 0 kWh; Sunday,
// to come, is not listed; the week before, without readings, is no
// comparison, not one with 0 kWh.
func TestNoDataIsNotZero(t *testing.T) {
	cfg := config.Default()
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: brussels})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := local(2025, 11, 1, 12, 0)
	var rs []reading.Reading
	for at, n := local(2025, 10, 28, 0, 0), 1; !at.After(now); at, n = at.Add(report.Quarter), n+1 {
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Time: at, Received: at, MsgCount: int64(n),
			Fields: map[string]float64{"E": 1000 + float64(n-1)*0.5}, Units: map[string]string{"E": "kWh"}})
	}
	if _, err := st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	src := &report.Source{Store: st, Config: cfg, Location: brussels, Now: func() time.Time { return now }}
	r, m := meterOf(t, src, report.Week(now, brussels))

	var days []string
	for _, d := range m.Days {
		days = append(days, d.Day)
	}
	if len(m.Days) != 6 || m.Days[5].Day != "2025-11-01" {
		t.Fatalf("days %v, want Monday to Saturday (Sunday is to come)", days)
	}
	if m.Days[0].KWh != nil || r.Energy.Days[0].KWh != nil {
		t.Errorf("Monday, without readings: %v kWh (all meters %v), want no data", m.Days[0].KWh, r.Energy.Days[0].KWh)
	}
	if !near(m.Days[1].KWh, 48) || !near(m.Days[5].KWh, 24) {
		t.Errorf("Tuesday %v, Saturday %v kWh, want 48 and 24", m.Days[1].KWh, m.Days[5].KWh)
	}
	if m.PreviousKWh != nil || m.DiffKWh != nil || m.DiffPct != nil || r.Energy.PreviousKWh != nil {
		t.Errorf("the week before has no readings: previous %v, diff %v, %v", m.PreviousKWh, m.DiffKWh, m.DiffPct)
	}
	var js bytes.Buffer
	if err := json.NewEncoder(&js).Encode(r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"day":"2025-10-27","start":"2025-10-27T00:00:00+01:00","kwh":null`, `"previous_kwh":null`, `"diff_kwh":null`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("the JSON lacks %s", want)
		}
	}
	var csv bytes.Buffer
	if err := r.CSV(&csv, "days", csvFormat(t, r, "")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), "\n2025-10-27,,") {
		t.Errorf("Monday's CSV row is not empty cells:\n%s", csv.String())
	}
	text, err := report.Text(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "no readings in the period before to compare with") || strings.Contains(text, "against 0.0 kWh") {
		t.Errorf("the text compares with nothing as with 0 kWh:\n%s", text)
	}
}
