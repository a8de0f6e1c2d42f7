package report_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/alert/notify"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/ingest"
	"github.com/sensorhub/sensorhub/internal/locale"
	"github.com/sensorhub/sensorhub/internal/metrics"
	"github.com/sensorhub/sensorhub/internal/plan"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/sqlite"
	"github.com/sensorhub/sensorhub/internal/store/sqlstore"
	"gonum.org/v1/plot/font"
)

var brussels, _ = time.LoadLocation("Europe/Brussels")

func local(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, brussels)
}

// power is the fixture meter's power, kW, over the quarter that starts at
// q (local time): 20 kW on weekdays from 07:00 to 18:00 (18 kW the week
// before), 2 kW otherwise; 36 kW on Thursday 23 October from 10:15 to
// 10:30; nothing on Friday 24 October from 23:00 to 23:15 (a power cut).
func power(q time.Time) float64 {
	q = q.In(brussels)
	switch {
	case q.Equal(local(2025, 10, 23, 10, 15)):
		return 36
	case q.Equal(local(2025, 10, 24, 23, 0)):
		return 0
	case q.Weekday() != time.Saturday && q.Weekday() != time.Sunday && q.Hour() >= 7 && q.Hour() < 18:
		if q.Before(local(2025, 10, 20, 0, 0)) {
			return 18
		}
		return 20
	}
	return 2
}

