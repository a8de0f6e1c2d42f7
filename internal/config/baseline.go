package config

import (
	"fmt"
	"time"
)

// Baseline is an energy baseline (ISO 50001): a customer's (or one
// meter's) energy over a reference period, optionally regressed on a
// relevant variable (ISO 50006), against which later periods are
// compared: expected energy, savings and their cumulative sum (CUSUM).
type Baseline struct {
	// Name identifies the baseline in reports.
	Name     string `yaml:"name"`
	Customer string `yaml:"customer"`
	// Sensor and Device, when given, limit it to one meter; otherwise it
	// covers every energy meter of the customer.
	Sensor string `yaml:"sensor,omitempty"`
	Device string `yaml:"device,omitempty"`
	// From and To are the reference period's first and last day
	// (2026-01-05), both included, in the configured zone.
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Every is the period of the model and its energy performance
	// indicator: week (Monday to Monday, the default) or day.
	Every string `yaml:"every,omitempty"`
	// DegreeDays or Production, at most one, is the relevant variable.
	DegreeDays *DegreeDays `yaml:"degree_days,omitempty"`
	Production *Production `yaml:"production,omitempty"`
}

// DegreeDays are heating (or cooling) degree days of a temperature
// sensor: per day, how far the day's mean temperature is below (above)
// the base temperature, summed over the period.
type DegreeDays struct {
	Sensor string `yaml:"sensor"`
	Device string `yaml:"device"`
	// Field is the temperature field, in °C (default Temp).
	Field string `yaml:"field,omitempty"`
	// Base is the base temperature in °C (default 15.5 for heating, 18
	// for cooling).
	Base *float64 `yaml:"base,omitempty"`
	// Mode is heating (the default) or cooling.
	Mode string `yaml:"mode,omitempty"`
}

// Production is a production count read from a device's field: the
// increase of a counter, or the sum of the values sent, over the period.
type Production struct {
	Sensor string `yaml:"sensor"`
	Device string `yaml:"device"`
	Field  string `yaml:"field"`
	// Unit names what is counted, for the EnPI (kWh per Unit).
	Unit string `yaml:"unit,omitempty"`
}

// BaseTemp is the base temperature of the degree days.
func (d *DegreeDays) BaseTemp() float64 {
	switch {
	case d.Base != nil:
		return *d.Base
	case d.Mode == "cooling":
		return 18
	}
	return 15.5
}

// TempField is the temperature field of the degree days.
func (d *DegreeDays) TempField() string {
	if d.Field == "" {
		return "Temp"
	}
	return d.Field
}

// Period is the baseline's reference period [first day, day after the
// last) in loc.
func (b *Baseline) Period(loc *time.Location) (from, to time.Time, err error) {
	f, err := time.ParseInLocation(time.DateOnly, b.From, loc)
	if err != nil {
		return f, f, fmt.Errorf("from %q is not a date (2026-01-05)", b.From)
	}
	t, err := time.ParseInLocation(time.DateOnly, b.To, loc)
	if err != nil {
		return f, t, fmt.Errorf("to %q is not a date (2026-03-29)", b.To)
	}
	return f, t.AddDate(0, 0, 1), nil
}

func (c *Config) validateBaselines(v *validator) {
	seen := map[string]bool{}
	for i, b := range c.Baselines {
		at := fmt.Sprintf("baselines.%d", i)
		v.name(at+".name", "baseline", b.Name, seen)
		v.customer(c, at+".customer", b.Customer)
		if (b.Sensor == "") != (b.Device == "") {
			v.add(at+".device", "a baseline of one meter names its sensor and device; without both, it covers the customer's meters")
		} else if b.Sensor != "" && c.Sensors[b.Sensor] == nil {
			v.add(at+".sensor", "%q is not one of the sensor kinds", b.Sensor)
		}
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			loc = time.UTC
		}
		if _, err := time.ParseInLocation(time.DateOnly, b.From, loc); err != nil {
			v.add(at+".from", "%q is not a date (2026-01-05)", b.From)
		}
		if _, err := time.ParseInLocation(time.DateOnly, b.To, loc); err != nil {
			v.add(at+".to", "%q is not a date (2026-03-29)", b.To)
		} else if b.To < b.From {
			v.add(at+".to", "%s is before from (%s)", b.To, b.From)
		}
		if b.Every != "" && b.Every != "week" && b.Every != "day" {
			v.add(at+".every", "%q is not week or day", b.Every)
		}
		if b.DegreeDays != nil && b.Production != nil {
			v.add(at+".production", "a baseline has one variable: degree_days or production, not both")
		}
		if d := b.DegreeDays; d != nil {
			v.variable(c, at+".degree_days", d.Sensor, d.Device)
			if d.Mode != "" && d.Mode != "heating" && d.Mode != "cooling" {
				v.add(at+".degree_days.mode", "%q is not heating or cooling", d.Mode)
			}
		}
		if p := b.Production; p != nil {
			v.variable(c, at+".production", p.Sensor, p.Device)
			if p.Field == "" {
				v.add(at+".production.field", "the field of the production count is missing")
			}
		}
	}
}

// variable checks the device a baseline's variable is read from.
func (v *validator) variable(c *Config, at, sensor, device string) {
	if c.Sensors[sensor] == nil {
		v.add(at+".sensor", "%q is not one of the sensor kinds", sensor)
	}
	if device == "" {
		v.add(at+".device", "the device the variable is read from is missing")
	}
}
