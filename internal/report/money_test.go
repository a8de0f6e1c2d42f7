package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/report"
)

// TestWeekCosts prices the week of 20 October 2025 (TestWeekByHand's) at
// the demo's prices: 0.32 EUR a kWh on weekdays from 07:00 to 22:00, 0.25
// otherwise, 12.5 EUR per kW of the month's peak, 0.16 kg CO2 a kWh and
// 0.025 EUR a Nm3 of air.
func TestWeekCosts(t *testing.T) {
	src, _ := fixture(t)
	week := report.Week(local(2025, 10, 22, 15, 0), brussels)
	plain, err := src.Make(context.Background(), "finemeca", week)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Currency != "" || plain.Energy.Cost != nil || plain.Energy.Days[0].Cost != nil || plain.Energy.DemandCharge != nil {
		t.Errorf("without money: currency %q, cost %v: want none", plain.Currency, plain.Energy.Cost)
	}
	src.Config.Money = config.DemoMoney()
	r, err := src.Make(context.Background(), "finemeca", week)
	if err != nil {
		t.Fatal(err)
	}
	if r.Currency != "EUR" {
		t.Errorf("currency %q, want EUR", r.Currency)
	}
	// A weekday: 220 kWh (07:00-18:00 at 20 kW) + 8 kWh (18:00-22:00 at
	// 2 kW) at 0.32 = 72.96, and 18 kWh (22:00-07:00) at 0.25 = 4.50:
	// 77.46. Thursday's quarter at 36 kW adds 4 kWh at 0.32: 78.74.
	// Friday's cut at 23:00 takes 0.5 kWh at 0.25: 77.335. Saturday 48 and
	// Sunday 50 (25 hours) at 0.25: 12 and 12.5.
	wantCost := []float64{77.46, 77.46, 77.46, 78.74, 77.335, 12, 12.5}
	wantKWh := []float64{246, 246, 246, 250, 245.5, 48, 50}
	m := r.Energy.Meters[0]
	for i, d := range r.Energy.Days {
		if !near(d.Cost, wantCost[i]) || !near(m.Days[i].Cost, wantCost[i]) || !near(d.CO2Kg, wantKWh[i]*0.16) {
			t.Errorf("%s: cost %v (meter %v), CO2 %v kg; want %v and %v", d.Day, d.Cost, m.Days[i].Cost, d.CO2Kg, wantCost[i], wantKWh[i]*0.16)
		}
	}
	// 3 x 77.46 + 78.74 + 77.335 + 12 + 12.5 = 412.955; 1331.5 kWh x 0.16
	// = 213.04 kg.
	if !near(r.Energy.Cost, 412.955) || !near(m.Cost, 412.955) || !near(r.Energy.CO2Kg, 213.04) || !near(m.CO2Kg, 213.04) {
		t.Errorf("week: %v EUR (meter %v), %v kg CO2; want 412.955 and 213.04", r.Energy.Cost, m.Cost, r.Energy.CO2Kg)
	}
	// The demand charge: October's highest quarter in the week, 36 kW on
	// Thursday 10:15 (the gap's quarter is not one), x 12.5 = 450.
	if !near(r.Energy.DemandCharge, 450) || len(r.Energy.Demand) != 1 || r.Energy.Demand[0].Month != "2025-10" ||
		!near(r.Energy.Demand[0].KW, 36) || !r.Energy.Demand[0].At.Equal(local(2025, 10, 23, 10, 15)) {
		t.Errorf("demand %+v, charge %v; want October 36 kW at Thursday 10:15, 450", r.Energy.Demand, r.Energy.DemandCharge)
	}
	// Air at the customer's 0.025 a Nm3, not the sensor kind's 0.02.
	l := r.Air.Lines[0]
	lost := 500 * (1.0 + 0.6) / 1.01325 / 1000
	if !near(l.Cost, lost*0.025) || l.PricePerNm3 != 0.025 || !near(r.Air.Cost, lost*0.025) {
		t.Errorf("air line %+v; want %v at 0.025", l, lost*0.025)
	}
	if !strings.Contains(strings.Join(r.Notes, " "), "highest quarter in the period") {
		t.Errorf("a week's demand charge without its note: %q", r.Notes)
	}
}

// TestMonthCostsNull: the days of October 2025 before the meter's first
// reading have no kWh, so no cost and no CO2: null in the JSON.
func TestMonthCostsNull(t *testing.T) {
	src, _ := fixture(t)
	src.Config.Money = config.DemoMoney()
	r, err := src.Make(context.Background(), "finemeca", report.Month(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r.Energy.Days[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := `"kwh":null,"cost":null,"co2_kg":null`; !strings.Contains(string(b), want) {
		t.Errorf("1 October: %s, want %s", b, want)
	}
	if d := r.Energy.Days[19]; d.Day != "2025-10-20" || !near(d.Cost, 77.46) {
		t.Errorf("20 October: %+v, want 77.46 EUR", d)
	}
	if !near(r.Energy.DemandCharge, 450) {
		t.Errorf("October's demand charge %v, want 450", r.Energy.DemandCharge)
	}
	if strings.Contains(strings.Join(r.Notes, " "), "highest quarter in the period") {
		t.Errorf("a month's report says its demand charge is partial: %q", r.Notes)
	}
}

// TestCostsInTablesAndMail: the CSV, the mail and the text give the
// costs with the currency.
func TestCostsInTablesAndMail(t *testing.T) {
	src, _ := fixture(t)
	src.Config.Money = config.DemoMoney()
	r, err := src.Make(context.Background(), "finemeca", report.Week(local(2025, 10, 22, 15, 0), brussels))
	if err != nil {
		t.Fatal(err)
	}
	// 412.955 to two decimals as the binary figure rounds.
	week := fmt.Sprintf("%.2f", 412.955)
	for table, want := range map[string]string{
		"days":   "Day,Energy 301 (kWh),Energy (kWh),Estimated (kWh),Cost (EUR),CO2 (kg)\n",
		"meters": "," + week + ",213.0,EUR\n",
		"air":    ",0.025,EUR\n",
	} {
		var b strings.Builder
		if err := r.CSV(&b, table, csvFormat(t, r, "")); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) {
			t.Errorf("CSV %s does not hold %q:\n%.600s", table, want, b.String())
		}
	}
	var days strings.Builder
	r.CSV(&days, "days", csvFormat(t, r, ""))
	if !strings.Contains(days.String(), "2025-10-26,50.0,50.0,0.0,12.50,8.0\n") {
		t.Errorf("Sunday's row is not 50 kWh, 12.5 EUR, 8 kg:\n%s", days.String())
	}
	text, err := report.Text(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	week += " EUR"
	for _, want := range []string{"Cost: " + week + " energy + 450.00 EUR demand charge (2025-10: 36.0 kW, 2025-10-23 10:15:00); 213.0 kg CO2",
		"centrale-atelier (301): 1,331.5 kWh, " + week, "Compressed air: leaks cost 0.02 EUR", "at 0.025 EUR per Nm3"} {
		if !strings.Contains(text, want) {
			t.Errorf("the text does not say %q:\n%s", want, text)
		}
	}
	mail, err := report.Mail(r, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mail.HTML, "<b>"+week+"</b> energy + 450.00 EUR demand charge") || !strings.Contains(mail.HTML, "213.0 kg CO2") {
		t.Errorf("the mail's HTML does not give the costs:\n%s", mail.HTML)
	}
}
