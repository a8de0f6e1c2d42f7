package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// PowerUnits are the units of a compressor's power meter field: kW for a
// power, kWh for an energy counter.
var PowerUnits = []string{"kW", "kWh"}

// Compressor pairs a compressor's power meter with the meter of the air
// it delivers, for its specific power in kW per Nm³/min (ISO 1217).
type Compressor struct {
	// Name identifies the compressor in the dashboard and the report.
	Name     string `yaml:"name" json:"name"`
	Customer string `yaml:"customer" json:"customer"`
	// Power is the power meter's field, in kW or kWh (a counter).
	Power MeterField `yaml:"power" json:"power"`
	// Flow is the air flow field, in one of FlowUnits.
	Flow MeterField `yaml:"flow" json:"flow"`
}

// MeterField is one field of one device.
type MeterField struct {
	Sensor string `yaml:"sensor" json:"sensor"`
	Device string `yaml:"device" json:"device"`
	Field  string `yaml:"field" json:"field"`
	Unit   string `yaml:"unit" json:"unit"`
}

func (c *Config) validateCompressors(v *validator) {
	seen := map[string]bool{}
	for i, cp := range c.Compressors {
		at := fmt.Sprintf("compressors.%d", i)
		v.name(at+".name", "compressor", cp.Name, seen)
		if !slices.Contains(c.Customers, cp.Customer) {
			v.add(at+".customer", "%q is not one of customers", cp.Customer)
		}
		c.validateMeterField(v, at+".power", cp.Power, PowerUnits)
		c.validateMeterField(v, at+".flow", cp.Flow, slices.Sorted(maps.Keys(FlowUnits)))
	}
}

func (c *Config) validateMeterField(v *validator, at string, m MeterField, units []string) {
	if c.Sensors[m.Sensor] == nil {
		v.add(at+".sensor", "%q is not a sensor kind (sensors)", m.Sensor)
	}
	if m.Device == "" {
		v.add(at+".device", "the device id is required")
	}
	if m.Field == "" {
		v.add(at+".field", "the field is required")
	}
	if !slices.Contains(units, m.Unit) {
		v.add(at+".unit", "%q is not one of %s", m.Unit, strings.Join(units, ", "))
	}
}
