package money

import (
	"math"
	"testing"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
)

func brussels(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Brussels")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// tariff: 0.20 flat, 0.30 on weekdays 07:00-22:00, 0.25 at weekends
// 08:00-12:00, 12.5 per kW of a month's peak, 0.16 kg CO2 a kWh.
func tariff(loc *time.Location) *Tariff {
	co2 := 0.16
	return &Tariff{Currency: "EUR", PriceKWh: 0.20, DemandPerKWMonth: 12.5, CO2KgPerKWh: &co2, Location: loc, Bands: []config.Band{
		{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "07:00", To: "22:00", PriceKWh: 0.30},
		{Days: []string{"sat", "sun"}, From: "08:00", To: "12:00", PriceKWh: 0.25},
	}}
}

// week is one kWh in every quarter of the local week starting at from.
func week(from time.Time) []Energy {
	var qs []Energy
	for t := from; t.Before(from.AddDate(0, 0, 7)); t = t.Add(Quarter) {
		qs = append(qs, Energy{Start: t, KWh: 1})
	}
	return qs
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestCostAcrossSummerTime prices two weeks of a constant 4 kW across the
// changes of the clocks: bands are in wall-clock time, and the weeks have
// 167 and 169 hours.
func TestCostAcrossSummerTime(t *testing.T) {
	loc := brussels(t)
	tr := tariff(loc)
	tr.DemandPerKWMonth = 0
	for _, c := range []struct {
		name     string
		from     time.Time
		quarters int
		energy   float64
	}{
		// 668 quarters: 300 weekday band (90.00), 32 weekend band
		// (8.00), 336 flat (67.20).
		{"March", time.Date(2026, 3, 23, 0, 0, 0, 0, loc), 668, 165.2},
		// 676 quarters: 300 (90.00), 32 (8.00), 344 flat (68.80).
		{"October", time.Date(2026, 10, 19, 0, 0, 0, 0, loc), 676, 166.8},
	} {
		qs := week(c.from)
		if len(qs) != c.quarters {
			t.Fatalf("%s: %d quarters, want %d", c.name, len(qs), c.quarters)
		}
		energy, demand := tr.Cost(qs)
		if !near(energy, c.energy) || demand != 0 {
			t.Errorf("%s: energy %.4f demand %.4f, want %.2f and 0", c.name, energy, demand, c.energy)
		}
		if co2 := tr.CO2(float64(len(qs))); !near(co2, float64(c.quarters)*0.16) {
			t.Errorf("%s: CO2 %.4f kg, want %.2f", c.name, co2, float64(c.quarters)*0.16)
		}
	}
}

func TestPrice(t *testing.T) {
	loc := brussels(t)
	tr := tariff(loc)
	tr.Bands = append(tr.Bands, config.Band{Days: []string{"fri"}, From: "22:00", To: "06:00", PriceKWh: 0.10})
	for _, c := range []struct {
		at   time.Time
		want float64
	}{
		// Sunday 29 March 2026: 02:00 does not exist, 03:00 CEST is 01:00 UTC.
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), 0.20},
		{time.Date(2026, 3, 29, 6, 0, 0, 0, time.UTC), 0.25},  // 08:00 CEST
		{time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC), 0.25},  // 09:00 CEST
		{time.Date(2026, 3, 29, 10, 0, 0, 0, time.UTC), 0.20}, // 12:00 CEST: the band is over
		{time.Date(2026, 3, 30, 5, 0, 0, 0, time.UTC), 0.30},  // Monday 07:00 CEST
		{time.Date(2026, 3, 30, 4, 59, 0, 0, time.UTC), 0.20}, // Monday 06:59 CEST
		{time.Date(2026, 10, 26, 6, 0, 0, 0, time.UTC), 0.30}, // Monday 07:00 CET
		{time.Date(2026, 10, 26, 5, 59, 0, 0, time.UTC), 0.20},
		// Friday night's band goes on past midnight, into Saturday 05:59.
		{time.Date(2026, 3, 27, 22, 0, 0, 0, loc), 0.10},
		{time.Date(2026, 3, 28, 5, 45, 0, 0, loc), 0.10},
		{time.Date(2026, 3, 28, 6, 0, 0, 0, loc), 0.20},
		{time.Date(2026, 3, 27, 5, 45, 0, 0, loc), 0.20}, // Friday 05:45: Thursday has no night band
	} {
		if got := tr.Price(c.at); !near(got, c.want) {
			t.Errorf("price at %s: %.2f, want %.2f", c.at.In(loc), got, c.want)
		}
	}
}

// TestDemandCharge: each local month's highest quarter, kWh x 4, at 12.5
// per kW; the quarter of 1 April 00:00 CEST (31 March 22:00 UTC) is
// April's.
func TestDemandCharge(t *testing.T) {
	loc := brussels(t)
	tr := tariff(loc)
	qs := []Energy{
		{time.Date(2026, 3, 20, 10, 0, 0, 0, loc), 3},  // 12 kW, Friday band 0.30
		{time.Date(2026, 3, 31, 10, 0, 0, 0, loc), 2},  // 8 kW, Tuesday band 0.30
		{time.Date(2026, 4, 1, 0, 0, 0, 0, loc), 6},    // 24 kW, Wednesday night 0.20
		{time.Date(2026, 4, 2, 10, 0, 0, 0, loc), 5},   // 20 kW, Thursday band 0.30
		{time.Date(2026, 4, 4, 9, 15, 0, 0, loc), 0.5}, // 2 kW, Saturday band 0.25
	}
	energy, demand := tr.Cost(qs)
	// 0.9 + 0.6 + 1.2 + 1.5 + 0.125
	if !near(energy, 4.325) {
		t.Errorf("energy %.4f, want 4.325", energy)
	}
	// March 12 kW x 12.5 = 150, April 24 kW x 12.5 = 300.
	if !near(demand, 450) {
		t.Errorf("demand %.4f, want 450", demand)
	}
	peaks := tr.Peaks(qs)
	if len(peaks) != 2 || peaks[0].Month != "2026-03" || !near(peaks[0].KW, 12) || !near(peaks[0].Charge, 150) ||
		peaks[1].Month != "2026-04" || !near(peaks[1].KW, 24) || !peaks[1].At.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, loc)) {
		t.Errorf("peaks %+v", peaks)
	}
}

func TestForCustomer(t *testing.T) {
	cfg := config.Default()
	if For(cfg, "finemeca", time.UTC) != nil {
		t.Error("prices without a money block")
	}
	cfg.Money = config.DemoMoney()
	eur := 0.03
	cfg.Money.Customers = map[string]*config.Prices{"finemeca": {AirPerNm3: &eur}}
	tr := For(cfg, "finemeca", time.UTC)
	if tr == nil || tr.Currency != "EUR" || *tr.AirPerNm3 != 0.03 || tr.PriceKWh != 0.25 || len(tr.Bands) != 1 || *tr.CO2KgPerKWh != 0.16 {
		t.Errorf("tariff %+v", tr)
	}
	leak := cfg.LeakFor("finemeca", cfg.Sensors["air"].Leak, "1")
	if leak.CostPerNm3 != 0.03 || leak.VolumeL != 500 {
		t.Errorf("leak figures %+v: want the customer's 0.03 per Nm3", leak)
	}
}
