package report

import (
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"image/color"
	"math"
	"text/template"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/sensorhub/sensorhub/internal/baseline"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/store/series"
)

// Baseline is one configured energy baseline with the periods since its
// reference compared with it.
type Baseline struct {
	Name string `json:"name"`
	// Device is the meter it covers; empty for the customer's meters.
	Device string `json:"device,omitempty"`
	// Every is the period of the model and the EnPI: week or day.
	Every     string    `json:"every"`
	Reference Period    `json:"reference"`
	Variable  *Variable `json:"variable"`
	// Model is nil when it could not be fitted; Note says why.
	Model *baseline.Model `json:"model"`
	Note  string          `json:"note,omitempty"`
	// Reference periods the model was fitted on, then the periods from the
	// end of the reference to the end of the report's period.
	ReferencePeriods []baseline.Period `json:"reference_periods"`
	Periods          []baseline.Row    `json:"periods"`
	// SavingsKWh is the sum of the report's own period's savings;
	// CUSUMKWh the cumulative sum at its end (negative: saved).
	SavingsKWh *float64 `json:"savings_kwh"`
	CUSUMKWh   float64  `json:"cusum_kwh"`
}

// Variable is what a baseline's energy is regressed on.
type Variable struct {
	// Kind is degree_days or production.
	Kind   string `json:"kind"`
	Device string `json:"device"`
	Field  string `json:"field"`
	// Unit is the variable's unit: °C·d (Kd) or what production counts.
	Unit string `json:"unit"`
}

// InReport reports whether a period's row lies in p.
func (b *Baseline) InReport(r baseline.Row, p Period) bool {
	return !r.Start.Before(p.From) && r.Start.Before(p.To)
}

// round rounds every figure with rd; a figure that is nil stays so.
func (b *Baseline) round(rd func(*float64)) {
	each := func(vs ...*float64) {
		for _, v := range vs {
			if v != nil {
				rd(v)
			}
		}
	}
	for i := range b.ReferencePeriods {
		p := &b.ReferencePeriods[i]
		each(p.KWh, p.X)
	}
	for i := range b.Periods {
		r := &b.Periods[i]
		each(r.KWh, r.X, r.ExpectedKWh, r.SavingsKWh, r.EnPI, &r.CUSUMKWh)
	}
	each(b.SavingsKWh, &b.CUSUMKWh)
	if m := b.Model; m != nil {
		each(&m.Intercept, &m.Slope, m.R2)
	}
}

// baselines are the customer's baselines tracked to the end of p.
func (s *Source) baselines(ctx context.Context, customer string, p Period, devs []store.Device) ([]Baseline, error) {
	out := []Baseline{}
	for _, cb := range s.Config.Baselines {
		if cb.Customer != customer {
			continue
		}
		b, err := s.baseline(ctx, &cb, p, devs)
		if err != nil {
			return nil, fmt.Errorf("baseline %s: %w", cb.Name, err)
		}
		out = append(out, *b)
	}
	return out, nil
}

func (s *Source) baseline(ctx context.Context, cb *config.Baseline, p Period, devs []store.Device) (*Baseline, error) {
	loc := s.Location
	refFrom, refTo, err := cb.Period(loc)
	if err != nil {
		return nil, err
	}
	b := &Baseline{Name: cb.Name, Device: cb.Device, Every: cb.Every, Reference: Period{From: refFrom, To: refTo, Kind: "range"},
		ReferencePeriods: []baseline.Period{}, Periods: []baseline.Row{}}
	if b.Every == "" {
		b.Every = "week"
	}
	step := 1
	if b.Every == "week" {
		step = 7
		// Whole weeks, Monday to Monday, inside the reference.
		for refFrom.Weekday() != time.Monday {
			refFrom = refFrom.AddDate(0, 0, 1)
		}
	}
	end := p.To
	if now := s.now(); now.Before(end) {
		end = now
	}
	// A period counts once every meter has a reading at or after its end:
	// the energy of a meter that stopped halfway is not yet known.
	if covered, ok := s.covered(cb, devs); !ok {
		b.Note = "No energy meter of the customer matches the baseline."
		return b, nil
	} else if covered.Before(end) {
		end = covered
	}
	var starts []time.Time
	for t := refFrom; !t.AddDate(0, 0, step).After(end); t = t.AddDate(0, 0, step) {
		starts = append(starts, t)
	}
	if len(starts) == 0 {
		b.Note = "The reference period has not ended a whole " + b.Every + " yet."
		return b, nil
	}
	last := starts[len(starts)-1].AddDate(0, 0, step)
	energy, err := s.dailyEnergy(ctx, cb, devs, refFrom, last)
	if err != nil {
		return nil, err
	}
	variable, err := s.variable(ctx, cb, b, refFrom, last)
	if err != nil {
		return nil, err
	}
	var after []baseline.Period
	for _, t := range starts {
		per := baseline.Period{Start: t, KWh: sumDays(energy, t, step, true)}
		if variable != nil {
			per.X = variable(t, step)
		}
		if t.AddDate(0, 0, step).After(refTo) {
			after = append(after, per)
		} else {
			b.ReferencePeriods = append(b.ReferencePeriods, per)
		}
	}
	m, err := baseline.Fit(b.ReferencePeriods, variable != nil)
	if err != nil {
		b.Note = fmt.Sprintf("No model: %v.", err)
		if errors.Is(err, baseline.ErrTooFew) {
			b.Note = fmt.Sprintf("No model: the reference has %d %ss with data (from %s), a model needs at least %d.",
				m.Periods, b.Every, refFrom.Format(time.DateOnly), baseline.MinPeriods)
		}
		return b, nil
	}
	b.Model = &m
	b.Periods = baseline.Track(m, variable != nil, after)
	var saved float64
	in := false
	for _, r := range b.Periods {
		b.CUSUMKWh = r.CUSUMKWh
		if b.InReport(r, p) && r.SavingsKWh != nil {
			saved += *r.SavingsKWh
			in = true
		}
	}
	if in {
		b.SavingsKWh = &saved
	}
	return b, nil
}

