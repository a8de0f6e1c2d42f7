package report_test

import (
	"context"
	"math"
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

// weekTemps are the fixture's mean temperatures, one a week from Monday 6
// January 2025: five weeks of reference, then three.
var weekTemps = []float64{5.5, 10.5, 0.5, 13.5, 8, 3.5, 12.5, 20}

// degreeDays is a week's heating degree days at base 15.5 °C, by hand.
var degreeDays = []float64{70, 35, 105, 14, 52.5, 84, 21, 0}

// baselineFixture stores eight weeks of meter 301 and weather station w1:
// the meter uses 1000 kWh + 20 kWh per degree day a week in the reference
// weeks, then 5% less than that, spread over the week's hours but its
// last (so that the week's energy is the same whichever day the reading
// at midnight closes); the station reads its week's temperature every
// hour.
func baselineFixture(t *testing.T, baselines ...config.Baseline) *report.Source {
	t.Helper()
	cfg := config.Default()
	cfg.Customers = []string{"finemeca"}
	cfg.Baselines = baselines
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlstore.Options{Location: brussels})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var rs []reading.Reading
	e, n := 5000.0, int64(0)
	start := local(2025, 1, 6, 0, 0)
	for w, temp := range weekTemps {
		kwh := 1000 + 20*degreeDays[w]
		if w >= 5 {
			kwh *= 0.95
		}
		for d := range 7 {
			// The line's production, posted at noon: a seventh of the week's
			// degree days, so that a model on it is the same line.
			at := start.AddDate(0, 0, 7*w+d).Add(12 * time.Hour)
			rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "devicev01", Device: "p1", Name: "line 1", Time: at, Received: at, MsgCount: int64(7*w + d + 1),
				Fields: map[string]float64{"Pieces": degreeDays[w] / 7}})
		}
		for h := range 168 {
			at := start.AddDate(0, 0, 7*w).Add(time.Duration(h) * time.Hour)
			if h > 0 {
				e += kwh / 167
			}
			n++
			rs = append(rs,
				reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: at, Received: at, MsgCount: n,
					Fields: map[string]float64{"E": e}, Units: map[string]string{"E": "kWh"}},
				reading.Reading{Customer: "finemeca", Sensor: "devicev01", Device: "w1", Name: "weather", Time: at, Received: at, MsgCount: n,
					Fields: map[string]float64{"Temp": temp}, Units: map[string]string{"Temp": "C"}})
		}
	}
	end := start.AddDate(0, 0, 7*len(weekTemps))
	n++
	rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: end, Received: end, MsgCount: n,
		Fields: map[string]float64{"E": e}, Units: map[string]string{"E": "kWh"}})
	if _, err := st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	return &report.Source{Store: st, Config: cfg, Location: brussels, Now: func() time.Time { return end.Add(time.Hour) }}
}

func closeTo(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 1e-6 }

