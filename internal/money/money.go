// Package money prices what the customers' meters measure: the energy
// cost of a tariff with time-of-use bands, the demand charge on a month's
// highest 15-minute power, and the CO2 of a kWh. It reads no store: the
// report, the API and the alerts give it their figures.
package money

import (
	"slices"
	"strings"
	"time"

	"github.com/sensorhub/sensorhub/internal/config"
)

// Quarter is the demand interval: a demand charge bills the highest
// 15-minute average power.
const Quarter = 15 * time.Minute

// Tariff is a customer's prices in the configured zone.
type Tariff struct {
	Currency string
	// PriceKWh is the price outside every band.
	PriceKWh         float64
	Bands            []config.Band
	DemandPerKWMonth float64
	// AirPerNm3 and CO2KgPerKWh are nil when not configured.
	AirPerNm3   *float64
	CO2KgPerKWh *float64
	// Location is the zone the bands' days and hours are in.
	Location *time.Location
}

// For is the tariff of a customer of cfg, in loc; nil when the customer
// has no prices (no money block, or none for it).
func For(cfg *config.Config, customer string, loc *time.Location) *Tariff {
	p, ok := cfg.PricesOf(customer)
	if !ok {
		return nil
	}
	t := &Tariff{Currency: p.Currency, AirPerNm3: p.AirPerNm3, CO2KgPerKWh: p.CO2KgPerKWh, Location: loc}
	if e := p.Electricity; e != nil {
		t.PriceKWh, t.Bands, t.DemandPerKWMonth = e.PriceKWh, e.Bands, e.DemandPerKWMonth
	}
	return t
}

// Price is the price of a kWh consumed at t: that of the first band that
// holds t's local weekday and wall-clock time, else the flat price. Wall
// clock, so that a band from 07:00 starts at 07:00 on the days of a
// change to or from summer time too.
func (t *Tariff) Price(at time.Time) float64 {
	local := at.In(t.Location)
	m := local.Hour()*60 + local.Minute()
	for _, b := range t.Bands {
		if holds(b, local.Weekday(), m) {
			return b.PriceKWh
		}
	}
	return t.PriceKWh
}

// holds reports whether band b applies on weekday day at minute m of the
// day; b is valid (config.Validate).
func holds(b config.Band, day time.Weekday, m int) bool {
	from, _ := config.Minutes(b.From)
	to, _ := config.Minutes(b.To)
	on := func(d time.Weekday) bool { return slices.Contains(b.Days, config.Weekdays[d]) }
	if from < to {
		return on(day) && m >= from && m < to
	}
	// A band past midnight: its minutes after midnight are those of the
	// day it started on.
	if m >= from {
		return on(day)
	}
	return m < to && on((day+6)%7)
}

// Energy is kWh consumed in the quarter starting at Start.
type Energy struct {
	Start time.Time
	KWh   float64
}

// Cost is the price of qs: energy at each quarter's price, and demand,
// the demand charge of each month (local) the quarters fall in, on its
// highest quarter's average power (kWh x 4).
func (t *Tariff) Cost(qs []Energy) (energy, demand float64) {
	for _, q := range qs {
		energy += q.KWh * t.Price(q.Start)
	}
	for _, p := range t.Peaks(qs) {
		demand += p.Charge
	}
	return energy, demand
}

// Peak is a month's highest quarter and its demand charge.
type Peak struct {
	// Month is the local month, such as 2026-03.
	Month  string    `json:"month"`
	At     time.Time `json:"at"`
	KW     float64   `json:"kw"`
	Charge float64   `json:"charge"`
}

// Peaks are the highest quarter of each local month of qs, in order of
// the months, with their demand charges.
func (t *Tariff) Peaks(qs []Energy) []Peak {
	var out []Peak
	at := map[string]int{}
	for _, q := range qs {
		local := q.Start.In(t.Location)
		month := local.Format("2006-01")
		kw := q.KWh * float64(time.Hour/Quarter)
		i, ok := at[month]
		if !ok {
			at[month] = len(out)
			out = append(out, Peak{Month: month, At: local, KW: kw})
			continue
		}
		if kw > out[i].KW {
			out[i].At, out[i].KW = local, kw
		}
	}
	slices.SortFunc(out, func(a, b Peak) int { return strings.Compare(a.Month, b.Month) })
	for i := range out {
		out[i].Charge = out[i].KW * t.DemandPerKWMonth
	}
	return out
}

// CO2 is the kg of CO2 kwh emit; 0 without a factor.
func (t *Tariff) CO2(kwh float64) float64 {
	if t.CO2KgPerKWh == nil {
		return 0
	}
	return kwh * *t.CO2KgPerKWh
}

// HasCO2 reports whether the tariff says what a kWh emits.
func (t *Tariff) HasCO2() bool { return t != nil && t.CO2KgPerKWh != nil }
