package report

import (
	"fmt"
	"time"

	"github.com/sensorhub/sensorhub/internal/money"
)

// Costs are what energy cost and emitted: nil (null) without prices, or
// for a day without data.
type Costs struct {
	// Cost is the energy's cost, in the report's currency, at the price
	// of each quarter's time (time-of-use bands); without the demand
	// charge.
	Cost *float64 `json:"cost"`
	// CO2Kg is the kg of CO2 the energy emitted.
	CO2Kg *float64 `json:"co2_kg"`
}

// Charges are the demand charges of the report's period.
type Charges struct {
	// Demand is, for each month the period touches, its highest quarter
	// of the customers' meters added up, in the period, and its charge.
	Demand []money.Peak `json:"demand"`
	// DemandCharge adds Demand's charges up; nil without prices.
	DemandCharge *float64 `json:"demand_charge"`
}

// price gives r's energy figures their costs and CO2 at tariff t (nil:
// none), and says what the figures cover.
func price(r *Report, t *money.Tariff) {
	r.Energy.Demand = []money.Peak{}
	if t == nil {
		return
	}
	r.Currency = t.Currency
	rolled := false
	for i := range r.Energy.Meters {
		m := &r.Energy.Meters[i]
		rolled = priceMeter(m, t) || rolled
	}
	r.Energy.Total.Costs = Costs{}
	for i := range r.Energy.Days {
		d := &r.Energy.Days[i]
		d.Costs = Costs{}
		for _, m := range r.Energy.Meters {
			if j := dayIndex(m.Days, d.Day); j >= 0 && m.Days[j].Cost != nil {
				d.addCost(*m.Days[j].Cost)
			}
		}
		if d.KWh != nil {
			d.CO2Kg = co2(t, *d.KWh)
		}
	}
	for _, m := range r.Energy.Meters {
		r.Energy.Total.addCost(*m.Cost)
	}
	if r.Energy.Cost == nil {
		r.Energy.Cost = new(float64)
	}
	r.Energy.CO2Kg = co2(t, r.Energy.KWh)
	qs := make([]money.Energy, len(r.Energy.Profile))
	for i, d := range r.Energy.Profile {
		qs[i] = money.Energy{Start: d.At, KWh: d.KW * Quarter.Hours()}
	}
	r.Energy.Demand = t.Peaks(qs)
	charge := 0.0
	for _, p := range r.Energy.Demand {
		charge += p.Charge
	}
	r.Energy.DemandCharge = &charge
	if rolled {
		r.Notes = append(r.Notes, fmt.Sprintf("The kWh of days that come from the daily aggregates are priced at the flat price, %g %s per kWh: "+
			"their time of day is no longer known.", t.PriceKWh, t.Currency))
	}
	if len(r.Energy.Demand) > 0 && r.Period.Kind != "month" {
		r.Notes = append(r.Notes, "The demand charge is that of the highest quarter in the period: a month's bill charges the highest of the whole month (the month's report).")
	}
}

// priceMeter prices a meter's days at each quarter's price; kWh no
// quarter holds (those of days from the daily aggregates) at the flat
// price, which it reports.
func priceMeter(m *Meter, t *money.Tariff) (flat bool) {
	byDay := map[string]float64{}
	kwhByDay := map[string]float64{}
	for q, kwh := range m.quarters {
		day := q.In(t.Location).Format(time.DateOnly)
		byDay[day] += kwh * t.Price(q)
		kwhByDay[day] += kwh
	}
	m.Total.Costs = Costs{Cost: new(float64)}
	for i := range m.Days {
		d := &m.Days[i]
		d.Costs = Costs{}
		if d.KWh == nil {
			continue
		}
		cost := byDay[d.Day]
		if rest := *d.KWh - kwhByDay[d.Day]; rest > 1e-9 {
			cost += rest * t.PriceKWh
			flat = true
		}
		d.Cost, d.CO2Kg = &cost, co2(t, *d.KWh)
		*m.Cost += cost
	}
	m.CO2Kg = co2(t, m.KWh)
	return flat
}

func (c *Costs) addCost(v float64) {
	if c.Cost == nil {
		c.Cost = new(float64)
	}
	*c.Cost += v
}

// co2 is the CO2 of kwh, nil when t has no factor.
func co2(t *money.Tariff, kwh float64) *float64 {
	if !t.HasCO2() {
		return nil
	}
	v := t.CO2(kwh)
	return &v
}

func dayIndex(days []Day, day string) int {
	for i, d := range days {
		if d.Day == day {
			return i
		}
	}
	return -1
}

// roundCosts leaves the costs at a millionth, as round the rest.
func roundCosts(rd func(*float64), cs ...*Costs) {
	for _, c := range cs {
		for _, v := range []*float64{c.Cost, c.CO2Kg} {
			if v != nil {
				rd(v)
			}
		}
	}
}
