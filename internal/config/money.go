package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Money is what energy and compressed air cost, and the CO2 electricity
// emits: the prices of every customer, which a customer's own override.
// Without it, sensorhub shows no costs: it never makes a price up.
type Money struct {
	Prices `yaml:",inline"`
	// Customers override the prices above, key by key, for one customer.
	Customers map[string]*Prices `yaml:"customers,omitempty"`
}

// Prices are what a customer pays and emits. A key left out is the
// money block's (for a customer's override) or none.
type Prices struct {
	// Currency is the ISO 4217 code the prices are in, such as EUR.
	Currency    string       `yaml:"currency,omitempty" json:"currency,omitempty"`
	Electricity *Electricity `yaml:"electricity,omitempty" json:"electricity,omitempty"`
	// AirPerNm3 is the price of a normal cubic metre of compressed air;
	// when set, it is the price of the customer's leaks instead of the
	// sensor kind's leak.cost_per_nm3.
	AirPerNm3 *float64 `yaml:"air_per_nm3,omitempty" json:"air_per_nm3,omitempty"`
	// CO2KgPerKWh is the kg of CO2 a kWh of the customer's electricity
	// emits.
	CO2KgPerKWh *float64 `yaml:"co2_kg_per_kwh,omitempty" json:"co2_kg_per_kwh,omitempty"`
}

// Electricity is an electricity tariff.
type Electricity struct {
	// PriceKWh is the price of a kWh outside every band.
	PriceKWh float64 `yaml:"price_kwh" json:"price_kwh"`
	// Bands are time-of-use prices; the first band that holds a time
	// gives its price.
	Bands []Band `yaml:"bands,omitempty" json:"bands,omitempty"`
	// DemandPerKWMonth is the demand charge: the price of a kW of the
	// month's highest 15-minute average power.
	DemandPerKWMonth float64 `yaml:"demand_per_kw_month,omitempty" json:"demand_per_kw_month,omitempty"`
}

// Band is a time-of-use price: on Days (mon ... sun), from From to To,
// local times such as "07:00" and "22:00" ("24:00" for midnight at the
// end; From after To wraps past midnight).
type Band struct {
	Days     []string `yaml:"days" json:"days"`
	From     string   `yaml:"from" json:"from"`
	To       string   `yaml:"to" json:"to"`
	PriceKWh float64  `yaml:"price_kwh" json:"price_kwh"`
}

// Weekdays are the names of a band's days, Sunday first as time.Weekday.
var Weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Minutes are a band's local time of day in minutes after midnight; ok is
// false for a time that is not one, such as "7h" or "25:00".
func Minutes(hhmm string) (int, bool) {
	var h, m int
	if len(hhmm) != 5 || hhmm[2] != ':' {
		return 0, false
	}
	if _, err := fmt.Sscanf(hhmm, "%02d:%02d", &h, &m); err != nil || h < 0 || m < 0 || m > 59 || h > 24 || h == 24 && m > 0 {
		return 0, false
	}
	return h*60 + m, true
}