// meters calls f with each of devs that the baseline covers and the
// field of its energy counter.
func (s *Source) meters(cb *config.Baseline, devs []store.Device, f func(d store.Device, field string)) {
	for _, d := range devs {
		if cb.Device != "" && (d.Sensor != cb.Sensor || d.Device != cb.Device) {
			continue
		}
		if field := EnergyField(s.Config.Sensors[d.Sensor]); field != "" {
			f(d, field)
		}
	}
}

// covered is the time of the newest reading of the baseline's meter that
// was read last the longest ago; false without a meter.
func (s *Source) covered(cb *config.Baseline, devs []store.Device) (t time.Time, ok bool) {
	s.meters(cb, devs, func(d store.Device, _ string) {
		if !ok || d.LastTime.Before(t) {
			t, ok = d.LastTime, true
		}
	})
	return t, ok
}

// dailyEnergy is the kWh per local day of the baseline's meters, keyed by
// the day's start; a day no meter read is missing.
func (s *Source) dailyEnergy(ctx context.Context, cb *config.Baseline, devs []store.Device, from, to time.Time) (map[time.Time]float64, error) {
	days := map[time.Time]float64{}
	var err error
	s.meters(cb, devs, func(d store.Device, field string) {
		if err == nil {
			k := store.DeviceKey{Customer: d.Customer, Sensor: d.Sensor, Device: d.Device}
			err = s.daily(ctx, k, field, "increase", from, to, func(t time.Time, v float64) { days[t] += v })
		}
	})
	return days, err
}

// daily reads one field per local day and calls add for each day with a
// value.
func (s *Source) daily(ctx context.Context, k store.DeviceKey, field, agg string, from, to time.Time, add func(day time.Time, v float64)) error {
	q := series.Query{DeviceKey: k, Field: field, From: from, To: to, Step: series.Step{Days: 1}, Agg: agg}
	out, err := series.Read(ctx, s.Store, q, s.Location)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, pt := range out.Points {
		if !math.IsNaN(pt.Value) {
			add(series.DayStart(pt.Time, s.Location), pt.Value)
		}
	}
	return nil
}

// sumDays sums the days [start, start+n days); nil when a day is missing
// and whole is set, or when every day is.
func sumDays(days map[time.Time]float64, start time.Time, n int, whole bool) *float64 {
	var sum float64
	seen := 0
	for i := range n {
		v, ok := days[start.AddDate(0, 0, i)]
		if ok {
			sum += v
			seen++
		} else if whole {
			return nil
		}
	}
	if seen == 0 {
		return nil
	}
	return &sum
}

