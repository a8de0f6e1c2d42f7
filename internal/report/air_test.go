package report_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/leak"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/report"
	"github.com/sensorhub/sensorhub/internal/store"
)

// TestAirMethodsAndSpecificPower: beside the fixture's line 201 (pressure
// decay, see TestWeekByHand), the week of 20 October 2025 has, every 15
// minutes: line 202 held below its opening pressure all week (not
// measurable), line 203 with a flow of 60 m3/h = 1 Nm3/min, all of it in
// the non-production hours too, and meter 302 counting 2.5 kWh a quarter.
// Line 203: leaks run always, 1 Nm3/min over 6 x 1440 min and the
// 25-hour Sunday's 1500: 10140 Nm3, 202.8 at 0.02 per Nm3, a year
// 202.8 / 7 days x 365 (the long Sunday is one day). Line 202 is below
// from Monday 00:00 to Sunday 23:45, 168 h 45 min. The compressor (302 with 203's flow): 675
// quarters between 676 readings, 1687.5 kWh for 10125 Nm3: 10 kW per
// Nm3/min.
func TestAirMethodsAndSpecificPower(t *testing.T) {
	src, st := fixture(t)
	src.Config.Compressors = []config.Compressor{{Name: "c1", Customer: "finemeca",
		Power: config.MeterField{Sensor: "centrale", Device: "302", Field: "E", Unit: "kWh"},
		Flow:  config.MeterField{Sensor: "air", Device: "203", Field: "Flow", Unit: "m3/h"}}}
	var rs []reading.Reading
	add := func(sensor, device string, at time.Time, n int, fields map[string]float64) {
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: sensor, Device: device, Name: "line-" + device, Time: at, Received: at, MsgCount: int64(n), Fields: fields})
	}
	n := 0
	for at := local(2025, 10, 20, 0, 0); at.Before(local(2025, 10, 27, 0, 0)); at = at.Add(report.Quarter) {
		n++
		add("air", "202", at, n, map[string]float64{"Pres": 5.5, "OpenPres": 6})
		add("air", "203", at, n, map[string]float64{"Pres": 6.5, "OpenPres": 6, "Flow": 60})
		add("centrale", "302", at, n, map[string]float64{"E": 2.5 * float64(n)})
	}
	if _, err := st.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]report.Line{}
	var order []string
	for _, l := range r.Air.Lines {
		lines[l.Device] = l
		order = append(order, l.Device)
	}
	if strings.Join(order, " ") != "203 201 202" {
		t.Fatalf("lines %v, want 203, 201, 202: the most expensive first, the one not measurable last", order)
	}
	flow := lines["203"]
	if flow.Method != leak.Flow || !near(flow.FlowNlMin, 1000) || !near(flow.LostNm3, 10140) || !near(flow.Cost, 202.8) || !near(flow.CostPerYear, 202.8/7*365) {
		t.Errorf("line 203 %+v: lost %v cost %v a year %v; want flow, 1000 Nl/min, 10140 Nm3, 202.8, %v", flow, flow.LostNm3, flow.Cost, flow.CostPerYear, 202.8/7*365)
	}
	held := lines["202"]
	if held.LostNm3 != nil || held.Cost != nil || held.CostPerYear != nil || held.Reason != leak.HeldBelow || r.Air.Unmeasured != 1 {
		t.Errorf("line 202 %+v, %d unmeasured; want null figures: %q", held, r.Air.Unmeasured, leak.HeldBelow)
	}
	if len(r.Air.Compressors) != 1 {
		t.Fatalf("compressors %+v, want c1", r.Air.Compressors)
	}
	c := r.Air.Compressors[0]
	if c.Name != "c1" || c.Hours != 169 || !near(c.Period.KWh, 1687.5) || !near(c.Period.Nm3, 10125) || !near(c.Period.SpecificPower, 10) {
		t.Errorf("compressor %+v, specific power %v; want 169 hours, 1687.5 kWh, 10125 Nm3, 10 kW per Nm3/min", c, c.Period.SpecificPower)
	}
	text, err := report.Text(r, []string{"air"}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"line-202 (202): 1 leaks, 168 h 45 min below, air lost not measurable; pressure decay in 500 l, atmospheric pressure 1.01325 bar; " + leak.HeldBelow,
		"line-203 (203): 0 leaks, 0 s below, 10,140.00 Nm3, 202.80 at 0.02 per Nm3, 10,574.57 a year (mean of 7.0 days, 2025-10-20 to 2025-10-26); the air flow in the non-production hours, a leak flow of 1,000 Nl/min",
		"Compressor c1: 1,687.5 kWh for 10,125.00 Nm3, 10.00 kW per Nm3/min",
		"How the air lost is computed", "Specific power: the compressor's energy",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the mail's text lacks %q:\n%s", want, text)
		}
	}
}