// PricesOf are the customer's prices: the money block's, with the
// customer's override key by key; ok is false when the customer has no
// currency, so no prices.
func (c *Config) PricesOf(customer string) (Prices, bool) {
	if c.Money == nil {
		return Prices{}, false
	}
	p := c.Money.Prices
	if o := c.Money.Customers[customer]; o != nil {
		p.Currency = cmpOr(o.Currency, p.Currency)
		if o.Electricity != nil {
			p.Electricity = o.Electricity
		}
		if o.AirPerNm3 != nil {
			p.AirPerNm3 = o.AirPerNm3
		}
		if o.CO2KgPerKWh != nil {
			p.CO2KgPerKWh = o.CO2KgPerKWh
		}
	}
	return p, p.Currency != ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// LeakFor is the leak figures of a customer's air line: the sensor kind's
// (or the device's), at the customer's air price when money sets one.
func (c *Config) LeakFor(customer string, l *Leak, device string) LeakParams {
	p := l.For(device)
	if pr, ok := c.PricesOf(customer); ok && pr.AirPerNm3 != nil {
		p.CostPerNm3 = *pr.AirPerNm3
	}
	return p
}

// CloneMoney is a copy of m whose customers' map is its own; nil for nil.
func CloneMoney(m *Money) *Money {
	if m == nil {
		return nil
	}
	n := *m
	n.Customers = maps.Clone(m.Customers)
	return &n
}

// DemoMoney are the prices of the demo: EUR, a day and night tariff, a
// demand charge, compressed air and the CO2 of a European grid's kWh.
func DemoMoney() *Money {
	air, co2 := 0.025, 0.16
	return &Money{Prices: Prices{Currency: "EUR", AirPerNm3: &air, CO2KgPerKWh: &co2,
		Electricity: &Electricity{PriceKWh: 0.25, DemandPerKWMonth: 12.5, Bands: []Band{
			{Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "07:00", To: "22:00", PriceKWh: 0.32},
		}}}}
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

func (c *Config) validateMoney(v *validator) {
	if c.Money == nil {
		return
	}
	validatePrices(v, "money", &c.Money.Prices)
	for _, cu := range slices.Sorted(maps.Keys(c.Money.Customers)) {
		at := "money.customers." + cu
		v.customer(c, at, cu)
		if p := c.Money.Customers[cu]; p != nil {
			validatePrices(v, at, p)
		}
	}
	for _, cu := range c.Customers {
		if p, ok := c.PricesOf(cu); !ok && (p.Electricity != nil || p.AirPerNm3 != nil || p.CO2KgPerKWh != nil) {
			at := "money.currency"
			if c.Money.Customers[cu] != nil {
				at = "money.customers." + cu + ".currency"
			}
			v.add(at, "customer %s has prices without a currency: give one, such as EUR", cu)
		}
	}
}

// validatePrices checks one block of prices at the field at.
func validatePrices(v *validator, at string, p *Prices) {
	if p.Currency != "" && !currencyCode.MatchString(p.Currency) {
		v.add(at+".currency", "%q is not a currency code of three capital letters, such as EUR or USD", p.Currency)
	}
	notNegative := func(field string, x *float64) {
		if x != nil && *x < 0 {
			v.add(at+"."+field, "%g must not be negative", *x)
		}
	}
	notNegative("air_per_nm3", p.AirPerNm3)
	notNegative("co2_kg_per_kwh", p.CO2KgPerKWh)
	if e := p.Electricity; e != nil {
		notNegative("electricity.price_kwh", &e.PriceKWh)
		notNegative("electricity.demand_per_kw_month", &e.DemandPerKWMonth)
		for i, b := range e.Bands {
			validateBand(v, fmt.Sprintf("%s.electricity.bands.%d", at, i), b)
		}
	}
}

func validateBand(v *validator, at string, b Band) {
	if len(b.Days) == 0 {
		v.add(at+".days", "name the days the band applies on: %s", strings.Join(Weekdays, ", "))
	}
	for j, d := range b.Days {
		if !slices.Contains(Weekdays, d) {
			v.add(fmt.Sprintf("%s.days.%d", at, j), "%q is not one of %s", d, strings.Join(Weekdays, ", "))
		}
	}
	from, okFrom := Minutes(b.From)
	if !okFrom || from == 24*60 {
		v.add(at+".from", "%q is not a local time such as 07:00", b.From)
	}
	to, okTo := Minutes(b.To)
	if !okTo {
		v.add(at+".to", "%q is not a local time such as 22:00 (24:00 for midnight)", b.To)
	}
	if okFrom && okTo && from == to {
		v.add(at+".to", "%s is the band's start: a band lasts at least a minute", b.To)
	}
	if b.PriceKWh < 0 {
		v.add(at+".price_kwh", "%g must not be negative", b.PriceKWh)
	}
}
