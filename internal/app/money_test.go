package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/reading"
	"github.com/sensorhub/sensorhub/internal/store"
	"github.com/sensorhub/sensorhub/internal/testenv"
)

// meterDay stores a day of power meter 301 of customer at 4 kW: a
// reading every quarter from the quarter before the day to its end,
// 1 kWh each.
func meterDay(t *testing.T, fx *fixture, customer string, day time.Time) {
	t.Helper()
	var rs []reading.Reading
	e := 100.0
	for i, at := 0, day.Add(-15*time.Minute); !at.After(day.AddDate(0, 0, 1)); i, at = i+1, at.Add(15*time.Minute) {
		rs = append(rs, reading.Reading{Customer: customer, Sensor: "centrale", Device: "301", Name: "centrale-atelier", Time: at, Received: at,
			MsgCount: int64(i + 1), Fields: map[string]float64{"E": e, "_lost": 0}, Units: map[string]string{"E": "kWh"}})
		e++
	}
	if _, err := fx.a.Store.Write(context.Background(), store.Batch{Readings: rs}); err != nil {
		t.Fatal(err)
	}
}

// TestMoneyOverHTTP: the series API, the report API and page price a
// day's kWh at the demo's tariff, and a customer given prices over the
// catalog API has its reports in its currency at once.
func TestMoneyOverHTTP(t *testing.T) {
	fx := accessFixture(t, func(c *config.Config) { c.Money = config.DemoMoney() })
	loc := fx.a.Config.Location()
	day := time.Date(2026, 4, 28, 0, 0, 0, 0, loc) // a Tuesday
	meterDay(t, fx, "finemeca", day)
	root := newClient(t, fx.a)
	root.Login("root", "root-password")
	q := url.Values{"customer": {"finemeca"}, "sensor": {"centrale"}, "device": {"301"}, "field": {"E"}, "agg": {"increase"}, "step": {"1d"},
		"from": {day.Format(time.RFC3339)}, "to": {day.AddDate(0, 0, 1).Format(time.RFC3339)}, "cost": {"1"}}
	code, body := root.Do("GET", "/api/v1/series?"+q.Encode(), "")
	var s struct {
		Currency string
		Points   [][2]float64
		Cost     [][2]float64
		CO2Kg    [][2]float64 `json:"co2_kg"`
		Total    struct{ KWh, Cost float64 }
	}
	if code != 200 || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("series: HTTP %d %s", code, body)
	}
	// 96 kWh: 60 quarters from 07:00 to 22:00 at 0.32 (19.20 EUR), 36 at
	// 0.25 (9.00); 96 x 0.16 = 15.36 kg CO2.
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	if s.Currency != "EUR" || len(s.Points) != 1 || !near(s.Points[0][1], 96) || len(s.Cost) != 1 || !near(s.Cost[0][1], 28.2) ||
		!near(s.CO2Kg[0][1], 15.36) || !near(s.Total.Cost, 28.2) {
		t.Errorf("priced series: %s; want 96 kWh, 28.20 EUR, 15.36 kg CO2", body)
	}
	q.Set("agg", "avg")
	if code, body := root.Do("GET", "/api/v1/series?"+q.Encode(), ""); code != 400 || !strings.Contains(body, "agg=increase") {
		t.Errorf("cost=1 of an average: HTTP %d %s, want 400 naming agg=increase", code, body)
	}

	// The air line's leak (accessFixture's) at the customer's 0.025 EUR a
	// Nm3, not the sensor kind's 0.02.
	code, body = root.Do("GET", "/api/v1/leaks?customer=finemeca&sensor=air&device=201&from=2026-05-01T09:00:00Z&to=2026-05-01T12:00:00Z", "")
	var lk struct {
		Currency string
		Params   struct {
			CostPerNm3 float64 `json:"cost_per_nm3"`
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &lk) != nil || lk.Currency != "EUR" || lk.Params.CostPerNm3 != 0.025 {
		t.Errorf("leaks: HTTP %d %.400s; want EUR at 0.025 a Nm3", code, body)
	}

	period := "from=2026-04-28&to=2026-04-29"
	code, body = root.Do("GET", "/api/v1/report?customer=finemeca&"+period, "")
	var r struct {
		Currency string
		Energy   struct {
			KWh          float64
			Cost         *float64
			DemandCharge *float64 `json:"demand_charge"`
		}
	}
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("report: HTTP %d %.300s", code, body)
	}
	// The report counts the interval that ends at midnight in the day it
	// ends: the same 96 kWh. The peak is 4 kW: 50 EUR of demand charge.
	if r.Currency != "EUR" || !near(r.Energy.KWh, 96) || r.Energy.Cost == nil || !near(*r.Energy.Cost, 28.2) || r.Energy.DemandCharge == nil || !near(*r.Energy.DemandCharge, 50) {
		t.Errorf("report: %s %+v, cost %v, demand %v; want EUR, 28.2 and 50", r.Currency, r.Energy, r.Energy.Cost, r.Energy.DemandCharge)
	}
	if code, page := root.Do("GET", "/reports?customer=finemeca&"+period, ""); code != 200 || !strings.Contains(page, "28.20 EUR") || !strings.Contains(page, "50.00 EUR") {
		t.Errorf("report page: HTTP %d, without 28.20 EUR and 50.00 EUR:\n%.3000s", code, page)
	}

	// A customer of the catalog with its own prices, applied without a
	// restart.
	if code, body := root.Do("PUT", "/api/v1/customers/globex", `{"currency": "CHF", "electricity": {"price_kwh": 0.2}}`,
		"Content-Type", "application/json", "X-CSRF-Token", root.CSRF); code != 201 {
		t.Fatalf("PUT globex: HTTP %d %s", code, body)
	}
	for body, want := range map[string]string{
		`{"currency": "euro"}`:                   `"field":"currency"`,
		`{"currency": "EUR", "air_per_nm3": -1}`: `"field":"air_per_nm3"`,
		`{"currency": "EUR", "electricity": {"bands": [{"days": ["mon"], "from": "7h", "to": "22:00"}]}}`: `"field":"electricity.bands.0.from"`,
	} {
		if code, got := root.Do("PUT", "/api/v1/customers/initech", body, "Content-Type", "application/json", "X-CSRF-Token", root.CSRF); code != 400 || !strings.Contains(got, want) {
			t.Errorf("PUT initech %s: HTTP %d %s, want 400 naming %s", body, code, got, want)
		}
	}
	meterDay(t, fx, "globex", day)
	testenv.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		code, body := root.Do("GET", "/api/v1/report?customer=globex&"+period, "")
		if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Currency != "CHF" || r.Energy.Cost == nil || !near(*r.Energy.Cost, 19.2) {
			return fmt.Errorf("globex's report: HTTP %d %.400s; want 96 kWh at 0.20 CHF", code, body)
		}
		return nil
	})
}
