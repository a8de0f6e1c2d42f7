package config_test

import (
	"strings"
	"testing"

	"github.com/sensorhub/sensorhub/internal/config"
)

// TestPricesNeedACurrency: prices without a currency are refused, naming
// the customer's override when it is the one without; a customer's
// override takes the block's keys it does not give.
func TestPricesNeedACurrency(t *testing.T) {
	co2 := 0.16
	cfg := config.Default()
	cfg.Customers = []string{"finemeca", "acme"}
	cfg.Money = &config.Money{Customers: map[string]*config.Prices{"acme": {CO2KgPerKWh: &co2}}}
	err := cfg.Validate(nil)
	if err == nil || !strings.Contains(err.Error(), "money.customers.acme.currency: customer acme has prices without a currency") {
		t.Errorf("acme's CO2 without a currency: %v", err)
	}
	cfg.Money.Currency = "EUR"
	cfg.Money.Electricity = &config.Electricity{PriceKWh: 0.25, Bands: []config.Band{{Days: []string{"sat"}, From: "22:00", To: "06:00", PriceKWh: 0.1}}}
	if err := cfg.Validate(nil); err != nil {
		t.Fatal(err)
	}
	p, ok := cfg.PricesOf("acme")
	if !ok || p.Currency != "EUR" || *p.CO2KgPerKWh != 0.16 || p.Electricity.PriceKWh != 0.25 {
		t.Errorf("acme's prices %+v", p)
	}
	if p, _ := cfg.PricesOf("finemeca"); p.CO2KgPerKWh != nil {
		t.Errorf("finemeca has acme's CO2: %+v", p)
	}
}

func TestMinutes(t *testing.T) {
	for in, want := range map[string]int{"00:00": 0, "07:00": 420, "22:30": 1350, "24:00": 1440} {
		if got, ok := config.Minutes(in); !ok || got != want {
			t.Errorf("%s: %d %v, want %d", in, got, ok, want)
		}
	}
	for _, bad := range []string{"7:00", "07h00", "-1:00", "24:01", "12:60", "ab:cd", "07:00:00", ""} {
		if _, ok := config.Minutes(bad); ok {
			t.Errorf("%q taken for a time of day", bad)
		}
	}
}