// fixture stores, through ingest as MQTT messages would be, two weeks of
// finemeca's power meter 301 (a reading every quarter hour: the week of 13
// October, and the week of 20 October, which ends on the 25-hour Sunday
// of the change of time) and of its air line 201 (a reading a minute, in
// the second week), with the counter reset, the gap and the leaks the
// report must find.
func fixture(t *testing.T) (*report.Source, store.Store) {
	t.Helper()
	cfg := config.Default()
	cfg.Customers = []string{"finemeca", "acme"}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	p := plan.MustCompile(cfg)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: brussels})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := &ingest.Ingester{Decoder: p.Decoder, Formulas: p.Formulas, Store: st, Metrics: metrics.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var envs []reading.Envelope
	msg := func(topic, payload string) {
		envs = append(envs, reading.Envelope{Topic: topic, Payload: []byte(payload), Received: time.Now(), Source: "mqtt"})
	}
	e, n := 1000.0, 0
	for at := local(2025, 10, 13, 0, 0); !at.After(local(2025, 10, 27, 0, 0)); at = at.Add(report.Quarter) {
		n++
		e += power(at.Add(-report.Quarter)) / 4
		if at.Equal(local(2025, 10, 22, 12, 0)) {
			e = power(at.Add(-report.Quarter)) / 4 // the meter restarts from zero
		}
		if at.After(local(2025, 10, 21, 14, 0)) && at.Before(local(2025, 10, 21, 16, 0)) {
			continue // lost: a gap of two hours, 7 messages
		}
		msg("finemeca/centrale/301", fmt.Sprintf(`{"Customer":"finemeca","idDevice":301,"Device":"centrale-atelier","Mod":"centrale","Time":%d,"msgCount":%d,"E":%.2f,"P":%.1f}`,
			at.UnixMilli(), n, e, power(at)))
	}
	pres := func(at time.Time) float64 {
		for start, ps := range map[time.Time][]float64{
			local(2025, 10, 23, 9, 0):  {5.9, 5.7, 5.5}, // a leak of 3 minutes, down 1.0 bar from 6.5
			local(2025, 10, 25, 14, 0): {5.95, 5.9},     // a leak of 2 minutes, down 0.6 bar
		} {
			if i := int(at.Sub(start) / time.Minute); !at.Before(start) && i < len(ps) {
				return ps[i]
			}
		}
		return 6.5
	}
	for i, at := 0, local(2025, 10, 20, 0, 0); at.Before(local(2025, 10, 27, 0, 0)); i, at = i+1, at.Add(time.Minute) {
		msg("finemeca/air/201", fmt.Sprintf(`{"Customer":"finemeca","idDevice":201,"Device":"air-line-1","Mod":"air","Time":%d,"msgCount":%d,"Pres":%.2f,"OpenPres":6}`,
			at.UnixMilli(), i+1, pres(at)))
	}
	for i := 0; i < len(envs); i += 2000 {
		if _, err := in.Ingest(context.Background(), envs[i:min(i+2000, len(envs))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Write(context.Background(), store.Batch{Rejected: []reading.Rejected{
		{Topic: "finemeca/air/201", Payload: []byte(`{`), Reason: "invalid JSON", Received: local(2025, 10, 21, 8, 0), Source: "mqtt", Customer: "finemeca"},
		{Topic: "finemeca/air/201", Payload: []byte(`{"`), Reason: "invalid JSON", Received: local(2025, 10, 26, 8, 0), Source: "mqtt", Customer: "finemeca"},
		{Topic: "finemeca/air/201", Payload: []byte(`[`), Reason: "invalid JSON", Received: local(2025, 10, 15, 8, 0), Source: "mqtt", Customer: "finemeca"},
		{Topic: "acme/air/9", Payload: []byte(`{`), Reason: "invalid JSON", Received: local(2025, 10, 21, 8, 0), Source: "mqtt", Customer: "acme"},
	}}); err != nil {
		t.Fatal(err)
	}
	return &report.Source{Store: st, Config: cfg, Location: brussels}, st
}

// near reports whether got, a figure (float64) or one that may be no
// data (*float64, nil never near), is want to a millionth.
func near(got any, want float64) bool {
	switch v := got.(type) {
	case float64:
		return math.Abs(v-want) < 1e-6
	case *float64:
		return v != nil && math.Abs(*v-want) < 1e-6
	}
	return false
}

// TestWeekByHand: the report of the week of 20 October 2025, which ends
// on the 25-hour Sunday of the change of time and holds a counter reset
// and a gap, equals the figures worked out by hand below.
func TestWeekByHand(t *testing.T) {
	src, _ := fixture(t)
	week := report.Week(local(2025, 10, 22, 15, 0), brussels)
	if !week.From.Equal(local(2025, 10, 20, 0, 0)) || !week.To.Equal(local(2025, 10, 27, 0, 0)) {
		t.Fatalf("the week of Wednesday 22 October: %s to %s", week.From, week.To)
	}
	r, err := src.Make(context.Background(), "finemeca", week)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Energy.Meters) != 1 {
		t.Fatalf("%d meters, want the power meter 301", len(r.Energy.Meters))
	}
	m := r.Energy.Meters[0]

	// kWh per day. A weekday: 11 h at 20 kW (07:00-18:00) + 13 h at
	// 2 kW = 220 + 26 = 246. Thursday: the quarter 10:15-10:30 at 36 kW
	// instead of 20 adds (36-20)/4 = 4: 250. Friday: the quarter
	// 23:00-23:15 at 0 instead of 2 takes 0.5: 245.5. Saturday: 24 h at
	// 2 kW = 48. Sunday: 25 h at 2 kW = 50. Tuesday's gap and Wednesday's
	// reset change nothing: the counter gives what was consumed across
	// the gap, and a counter that restarts from zero counts its new value.
	wantDays := []float64{246, 246, 246, 250, 245.5, 48, 50}
	if len(m.Days) != 7 {
		t.Fatalf("%d days, want 7", len(m.Days))
	}
	for i, d := range m.Days {
		if !near(d.KWh, wantDays[i]) || !d.Start.Equal(week.From.AddDate(0, 0, i)) {
			t.Errorf("%s: %v kWh, want %v", d.Day, d.KWh, wantDays[i])
		}
	}
	// The week: 246 x 3 + 250 + 245.5 + 48 + 50 = 1331.5 kWh. The week
	// before: 5 weekdays of 11 h at 18 kW + 13 h at 2 kW = 224, and two
	// days of 48: 1120 + 96 = 1216. Difference: 115.5 kWh, 9.498 %.
	if !near(m.KWh, 1331.5) || !near(m.PreviousKWh, 1216) || !near(m.DiffKWh, 115.5) || m.DiffPct == nil || !near(*m.DiffPct, 115.5/1216*100) {
		t.Errorf("week %v kWh, before %v, diff %v (%v %%); want 1331.5, 1216, 115.5, %.3f %%", m.KWh, m.PreviousKWh, m.DiffKWh, m.DiffPct, 115.5/1216*100)
	}
	// The peak: the quarter at 36 kW, Thursday 10:15. Tuesday's quarter
	// 15:45-16:00, into which the gap's 2 hours of consumption fall
	// (40 kWh, "160 kW"), is not in the demand profile.
	if !near(m.PeakKW, 36) || !m.PeakAt.Equal(local(2025, 10, 23, 10, 15)) {
		t.Errorf("peak %v kW at %s, want 36 kW at Thursday 10:15", m.PeakKW, m.PeakAt)
	}
	if len(m.Profile) != 169*4-8 {
		t.Errorf("%d quarters in the demand profile, want 169 h x 4 less the 8 of the gap", len(m.Profile))
	}
	// The baseload: the 10th percentile of the night quarters (22:00 to
	// 06:00), all at 2 kW but Friday's power cut: 2 kW, where the lowest
	// quarter would say 0.
	if !near(m.BaseloadKW, 2) {
		t.Errorf("baseload %v kW, want 2", m.BaseloadKW)
	}
	// At night (22:00-06:00), 8 h a day at 2 kW = 16 kWh; Friday 15.5
	// (the cut); Sunday 9 h (its second 02:00-03:00) = 18. In all
	// 16 x 5 + 15.5 + 18 = 113.5 of 1331.5. The weekend: 48 + 50 = 98.
	if !near(m.NightShare, 113.5/1331.5) || !near(m.WeekendShare, 98/1331.5) {
		t.Errorf("night share %v, weekend share %v; want %v and %v", m.NightShare, m.WeekendShare, 113.5/1331.5, 98/1331.5)
	}
	// The reset at Wednesday 12:00; the gap from Tuesday 14:00 to 16:00,
	// 2 h less one usual interval of 15 min: 1.75 h missing.
	if !m.Flagged || len(m.Resets) != 1 || !m.Resets[0].Equal(local(2025, 10, 22, 12, 0)) {
		t.Errorf("resets %v, flagged %v; want Wednesday 12:00", m.Resets, m.Flagged)
	}
	if len(m.Gaps) != 1 || !m.Gaps[0].From.Equal(local(2025, 10, 21, 14, 0)) || !m.Gaps[0].To.Equal(local(2025, 10, 21, 16, 0)) || !near(m.Gaps[0].MissingHours, 1.75) {
		t.Errorf("gaps %+v, want Tuesday 14:00 to 16:00, 1.75 h missing", m.Gaps)
	}
	if !near(r.Energy.KWh, 1331.5) || !near(r.Energy.PeakKW, 36) || len(r.Energy.Days) != 7 || !near(r.Energy.Days[3].KWh, 250) {
		t.Errorf("the customer's total %+v, want the one meter's", r.Energy.Total)
	}

	// Air: two leaks. Thursday 09:00: 3 minutes below 6 bar (09:00 to the
	// first reading back, 09:03), from 6.5 bar down to 5.5: 500 l x 1.0
	// bar / 1.01325 bar = 493.46 Nl. Saturday 14:00: 2 minutes, down 0.6
	// bar: 296.08 Nl. In all 300 s and 0.78954 Nm3, at 0.02 a Nm3:
	// 0.015791; a year: the mean cost per day of the 7 days measured
	// (Sunday's 25 hours are one day) x 365.
	if len(r.Air.Lines) != 1 {
		t.Fatalf("%d air lines, want 201", len(r.Air.Lines))
	}
	l := r.Air.Lines[0]
	lost := 500 * (1.0 + 0.6) / 1.01325 / 1000
	if l.Leaks != 2 || !near(l.SecondsBelow, 300) || !near(l.LostNm3, lost) || !near(l.Cost, lost*0.02) || !near(l.CostPerYear, lost*0.02*365/7) {
		t.Errorf("air line %+v; want 2 leaks, 300 s, %v Nm3, cost %v", l, lost, lost*0.02)
	}
	if w := r.Air.Worst; w == nil || w.Device != "201" || !w.Start.Equal(local(2025, 10, 23, 9, 0)) || !near(w.Seconds, 180) || !near(w.LostNm3, 500*1.0/1.01325/1000) {
		t.Errorf("worst leak %+v, want Thursday 09:00, 3 minutes, 0.49346 Nm3", w)
	}

	// Data quality: 169 h x 4 = 676 quarters, 7 lost in the gap: 669
	// received. The air line: 168 h x 60 + 60 (Sunday's 25th hour) =
	// 10140 readings, none lost. Two of finemeca's rejected messages are
	// in the week (not the one of the week before, nor acme's).
	byDevice := map[string]report.DeviceQuality{}
	for _, q := range r.Quality.Devices {
		byDevice[q.Device] = q
	}
	if q := byDevice["301"]; q.Expected != 676 || q.Received != 669 || q.Lost != 7 || len(q.Silent) != 1 {
		t.Errorf("meter 301: %+v, want 676 expected, 669 received, 7 lost, the one gap", q)
	}
	if q := byDevice["201"]; q.Expected != 10140 || q.Received != 10140 || q.Lost != 0 || len(q.Silent) != 0 {
		t.Errorf("air line 201: %+v, want 10140 received, none lost", q)
	}
	if r.Quality.Rejected != 2 {
		t.Errorf("%d rejected messages, want 2", r.Quality.Rejected)
	}
}

// TestPeriods: weeks run Monday to Monday and months by the calendar, in
// the zone, across changes of time; the period before is the week or
// month before.
func TestPeriods(t *testing.T) {
	w := report.Week(local(2025, 10, 26, 23, 30), brussels) // a Sunday
	if !w.From.Equal(local(2025, 10, 20, 0, 0)) || !w.To.Equal(local(2025, 10, 27, 0, 0)) || w.To.Sub(w.From) != 169*time.Hour {
		t.Errorf("week %s - %s", w.From, w.To)
	}
	if p := w.Previous(); !p.From.Equal(local(2025, 10, 13, 0, 0)) || !p.To.Equal(w.From) {
		t.Errorf("the week before %s - %s", p.From, p.To)
	}
	m := report.Month(local(2025, 3, 15, 12, 0), brussels)
	if !m.From.Equal(local(2025, 3, 1, 0, 0)) || !m.To.Equal(local(2025, 4, 1, 0, 0)) || m.To.Sub(m.From) != (31*24-1)*time.Hour {
		t.Errorf("March %s - %s", m.From, m.To)
	}
	if p := m.Previous(); !p.From.Equal(local(2025, 2, 1, 0, 0)) {
		t.Errorf("the month before March starts %s", p.From)
	}
}

// TestTablesAndCharts: the CSV of each table holds the report's numbers,
// the charts are PNG images, and periods are read as the API and the
// command give them.
func TestTablesAndCharts(t *testing.T) {
	src, _ := fixture(t)
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]string{
		"days":    "2025-10-26,50.0,50.0,0.0\n",
		"meters":  "centrale,301,centrale-atelier,1331.5,1216.0,115.5,9.5,",
		"air":     "air,201,air-line-1,2,300,",
		"quality": "centrale,301,centrale-atelier,676,669,7,1,1.75\n",
		"demand":  "Quarter (Europe/Brussels),Demand (kW)\n",
		"demand ": "2025-10-23 10:15:00,36.0\n",
	} {
		var b strings.Builder
		if err := r.CSV(&b, strings.TrimSpace(table), csvFormat(t, r, "")); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("CSV %s does not hold %q:\n%.600s", table, want, b.String())
		}
	}
	for _, name := range report.Charts {
		png, err := r.Chart(name)
		if err != nil {
			t.Fatal(err)
		}
		img, err := pngDecode(png)
		if err != nil || img.Bounds().Dx() < 400 {
			t.Errorf("chart %s: %v, %v", name, err, img)
		}
	}
	now := local(2025, 10, 29, 9, 0)
	for _, c := range []struct{ from, to, kind, date, want string }{
		{"", "", "", "", "week 2025-10-20 2025-10-27"},
		{"", "", "month", "", "month 2025-09-01 2025-10-01"},
		{"", "", "month", "2025-03-15", "month 2025-03-01 2025-04-01"},
		{"2025-10-20", "2025-10-27", "", "", "week 2025-10-20 2025-10-27"},
		{"2025-10-01", "2025-10-15", "", "", "range 2025-10-01 2025-10-15"},
		{strconv.FormatInt(local(2025, 10, 20, 0, 0).UnixMilli(), 10), "2025-10-27T00:00:00+01:00", "", "", "week 2025-10-20 2025-10-27"},
	} {
		p, err := report.ParsePeriod(c.from, c.to, c.kind, c.date, brussels, now)
		if got := fmt.Sprintf("%s %s %s", p.Kind, p.From.Format(time.DateOnly), p.To.Format(time.DateOnly)); err != nil || got != c.want {
			t.Errorf("%+v: %s %v, want %s", c, got, err, c.want)
		}
	}
	for _, bad := range [][4]string{{"2025-10-20", "", "", ""}, {"2025-10-27", "2025-10-20", "", ""}, {"", "", "year", ""}, {"yesterday", "today", "", ""}} {
		if _, err := report.ParsePeriod(bad[0], bad[1], bad[2], bad[3], brussels, now); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func pngDecode(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }

// TestWeekPastRetention: once the readings of the week's first three days
// are past their age, the report takes those days' kWh from the daily
// aggregates (to within the one reading interval at the boundary, which
// the aggregates count in the day it starts), says so, and computes the
// rest from the readings kept: nothing silently drops to zero.
func TestWeekPastRetention(t *testing.T) {
	src, st := fixture(t)
	kept := local(2025, 10, 23, 0, 0)
	now := local(2025, 10, 30, 12, 0)
	if _, err := st.ApplyRetention(context.Background(), store.Retention{Ages: func(string, string) store.Ages {
		return store.Ages{Raw: now.Sub(kept) - 12*time.Hour}
	}}, now); err != nil {
		t.Fatal(err)
	}
	r, err := src.Make(context.Background(), "finemeca", report.Week(kept, brussels))
	if err != nil {
		t.Fatal(err)
	}
	m := r.Energy.Meters[0]
	want := []float64{246, 246, 246, 250, 245.5, 48, 50}
	for i, d := range m.Days {
		if d.KWh == nil || math.Abs(*d.KWh-want[i]) > 0.5+1e-9 {
			t.Errorf("%s: %v kWh, want %v", d.Day, d.KWh, want[i])
		}
	}
	if math.Abs(m.KWh-1331.5) > 1 || m.PreviousKWh == nil || math.Abs(*m.PreviousKWh-1216) > 1 {
		t.Errorf("week %v kWh, the week before %v: want about 1331.5 and 1216", m.KWh, m.PreviousKWh)
	}
	if !m.FromAggregates.Equal(kept) || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "Readings before 2025-10-23 are no longer kept") {
		t.Errorf("from aggregates %s, notes %q: want both to say the readings are kept from Thursday", m.FromAggregates, r.Notes)
	}
	if !near(m.PeakKW, 36) || !m.PeakAt.Equal(local(2025, 10, 23, 10, 15)) || len(m.Gaps) != 0 || len(m.Resets) != 0 {
		t.Errorf("peak %v at %s, gaps %v, resets %v: want Thursday's peak, and no gap at the boundary", m.PeakKW, m.PeakAt, m.Gaps, m.Resets)
	}
}

// TestSilentAtTheEdges: a device that stops reporting is silent from its
// last reading until now, in a period not over yet; days whose readings
// retention removed are not silence.
func TestSilentAtTheEdges(t *testing.T) {
	src, st := fixture(t)
	now := local(2025, 10, 29, 12, 0)
	src.Now = func() time.Time { return now }
	r, err := src.Make(context.Background(), "finemeca", report.Week(now, brussels))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range r.Quality.Devices {
		want := local(2025, 10, 27, 0, 0) // the meter's last reading; the air line sent nothing this week
		if len(q.Silent) != 1 || !q.Silent[0].To.Equal(now) || q.Device == "301" && !q.Silent[0].From.Equal(want) {
			t.Errorf("device %s this week: silent %+v, want one period until now", q.Device, q.Silent)
		}
	}
	kept := local(2025, 10, 23, 0, 0)
	if _, err := st.ApplyRetention(context.Background(), store.Retention{Ages: func(string, string) store.Ages {
		return store.Ages{Raw: now.Sub(kept) - 12*time.Hour}
	}}, now); err != nil {
		t.Fatal(err)
	}
	src.Now = nil
	r, err = src.Make(context.Background(), "finemeca", report.Week(kept, brussels))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range r.Quality.Devices {
		if len(q.Silent) != 0 || q.Device == "301" && q.Received != 3*96+100 {
			t.Errorf("device %s over a week whose first days were removed: %+v, want no silence and the readings from Thursday", q.Device, q)
		}
	}
}

// TestReportReadsLikeThePage: the charts' text is in a sans-serif face,
// the demand chart names its peak in its title rather than in a legend
// beside a stray mark, durations read "5 min", and a device that first
// reported after a period is not in that period's data quality.
func TestReportReadsLikeThePage(t *testing.T) {
	src, _ := fixture(t)
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range report.Charts {
		p, err := r.Plot(name)
		if err != nil {
			t.Fatal(err)
		}
		for what, f := range map[string]font.Variant{"title": p.Title.TextStyle.Font.Variant, "x ticks": p.X.Tick.Label.Font.Variant,
			"y ticks": p.Y.Tick.Label.Font.Variant, "legend": p.Legend.TextStyle.Font.Variant} {
			if f != "Sans" {
				t.Errorf("chart %s: the %s are in %q, want Sans", name, what, f)
			}
		}
		if name == "demand" && p.Title.Text != "15-minute demand (kW), peak 36.0 kW on 2025-10-23 10:15:00" {
			t.Errorf("demand chart's title %q does not name the peak", p.Title.Text)
		}
	}
	text, err := report.Text(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "air-line-1 (201): 2 leaks, 5 min below") || strings.Contains(text, "m0s") {
		t.Errorf("the leaks' durations are not written for people:\n%s", text)
	}
	for sec, want := range map[float64]string{30: "30 s", 300: "5 min", 42000: "11 h 40 min", 7200: "2 h", 605000: "168 h 3 min"} {
		if got := report.Funcs(locale.Locale{})["dur"].(func(float64) string)(sec); got != want {
			t.Errorf("%v s reads %q, want %q", sec, got, want)
		}
	}

	// The air line first reported on 20 October: the week before, it is
	// not a device that stayed silent for 168 hours.
	r, err = src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 15, 12, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	var devices []string
	for _, q := range r.Quality.Devices {
		devices = append(devices, q.Device)
	}
	if strings.Join(devices, ",") != "301" {
		t.Errorf("the week of 13 October's data quality lists devices %v, want only the meter 301", devices)
	}
}

// TestCSVNeutralisesFormulas: a device whose name or id a spreadsheet
// would run as a formula is written with a leading apostrophe in every
// table that names it, in the API's CSV and the mail's attachments alike,
// while negative numbers stay numbers.
func TestCSVNeutralisesFormulas(t *testing.T) {
	src, st := fixture(t)
	name, id := `=cmd|' /C calc'!A0`, "@SUM(A1)"
	var rs []reading.Reading
	for i, at := 0, local(2025, 10, 21, 0, 0); i < 8; i, at = i+1, at.Add(report.Quarter) {
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: id, Name: name, Time: at, Received: at,
			MsgCount: int64(i + 1), Fields: map[string]float64{"E": 10 + float64(i), "P": -3.5, reading.FieldLost: 0}})
	}
	if _, err := st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	r, mail := weekMail(t, src)
	for table, want := range map[string]string{
		"days":    `Energy @SUM(A1) (kWh)`,
		"meters":  `centrale,'@SUM(A1),'=cmd|' /C calc'!A0,`,
		"quality": `centrale,'@SUM(A1),'=cmd|' /C calc'!A0,`,
	} {
		var b strings.Builder
		if err := r.CSV(&b, table, csvFormat(t, r, "")); err != nil {
			t.Fatal(err)
		}
		attached := string(mail.Attach[report.FileName(r, table, "csv")])
		for _, got := range []string{b.String(), attached} {
			if !strings.Contains(got, want) || strings.Contains(got, ",=") || strings.Contains(got, ",@") {
				t.Errorf("CSV %s does not neutralise the device's name and id (want %q):\n%.800s", table, want, got)
			}
		}
	}
	var b strings.Builder
	if err := r.CSV(&b, "demand", csvFormat(t, r, "")); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "'") {
		t.Errorf("the demand table's times and numbers got apostrophes:\n%.300s", b.String())
	}
}

