package app_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// TestDailyBarsShowWhatIsEstimated: a meter at 2 kW read every quarter
// hour for four days, silent for 24 hours in the middle. The daily bars
// stack on each day's measured energy the part spread over the silence,
// drawn paler as "E estimated": 48 kWh in all, the 24 hours at 2 kW, and
// no day holds more than 48 kWh. The power line stops over the silence
// instead of joining across it.
func TestDailyBarsShowWhatIsEstimated(t *testing.T) {
	a := start(t, "embedded", app.Options{}, nil)
	now := time.Now().UTC().Truncate(15 * time.Minute)
	// From noon three days ago to noon the day after, in the dashboards'
	// zone: a silence of 24 hours that two days share (one from midnight
	// to midnight would be a whole day, measured, not estimated).
	loc := config.Default().Location()
	y, m, d := now.In(loc).AddDate(0, 0, -3).Date()
	silentFrom := time.Date(y, m, d, 12, 0, 0, 0, loc)
	silentTo := silentFrom.Add(24 * time.Hour)
	var rs []reading.Reading
	for q := 4 * 96; q >= 0; q-- {
		at := now.Add(-time.Duration(q) * 15 * time.Minute)
		if at.After(silentFrom) && at.Before(silentTo) {
			continue
		}
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Time: at, Received: at, MsgCount: int64(4*96 - q + 1),
			Fields: map[string]float64{"E": 1000 + 0.5*float64(4*96-q), "P": 2}, Units: map[string]string{"E": "kWh", "P": "kW"}})
	}
	if _, err := a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+a.HTTPAddr()+"/d/centrale?device=301&range=7d"); err != nil {
		t.Fatal(err)
	}
	const chartsJS = `(() => {
  const chart = (title) => {
    const p = [...document.querySelectorAll("[data-panel]")].find((p) => p.getAttribute("aria-label") === title);
    const el = p && p.querySelector(".chart");
    return el && echarts.getInstanceByDom(el);
  };
  const bars = chart("Daily consumption"), power = chart("Power");
  if (!bars || !power) return null;
  const o = bars.getOption();
  return {
    names: o.series.map((s) => s.name),
    totals: o.series[0].data.map((v, i) => (v || 0) + ((o.series[1] && o.series[1].data[i]) || 0)),
    estimated: o.series[1] ? o.series[1].data.reduce((a, v) => a + (v || 0), 0) : 0,
    breaks: power.getOption().series[0].data.filter((pt) => pt[1] === null).length,
  };
})()`
	type shown struct {
		Names     []string
		Totals    []float64
		Estimated float64
		Breaks    int
	}
	var got shown
	testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		v, err := browser.Eval[*shown](ctx, chartsJS)
		if err != nil || v == nil || len(v.Totals) == 0 {
			return fmt.Errorf("no charts drawn: %v", err)
		}
		got = *v
		return nil
	})
	if len(got.Names) != 2 || got.Names[0] != "E" || got.Names[1] != "E estimated" {
		t.Errorf("the daily bars' series %v, want E and E estimated", got.Names)
	}
	if math.Abs(got.Estimated-48) > 1e-6 {
		t.Errorf("%v kWh estimated, want the 24 h of silence at 2 kW: 48", got.Estimated)
	}
	for i, v := range got.Totals {
		if v > 48+1e-6 {
			t.Errorf("bar %d holds %v kWh, more than a day at 2 kW", i, v)
		}
	}
	if got.Breaks != 1 {
		t.Errorf("the power line breaks %d times, want once, over the silence", got.Breaks)
	}
}
