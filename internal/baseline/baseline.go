// Package baseline computes an energy baseline (ISO 50001) and the
// savings against it: a model of a period's energy fitted over a
// reference period, either its mean or, with a relevant variable such as
// degree days or production (ISO 50006), an ordinary least squares line
// E = a + b·X; then, for each later period, the energy the model expects,
// the savings (expected − actual) and their cumulative sum (CUSUM).
package baseline

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/stat"
)

// MinPeriods is the fewest reference periods a model is fitted on: a line
// through two points fits them exactly and says nothing.
const MinPeriods = 3

// Period is one period's (a week's, a day's) energy and variable.
type Period struct {
	Start time.Time `json:"start"`
	// KWh is the energy of the period; nil when no meter read it.
	KWh *float64 `json:"actual_kwh"`
	// X is the relevant variable over the period; nil without a variable
	// or when it could not be read.
	X *float64 `json:"variable"`
}

// Model is E = Intercept + Slope·X; without a variable, Slope is 0 and
// Intercept the mean energy of a reference period.
type Model struct {
	Intercept float64 `json:"intercept"`
	Slope     float64 `json:"slope"`
	// R2 is the coefficient of determination of the fit; nil without a
	// variable.
	R2 *float64 `json:"r2"`
	// Periods is how many reference periods it was fitted on.
	Periods int `json:"periods"`
}

// ErrTooFew is a reference period with fewer than MinPeriods periods of
// data.
var ErrTooFew = errors.New("too few periods")

// Fit fits the model on the reference periods that have energy (and the
// variable, when withVariable).
func Fit(ref []Period, withVariable bool) (Model, error) {
	var xs, ys []float64
	for _, p := range ref {
		if p.KWh == nil || (withVariable && p.X == nil) {
			continue
		}
		ys = append(ys, *p.KWh)
		if withVariable {
			xs = append(xs, *p.X)
		}
	}
	if len(ys) < MinPeriods {
		return Model{Periods: len(ys)}, fmt.Errorf("%w: %d with data, a model needs %d", ErrTooFew, len(ys), MinPeriods)
	}
	if !withVariable {
		return Model{Intercept: stat.Mean(ys, nil), Periods: len(ys)}, nil
	}
	if stat.Variance(xs, nil) == 0 {
		return Model{Periods: len(ys)}, fmt.Errorf("the variable is %g in every reference period: energy cannot be regressed on it", xs[0])
	}
	a, b := stat.LinearRegression(xs, ys, nil, false)
	r2 := stat.RSquared(xs, ys, nil, a, b)
	if math.IsNaN(r2) {
		// Energy constant over the reference: the line fits it exactly.
		r2 = 1
	}
	return Model{Intercept: a, Slope: b, R2: &r2, Periods: len(ys)}, nil
}

// Expected is the energy the model expects for a period whose variable
// is x (ignored without one).
func (m Model) Expected(x *float64) float64 {
	if x == nil {
		return m.Intercept
	}
	return m.Intercept + m.Slope**x
}

// Row is one period after the reference compared with the model.
type Row struct {
	Period
	ExpectedKWh *float64 `json:"expected_kwh"`
	// SavingsKWh is expected − actual: positive is energy saved.
	SavingsKWh *float64 `json:"savings_kwh"`
	// CUSUMKWh is the running sum of actual − expected from the end of
	// the reference: falling is saving.
	CUSUMKWh float64 `json:"cusum_kwh"`
	// EnPI is the energy performance indicator: kWh per unit of the
	// variable, or the period's kWh without one.
	EnPI *float64 `json:"enpi"`
}

// Track compares each period with the model, in order. A period without
// energy, or without the variable the model needs, is expected nothing
// and adds nothing to the CUSUM.
func Track(m Model, withVariable bool, periods []Period) []Row {
	rows := make([]Row, 0, len(periods))
	var cusum float64
	for _, p := range periods {
		r := Row{Period: p}
		if p.KWh != nil && (!withVariable || p.X != nil) {
			exp := m.Expected(p.X)
			sav := exp - *p.KWh
			cusum -= sav
			r.ExpectedKWh, r.SavingsKWh = &exp, &sav
			switch {
			case !withVariable:
				r.EnPI = p.KWh
			case *p.X != 0:
				e := *p.KWh / *p.X
				r.EnPI = &e
			}
		}
		r.CUSUMKWh = cusum
		rows = append(rows, r)
	}
	return rows
}

// DegreeDays is the degree days of days whose mean temperatures are
// temps: heating, the sum of base − mean where the mean is below base;
// cooling, of mean − base where it is above. A day without a mean (nil)
// counts nothing; ok is false when no day had one.
func DegreeDays(temps []*float64, base float64, cooling bool) (dd float64, ok bool) {
	for _, t := range temps {
		if t == nil {
			continue
		}
		ok = true
		d := base - *t
		if cooling {
			d = -d
		}
		dd += max(0, d)
	}
	return dd, ok
}