// TestPeriodOutOfRange: periods that end after EndDay or whose period
// before starts before FirstDay, as dates, RFC 3339 times or Unix
// milliseconds, are errors that say the range; the last month in it is
// not.
func TestPeriodOutOfRange(t *testing.T) {
	now := local(2025, 10, 29, 9, 0)
	for _, bad := range [][4]string{
		{"", "", "month", "9999-12-01"},
		{"", "", "week", "9999-12-28"},
		{"", "", "month", "1900-01-15"},
		{"9999-12-30", "9999-12-31T23:59:59Z", "", ""},
		{"9223372036854000000", "9223372036854775807", "", ""},
		{"-62135596800000", "-62135510400000", "", ""},
	} {
		_, err := report.ParsePeriod(bad[0], bad[1], bad[2], bad[3], brussels, now)
		if err == nil || !strings.Contains(err.Error(), "out of range") || !strings.Contains(err.Error(), "9999-12-01") {
			t.Errorf("%v: %v, want an error naming the range", bad, err)
		}
	}
	if p, err := report.ParsePeriod("", "", "month", "9999-11-15", brussels, now); err != nil || !p.To.Equal(time.Date(9999, 12, 1, 0, 0, 0, 0, brussels)) {
		t.Errorf("November 9999: %+v %v", p, err)
	}
}

