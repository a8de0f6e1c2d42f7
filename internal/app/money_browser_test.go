package app_test

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/app"
	"github.com/sensorhub/sensorhub/internal/browser"
	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// hourlyMeter stores the last 30 hours of power meter 301, a reading an
// hour, 10 kWh each.
func hourlyMeter(t *testing.T, a *app.App) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Minute)
	var rs []reading.Reading
	for h := 30; h >= 0; h-- {
		at := now.Add(-time.Duration(h) * time.Hour)
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Time: at, Received: at, MsgCount: int64(31 - h),
			Fields: map[string]float64{"E": float64(1000 + 10*(30-h)), "P": 10}, Units: map[string]string{"E": "kWh", "P": "kW"}})
	}
	if _, err := a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
}

// TestDailyBarsShowCost: with a flat 0.25 EUR a kWh and 0.16 kg CO2, the
// power meter's daily bars say in their tooltip what each cost, and the
// panel what the range cost: its kWh x 0.25 and x 0.16.
func TestDailyBarsShowCost(t *testing.T) {
	co2 := 0.16
	a := start(t, "embedded", app.Options{}, func(c *config.Config) {
		c.Money = &config.Money{Prices: config.Prices{Currency: "EUR", Electricity: &config.Electricity{PriceKWh: 0.25}, CO2KgPerKWh: &co2}}
	})
	hourlyMeter(t, a)
	ctx := startBrowser(t)
	if err := browser.Navigate(ctx, "http://"+a.HTTPAddr()+"/d/centrale?device=301&range=24h"); err != nil {
		t.Fatal(err)
	}
	const panel = `[...document.querySelectorAll("[data-panel]")].find((p) => p.getAttribute("aria-label") === "Daily consumption")`
	var summary string
	testenv.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		var err error
		summary, err = browser.Eval[string](ctx, `(() => { const s = `+panel+`.querySelector(".summary"); return s ? s.textContent : "" })()`)
		if err != nil || summary == "" {
			return fmt.Errorf("no summary under the daily bars: %v", err)
		}
		return nil
	})
	m := regexp.MustCompile(`^The last 24 h: ([0-9,]+) kWh, ([0-9,.]+) EUR, ([0-9,]+) kg CO2$`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("summary %q", summary)
	}
	kwh, _ := strconv.ParseFloat(strings.ReplaceAll(m[1], ",", ""), 64)
	cost, _ := strconv.ParseFloat(m[2], 64)
	co2kg, _ := strconv.ParseFloat(m[3], 64)
	// 10 kWh an hour over 24 h: 240 kWh (the intervals across the range's
	// ends count their part of it, so a few hundredths less as the minute
	// turns), shown whole; its cost and CO2 from the kWh before rounding.
	if kwh != 240 || math.Abs(cost-240*0.25) > 0.05 || math.Abs(co2kg-240*0.16) > 1 {
		t.Errorf("summary %q: want 240 kWh, 60.00 EUR and 38 kg CO2 (the cost within 0.05)", summary)
	}
	// The tooltip of the last bar: its kWh and their cost.
	tip := eval[string](t, ctx, `(() => {
  const c = echarts.getInstanceByDom(`+panel+`.querySelector(".chart"));
  const data = c.getModel().getSeriesByIndex(0).getData();
  const i = data.count() - 1;
  const f = c.getOption().tooltip[0].formatter;
  return f([{ name: "last", marker: "", seriesName: "E", seriesIndex: 0, dataIndex: i, value: data.get("y", i) }]);
})()`)
	// An hourly reading's interval across midnight is shared by the two
	// days, its part in each estimated: the tooltip says how much.
	tm := regexp.MustCompile(`<b>([0-9.]+)</b> kWh(?: \([0-9.]+ estimated: no reading\))?, ([0-9.]+) EUR, ([0-9]+) kg CO2`).FindStringSubmatch(tip)
	if tm == nil {
		t.Fatalf("the last bar's tooltip: %q", tip)
	}
	v, _ := strconv.ParseFloat(tm[1], 64)
	if c, _ := strconv.ParseFloat(tm[2], 64); math.Abs(v*0.25-c) > 0.006 {
		t.Errorf("the last bar's tooltip %q: %v kWh do not cost %s EUR", tip, v, tm[2])
	}
}
