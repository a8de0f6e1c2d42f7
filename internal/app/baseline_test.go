package app_test

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
)

// TestReportPageBaseline: the report page of the running server shows a
// daily baseline without a variable (the mean of 100, 110 and 90 kWh),
// each of the 4 days after it (95, 95, 80 and 90 kWh: 40 kWh saved in
// all) with its savings and CUSUM, and the CUSUM chart as a PNG.
func TestReportPageBaseline(t *testing.T) {
	fx := accessFixture(t, func(c *config.Config) {
		c.Baselines = []config.Baseline{{Name: "spring", Customer: "finemeca", From: "2026-04-27", To: "2026-04-29", Every: "day"}}
	})
	loc := fx.a.Config.Location()
	e := 5000.0
	var rs []reading.Reading
	// A reading at each midnight from 27 April to 4 May: each one closes
	// the day before, which used kwh[i].
	for i, kwh := range []float64{0, 100, 110, 90, 95, 95, 80, 90} {
		at := time.Date(2026, 4, 27+i, 0, 0, 0, 0, loc)
		e += kwh
		rs = append(rs, reading.Reading{Customer: "finemeca", Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: at, Received: at,
			MsgCount: int64(i + 1), Fields: map[string]float64{"E": e}, Units: map[string]string{"E": "kWh"}})
	}
	if _, err := fx.a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
	root := newClient(t, fx.a)
	root.Login("root", "root-password")
	query := "customer=finemeca&from=2026-04-30&to=2026-05-04"
	code, page := root.Do("GET", "/reports?"+query, "")
	if code != 200 {
		t.Fatalf("the report page: HTTP %d", code)
	}
	i := strings.Index(page, `<h2>Baseline spring`)
	if i < 0 {
		t.Fatalf("no baseline section in the page:\n%.3000s", page)
	}
	section := page[i:]
	for _, want := range []string{"Expected: 100.0 kWh, the mean of 3 reference periods.", "<b>40.0 kWh</b> saved",
		"<td>2026-05-02</td><td>80.0</td><td>100.0</td><td>80.0</td><td>20.0</td><td>-30.0</td>",
		"<td>2026-05-03</td><td>90.0</td><td>100.0</td><td>90.0</td><td>10.0</td><td>-40.0</td>", "chart=cusum&customer=finemeca"} {
		if !strings.Contains(section, want) {
			t.Errorf("the baseline section lacks %q:\n%.3000s", want, section)
		}
	}
	code, body := root.Do("GET", "/api/v1/report/chart?chart=cusum&"+query, "")
	if code != 200 {
		t.Fatalf("the CUSUM chart: HTTP %d %.200s", code, body)
	}
	if _, err := png.Decode(bytes.NewReader([]byte(body))); err != nil {
		t.Errorf("the CUSUM chart is not a PNG: %v", err)
	}
}
