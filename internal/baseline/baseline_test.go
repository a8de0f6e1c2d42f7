package baseline

import (
	"errors"
	"math"
	"testing"
	"time"
)

func f(v float64) *float64 { return &v }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func weeks(xs []float64, e func(x float64) float64) []Period {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	out := make([]Period, len(xs))
	for i, x := range xs {
		out[i] = Period{Start: start.AddDate(0, 0, 7*i), KWh: f(e(x)), X: f(x)}
	}
	return out
}

func TestFitRecoversTheLine(t *testing.T) {
	ref := weeks([]float64{120, 95, 60, 30, 12}, func(x float64) float64 { return 1000 + 20*x })
	m, err := Fit(ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if !near(m.Intercept, 1000) || !near(m.Slope, 20) || m.R2 == nil || !near(*m.R2, 1) || m.Periods != 5 {
		t.Fatalf("model %+v (r2 %v), want 1000 + 20 x, r2 1, 5 periods", m, *m.R2)
	}
}

func TestFitWithNoise(t *testing.T) {
	// x 1,2,3,4 ; y 3,5,4,8: mean x 2.5, mean y 5, Sxy = 7.5... by hand:
	// Sxx = 5, Sxy = (-1.5)(-2)+(-0.5)(0)+(0.5)(-1)+(1.5)(3) = 3+0-0.5+4.5 = 7,
	// b = 7/5 = 1.4, a = 5 - 1.4*2.5 = 1.5; SSres = sum (y - 1.5 - 1.4x)^2
	// = (0.1)^2+(0.7)^2+(-1.7)^2+(0.9)^2 = 0.01+0.49+2.89+0.81 = 4.2,
	// SStot = 4+0+1+9 = 14, r2 = 1 - 4.2/14 = 0.7.
	ref := []Period{{KWh: f(3), X: f(1)}, {KWh: f(5), X: f(2)}, {KWh: f(4), X: f(3)}, {KWh: f(8), X: f(4)}}
	m, err := Fit(ref, true)
	if err != nil {
		t.Fatal(err)
	}
	if !near(m.Intercept, 1.5) || !near(m.Slope, 1.4) || !near(*m.R2, 0.7) {
		t.Fatalf("model %+v r2 %v, want 1.5 + 1.4 x, r2 0.7", m, *m.R2)
	}
}

func TestSavingsAndCUSUM(t *testing.T) {
	m := Model{Intercept: 1000, Slope: 20}
	// Three weeks at 5% under the model, then one at 10% over.
	after := weeks([]float64{50, 100, 0}, func(x float64) float64 { return 0.95 * (1000 + 20*x) })
	after = append(after, Period{Start: after[2].Start.AddDate(0, 0, 7), KWh: f(1.1 * 1400), X: f(20)})
	rows := Track(m, true, after)
	// expected 2000, 3000, 1000, 1400; savings 100, 150, 50, -140;
	// CUSUM -100, -250, -300, -160.
	wantSav := []float64{100, 150, 50, -140}
	wantCusum := []float64{-100, -250, -300, -160}
	for i, r := range rows {
		if r.SavingsKWh == nil || !near(*r.SavingsKWh, wantSav[i]) || !near(r.CUSUMKWh, wantCusum[i]) {
			t.Fatalf("week %d: savings %v cusum %v, want %v %v", i, *r.SavingsKWh, r.CUSUMKWh, wantSav[i], wantCusum[i])
		}
	}
	if !near(*rows[0].EnPI, 1900.0/50) || !near(*rows[0].ExpectedKWh, 2000) {
		t.Fatalf("EnPI %v expected %v, want 38, 2000", *rows[0].EnPI, *rows[0].ExpectedKWh)
	}
	if rows[2].EnPI != nil {
		t.Fatalf("a week with no degree days has no kWh per degree day, got %v", *rows[2].EnPI)
	}
}

func TestAWeekWithoutDataAddsNothing(t *testing.T) {
	rows := Track(Model{Intercept: 500}, false, []Period{{KWh: f(450)}, {}, {KWh: f(520)}})
	if rows[1].ExpectedKWh != nil || rows[1].CUSUMKWh != -50 || rows[2].CUSUMKWh != -30 || *rows[2].EnPI != 520 {
		t.Fatalf("rows %+v", rows)
	}
}

func TestFitRefusesTooFewOrFlat(t *testing.T) {
	_, err := Fit([]Period{{KWh: f(1), X: f(1)}, {KWh: f(2), X: f(2)}, {KWh: f(3)}}, true)
	if !errors.Is(err, ErrTooFew) {
		t.Fatalf("two weeks with the variable: %v, want ErrTooFew", err)
	}
	_, err = Fit([]Period{{KWh: f(1), X: f(4)}, {KWh: f(2), X: f(4)}, {KWh: f(3), X: f(4)}}, true)
	if err == nil || errors.Is(err, ErrTooFew) {
		t.Fatalf("a variable that never changes: %v, want an error that says so", err)
	}
	m, err := Fit([]Period{{KWh: f(100)}, {KWh: f(200)}, {}, {KWh: f(300)}}, false)
	if err != nil || m.Intercept != 200 || m.Periods != 3 || m.R2 != nil {
		t.Fatalf("the mean of three weeks: %+v %v", m, err)
	}
}

func TestDegreeDays(t *testing.T) {
	// Means 10, 20, (none), 15: heating base 15.5 gives 5.5 + 0 + 0.5.
	dd, ok := DegreeDays([]*float64{f(10), f(20), nil, f(15)}, 15.5, false)
	if !ok || !near(dd, 6) {
		t.Fatalf("heating %v %v, want 6", dd, ok)
	}
	dd, ok = DegreeDays([]*float64{f(10), f(20), nil, f(25)}, 18, true)
	if !ok || !near(dd, 9) {
		t.Fatalf("cooling %v %v, want 9", dd, ok)
	}
	if _, ok := DegreeDays([]*float64{nil}, 15.5, false); ok {
		t.Fatal("no temperature read is no degree day figure")
	}
}