// variable reads the baseline's variable over [from, to) and returns its
// value for a period; nil without a variable.
func (s *Source) variable(ctx context.Context, cb *config.Baseline, b *Baseline, from, to time.Time) (func(start time.Time, n int) *float64, error) {
	switch {
	case cb.DegreeDays != nil:
		dd := cb.DegreeDays
		k := store.DeviceKey{Customer: cb.Customer, Sensor: dd.Sensor, Device: dd.Device}
		b.Variable = &Variable{Kind: "degree_days", Device: dd.Device, Field: dd.TempField(), Unit: "K·d"}
		means := map[time.Time]float64{}
		if err := s.daily(ctx, k, dd.TempField(), "avg", from, to, func(t time.Time, v float64) { means[t] = v }); err != nil {
			return nil, err
		}
		return func(start time.Time, n int) *float64 {
			temps := make([]*float64, n)
			for i := range n {
				v, ok := means[start.AddDate(0, 0, i)]
				if !ok {
					// A day without a mean temperature: the period's degree
					// days are not known.
					return nil
				}
				temps[i] = &v
			}
			v, _ := baseline.DegreeDays(temps, dd.BaseTemp(), dd.Mode == "cooling")
			return &v
		}, nil
	case cb.Production != nil:
		pr := cb.Production
		k := store.DeviceKey{Customer: cb.Customer, Sensor: pr.Sensor, Device: pr.Device}
		b.Variable = &Variable{Kind: "production", Device: pr.Device, Field: pr.Field, Unit: pr.Unit}
		agg := "sum"
		if s.Config.IsCounter(pr.Sensor, pr.Field) {
			agg = "increase"
		}
		counts := map[time.Time]float64{}
		if err := s.daily(ctx, k, pr.Field, agg, from, to, func(t time.Time, v float64) { counts[t] += v }); err != nil {
			return nil, err
		}
		// A day without a count produced nothing (a weekend); a period
		// without any is unknown.
		return func(start time.Time, n int) *float64 { return sumDays(counts, start, n, false) }, nil
	}
	return nil, nil
}

// The baselines' part of the e-mail, in its HTML and its text.
const (
	htmlBaselines = `{{define "baselines"}}{{if .Baseline}}{{range .R.Baselines}}
<h3>Baseline {{.Name}}{{with .Device}} ({{.}}){{end}}</h3>
{{with .Model}}<p>{{model $.R .}}</p>{{end}}{{with .Note}}<p style="background:#fff4e5;padding:6px 10px">{{.}}</p>{{end}}
{{if .Model}}<p>This period: {{if .SavingsKWh}}<b>{{kwh .SavingsKWh}} kWh</b> saved against the baseline{{else}}no whole {{.Every}} to compare{{end}}; cumulative since the reference: <b>{{kwh (neg .CUSUMKWh)}} kWh</b> saved.</p>
<p><img src="cid:cusum.png" alt="Cumulative savings (CUSUM)" width="640"></p>{{end}}
{{end}}{{end}}{{end}}`
	textBaselines = `{{define "baselines"}}{{if .Baseline}}{{range .R.Baselines}}
Baseline {{.Name}}{{with .Device}} ({{.}}){{end}}: {{with .Model}}{{model $.R .}}{{end}}{{.Note}}
{{if .Model}}  this period: {{if .SavingsKWh}}{{kwh .SavingsKWh}} kWh saved{{else}}no whole {{.Every}} to compare{{end}}; cumulative: {{kwh (neg .CUSUMKWh)}} kWh saved
{{end}}{{end}}{{end}}{{end}}`
)

func init() {
	htmltemplate.Must(htmlMail.Parse(htmlBaselines))
	template.Must(textMail.Parse(textBaselines))
}

// describeModel says a baseline's model as people read it, as the
// report's locale writes figures.
func describeModel(r *Report, m *baseline.Model) string {
	l := r.Locale
	if m.R2 == nil {
		return fmt.Sprintf("Expected: %s kWh, the mean of %d reference periods.", l.Number(m.Intercept, 1), m.Periods)
	}
	return fmt.Sprintf("Expected: %s kWh + %s kWh per unit of the variable (R² %s over %d reference periods).", l.Number(m.Intercept, 1), l.Number(m.Slope, 2), l.Number(*m.R2, 2), m.Periods)
}

// cusumPlot draws each baseline's cumulative sum of actual − expected
// energy: a line going down is energy saved.
func (r *Report) cusumPlot(p *plot.Plot) error {
	p.Title.Text = "Cumulative savings against the baseline (CUSUM, kWh; down is saved)"
	for i, b := range r.Baselines {
		pts := make(plotter.XYs, 0, len(b.Periods))
		for _, row := range b.Periods {
			pts = append(pts, plotter.XY{X: float64(row.Start.Unix()), Y: row.CUSUMKWh})
		}
		if len(pts) == 0 {
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = []color.Color{blue, red}[i%2]
		p.Add(line)
		p.Legend.Add(b.Name, line)
	}
	p.X.Tick.Marker = dayTicks{loc: r.Period.From.Location()}
	return nil
}
