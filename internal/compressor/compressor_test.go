package compressor_test

import (
	"math"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/compressor"
	"github.com/sensorhub/sensorhub/internal/store"
)

func near(v *float64, want float64) bool { return v != nil && math.Abs(*v-want) < 1e-9 }

// TestSpecificPower: readings every 15 minutes over two hours. The first
// hour 30 kW (the counter up 7.5 kWh a quarter) for 360 m3/h, 6 Nm3/min:
// 30 kWh / 360 Nm3 x 60 = 5 kW per Nm3/min. The second 40 kW for
// 395 Nm3 (below). The range: 70 kWh / 755 Nm3 x 60 = 5.563, the energy
// over the air, not the mean of the hours.
func TestSpecificPower(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Brussels")
	t0 := time.Date(2022, 5, 2, 10, 0, 0, 0, loc)
	var power, flow []store.Point
	counter := 1000.0
	for i := 0; i <= 8; i++ {
		ts := t0.Add(time.Duration(i) * 15 * time.Minute)
		power = append(power, store.Point{Time: ts, Value: counter})
		if i < 4 {
			counter += 7.5
		} else {
			counter += 10
		}
		f := 360.0
		if i >= 4 {
			f = 400
		}
		flow = append(flow, store.Point{Time: ts, Value: f})
	}
	// The flow's reading at 11:00 is 400: the 10:45-11:00 trapezoid
	// would mix the hours, so the first hour's air reads flat at 360 up
	// to 10:45 and the last quarter is (360+400)/2.
	flow[4].Value = 360
	got := compressor.Compute(power, "kWh", flow, "m3/h", loc)
	if got.Hours != 2 || len(got.Days) != 1 {
		t.Fatalf("figures %+v, want 2 hours on one day", got)
	}
	// Air: the first hour 4 quarters at 360 m3/h = 360 Nm3; the second
	// (360+400)/2 for a quarter then 3 at 400 = 95 + 300 = 395 Nm3.
	if !near(&got.Period.Nm3, 755) || !near(&got.Period.KWh, 70) {
		t.Errorf("period %v kWh %v Nm3, want 70 and 755", got.Period.KWh, got.Period.Nm3)
	}
	if !near(got.Period.SpecificPower, 70.0/755*60) || !near(got.Days[0].SpecificPower, 70.0/755*60) {
		t.Errorf("specific power %v, day %v, want %v", *got.Period.SpecificPower, got.Days[0].SpecificPower, 70.0/755*60)
	}
	// A power meter in kW gives the same energy: 30 kW then 40 kW.
	var kw []store.Point
	for i, p := range power {
		v := 30.0
		if i >= 4 {
			v = 40
		}
		kw = append(kw, store.Point{Time: p.Time, Value: v})
	}
	kw[4].Value = 30
	got = compressor.Compute(kw, "kW", flow, "m3/h", loc)
	// 30 kWh, then (30+40)/2 x 0.25 + 40 x 0.75 = 8.75 + 30 = 38.75.
	if !near(&got.Period.KWh, 68.75) || !near(got.Period.SpecificPower, 68.75/755*60) {
		t.Errorf("from kW: %v kWh, %v kW per Nm3/min; want 68.75 and %v", got.Period.KWh, got.Period.SpecificPower, 68.75/755*60)
	}
}

// TestNoFlowIsUnknown: without air readings the specific power is null
// with the reason, not 0 nor infinite.
func TestNoFlowIsUnknown(t *testing.T) {
	t0 := time.Date(2022, 5, 2, 10, 0, 0, 0, time.UTC)
	power := []store.Point{{Time: t0, Value: 30}, {Time: t0.Add(15 * time.Minute), Value: 30}}
	got := compressor.Compute(power, "kW", nil, "m3/h", time.UTC)
	if got.Period.SpecificPower != nil || got.Reason != compressor.NoHours || got.Hours != 0 {
		t.Errorf("figures %+v, want no specific power: %q", got, compressor.NoHours)
	}
	flow := []store.Point{{Time: t0, Value: 0}, {Time: t0.Add(15 * time.Minute), Value: 0}}
	got = compressor.Compute(power, "kW", flow, "m3/h", time.UTC)
	if got.Period.SpecificPower != nil || got.Reason != compressor.NoAir || !near(&got.Period.KWh, 7.5) {
		t.Errorf("figures %+v, want 7.5 kWh and %q", got, compressor.NoAir)
	}
}