// TestBaselineRegressedOnDegreeDays: the model fitted on five weeks finds
// 1000 kWh + 20 kWh per degree day with R² 1; the three weeks after, at
// 5% less than expected, save 5% of what the model expects each, and
// the CUSUM adds them up.
func TestBaselineRegressedOnDegreeDays(t *testing.T) {
	src := baselineFixture(t, config.Baseline{Name: "heating", Customer: "finemeca", From: "2025-01-06", To: "2025-02-09",
		DegreeDays: &config.DegreeDays{Sensor: "devicev01", Device: "w1"}})
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 2, 26, 12, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Baselines) != 1 {
		t.Fatalf("%d baselines, want 1", len(r.Baselines))
	}
	b := r.Baselines[0]
	if b.Model == nil {
		t.Fatalf("no model: %s", b.Note)
	}
	if m := b.Model; math.Abs(m.Intercept-1000) > 1e-6 || math.Abs(m.Slope-20) > 1e-6 || !closeTo(m.R2, 1) || m.Periods != 5 {
		t.Fatalf("model %+v, want 1000 + 20 x over 5 weeks, R² 1", *m)
	}
	for i, p := range b.ReferencePeriods {
		if !closeTo(p.X, degreeDays[i]) || !closeTo(p.KWh, 1000+20*degreeDays[i]) {
			t.Fatalf("reference week %d: %v degree days, %v kWh; want %v, %v", i, *p.X, *p.KWh, degreeDays[i], 1000+20*degreeDays[i])
		}
	}
	// Expected 2680, 1420, 1000; used 2546, 1349, 950.
	wantSaved, wantCusum := []float64{134, 71, 50}, []float64{-134, -205, -255}
	if len(b.Periods) != 3 {
		t.Fatalf("%d weeks after the reference, want 3", len(b.Periods))
	}
	for i, row := range b.Periods {
		if !closeTo(row.SavingsKWh, wantSaved[i]) || math.Abs(row.CUSUMKWh-wantCusum[i]) > 1e-6 {
			t.Fatalf("week %d: saved %v, CUSUM %v; want %v, %v", i, *row.SavingsKWh, row.CUSUMKWh, wantSaved[i], wantCusum[i])
		}
	}
	if !closeTo(b.SavingsKWh, 50) || math.Abs(b.CUSUMKWh+255) > 1e-6 {
		t.Fatalf("the report's week saved %v, CUSUM %v; want 50, -255", *b.SavingsKWh, b.CUSUMKWh)
	}
	if e := b.Periods[1].EnPI; !closeTo(e, 1349.0/21) {
		t.Fatalf("EnPI of the week of 17 February %v, want 1349 kWh / 21 degree days", *e)
	}

	m, err := report.Mail(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Inline["cusum.png"]; !ok || !strings.Contains(m.HTML, "cid:cusum.png") {
		t.Fatalf("the e-mail has no CUSUM chart (inline %v)", keys(m.Inline))
	}
	for _, want := range []string{"Baseline heating", "50.0 kWh saved", "255.0 kWh saved", "R² 1.00 over 5 reference periods"} {
		if !strings.Contains(m.Text, want) {
			t.Fatalf("the e-mail's text lacks %q:\n%s", want, m.Text)
		}
	}
	if m, err := report.Mail(r, []string{"energy"}, ""); err != nil || strings.Contains(m.Text, "Baseline") || m.Inline["cusum.png"] != nil {
		t.Fatalf("a schedule without the baseline section sent it (%v)", err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBaselineWithoutVariable: without a variable the baseline is the
// reference weeks' mean; with too few weeks, the report says so instead of
// a model.
func TestBaselineWithoutVariable(t *testing.T) {
	src := baselineFixture(t,
		config.Baseline{Name: "mean", Customer: "finemeca", Sensor: "centrale", Device: "301", From: "2025-01-06", To: "2025-02-09"},
		config.Baseline{Name: "short", Customer: "finemeca", From: "2025-01-06", To: "2025-01-19"})
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 2, 12, 12, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	mean, short := r.Baselines[0], r.Baselines[1]
	// (2400 + 1700 + 3100 + 1280 + 2050) / 5 = 2106; the week of 10
	// February used 0.95 x 2680 = 2546: 440 more than the mean.
	if mean.Model == nil || math.Abs(mean.Model.Intercept-2106) > 1e-6 || mean.Model.R2 != nil {
		t.Fatalf("model %+v, note %q; want the mean 2106", mean.Model, mean.Note)
	}
	if !closeTo(mean.SavingsKWh, -440) || len(mean.Periods) != 1 || !closeTo(mean.Periods[0].EnPI, 2546) {
		t.Fatalf("saved %v over %d weeks, want -440 over 1", mean.SavingsKWh, len(mean.Periods))
	}
	// The week after the readings stop is not compared: no reading tells
	// its energy yet.
	src.Now = func() time.Time { return local(2025, 3, 12, 0, 0) }
	later, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 3, 5, 12, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	if ps := later.Baselines[0].Periods; len(ps) != 3 || ps[2].KWh == nil || !ps[2].Start.Equal(local(2025, 2, 24, 0, 0)) {
		t.Fatalf("%d weeks compared after the readings stop on 3 March (the last %+v), want the 3 weeks to 3 March", len(ps), ps[len(ps)-1])
	}
	if short.Model != nil || !strings.Contains(short.Note, "2 weeks with data") || !strings.Contains(short.Note, "at least 3") {
		t.Fatalf("two weeks of reference: model %+v, note %q", short.Model, short.Note)
	}
}

// TestBaselineOnProduction: the same model, regressed on a production
// count posted once a day, summed per week.
func TestBaselineOnProduction(t *testing.T) {
	src := baselineFixture(t, config.Baseline{Name: "pieces", Customer: "finemeca", From: "2025-01-06", To: "2025-02-09",
		Production: &config.Production{Sensor: "devicev01", Device: "p1", Field: "Pieces", Unit: "pieces"}})
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 2, 26, 12, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	b := r.Baselines[0]
	if b.Model == nil || math.Abs(b.Model.Slope-20) > 1e-6 || math.Abs(b.Model.Intercept-1000) > 1e-6 || b.Variable.Unit != "pieces" {
		t.Fatalf("model %+v, note %q; want 1000 + 20 kWh per piece", b.Model, b.Note)
	}
	if !closeTo(b.SavingsKWh, 50) || !closeTo(b.Periods[2].X, 0) || b.Periods[2].EnPI != nil {
		t.Fatalf("last week: saved %v, pieces %v, EnPI %v; want 50, 0, none (no piece made)", b.SavingsKWh, b.Periods[2].X, b.Periods[2].EnPI)
	}
}