// csvFormat is r's CSV format with the separator sep asks for.
func csvFormat(t *testing.T, r *report.Report, sep string) locale.CSVFormat {
	t.Helper()
	f, err := r.CSVFormat(sep)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestReportInLocale: with locale fr-BE the mail's subject and text write
// figures and dates as in Belgium, and its CSV attachments are split by
// semicolons with decimal commas, after a BOM.
func TestReportInLocale(t *testing.T) {
	src, _ := fixture(t)
	src.Config.Locale = "fr-BE"
	r, mail := weekMail(t, src)
	if mail.Subject != "Report finemeca, 20/10/2025 to 26/10/2025" {
		t.Errorf("subject %q", mail.Subject)
	}
	// 1331.5 kWh against 1216, +9.498 %; the peak of 36 kW on Thursday 23
	// October at 10:15 (TestWeek).
	for _, want := range []string{"finemeca: 20/10/2025 to 26/10/2025", "Energy: 1\u00a0331,5 kWh (+9,5 % against 1\u00a0216,0 kWh)",
		"Peak 15-minute demand: 36,0 kW, 23/10/2025 10:15:00"} {
		if !strings.Contains(mail.Text, want) {
			t.Errorf("the text lacks %q:\n%s", want, mail.Text)
		}
	}
	days := string(mail.Attach[report.FileName(r, "days", "csv")])
	if !strings.HasPrefix(days, "\ufeffDay;Energy 301 (kWh);Energy (kWh);Estimated (kWh)\n") || !strings.Contains(days, "\n2025-10-26;50,0;50,0;0,0\n") {
		t.Errorf("the days' attachment:\n%q", days)
	}
}

// weekMail is the report of the week of 22 October 2025 and its mail.
func weekMail(t *testing.T, src *report.Source) (*report.Report, notify.Mail) {
	t.Helper()
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	mail, err := report.Mail(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return r, mail
}
