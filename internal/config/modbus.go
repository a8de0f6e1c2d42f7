package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Modbus are the Modbus TCP devices sensorhub polls, in the gateway
// role: each poll's values go on the raw stream as a message of the
// device, read by the modbus format.
type Modbus struct {
	Devices []ModbusDevice `yaml:"devices,omitempty"`
	// Maps are register maps of the file by name, which devices name
	// beside the built-in ones (package modbus checks them).
	Maps map[string][]Register `yaml:"maps,omitempty"`
}

// ModbusDevice is one Modbus TCP device and what to read of it.
type ModbusDevice struct {
	// Device is the device's id in sensorhub; Name is shown beside it.
	Device string `yaml:"device"`
	Name   string `yaml:"name,omitempty"`
	// Customer and Sensor are the customer and sensor kind of its
	// readings.
	Customer string `yaml:"customer"`
	Sensor   string `yaml:"sensor"`
	// Address is the device's (or its Modbus gateway's) host:port.
	Address string `yaml:"address"`
	// UnitID is the Modbus unit (slave) id, 0..255.
	UnitID int `yaml:"unit_id"`
	// Interval is the time between two polls.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one request (1s unless set, at most the interval).
	Timeout time.Duration `yaml:"timeout,omitempty"`
	// Backoff is the longest wait between two attempts to reach a device
	// that does not answer (1m unless set): the waits double from the
	// interval up to it.
	Backoff time.Duration `yaml:"backoff,omitempty"`
	// MaxSpan is the most registers one request reads (125 unless set,
	// Modbus' limit): contiguous registers are read in one request up to
	// it.
	MaxSpan int `yaml:"max_span,omitempty"`
	// Map names a register map: a built-in one (sdm630, umg604) or one of
	// modbus.maps. Registers, instead, gives the device's own.
	Map       string     `yaml:"map,omitempty"`
	Registers []Register `yaml:"registers,omitempty"`
}

// Register is one value of a register map: where it is, how it is
// encoded, and the field it becomes.
type Register struct {
	Field string `yaml:"field"`
	// Table is holding, input (registers), coil or discrete (inputs).
	Table string `yaml:"table"`
	// Address is the protocol address, from 0 (register 30001 of a
	// vendor's 1-based list is input register 0).
	Address int `yaml:"address"`
	// Type is int16, uint16, int32, uint32, float32 or float64; none for
	// a coil or discrete input (0 or 1).
	Type string `yaml:"type,omitempty"`
	// WordOrder is high_first (the default) or low_first: which register
	// of a 32 or 64-bit value holds its most significant word.
	WordOrder string `yaml:"word_order,omitempty"`
	// ByteOrder is big (the default, Modbus' own) or little: the order of
	// the two bytes in each register.
	ByteOrder string `yaml:"byte_order,omitempty"`
	// Scale multiplies the value (1 unless set): 0.001 turns Wh to kWh.
	Scale float64 `yaml:"scale,omitempty"`
	Unit  string  `yaml:"unit,omitempty"`
	// Counter marks a monotonic counter (an energy register): it is added
	// to its sensor kind's counters.
	Counter bool `yaml:"counter,omitempty"`
}

// validateModbus checks what the devices' settings alone say; package
// modbus checks their register maps (plan.Check).
func (c *Config) validateModbus(v *validator) {
	seen := map[string]bool{}
	for i, d := range c.Modbus.Devices {
		at := fmt.Sprintf("modbus.devices.%d", i)
		key := d.Customer + "/" + d.Sensor + "/" + d.Device
		switch {
		case d.Device == "" || strings.ContainsAny(d.Device, "/ \t"):
			v.add(at+".device", "%q: a device needs an id without '/' or spaces", d.Device)
		case seen[key]:
			v.add(at+".device", "device %q of %s/%s is polled twice", d.Device, d.Customer, d.Sensor)
		}
		seen[key] = true
		v.customer(c, at+".customer", d.Customer)
		if c.Sensors[d.Sensor] == nil {
			v.add(at+".sensor", "%q is not a sensor kind (sensors: %s)", d.Sensor, strings.Join(c.SensorNames(), ", "))
		}
		v.address(at+".address", d.Address)
		if d.UnitID < 0 || d.UnitID > 255 {
			v.add(at+".unit_id", "%d is out of range 0..255", d.UnitID)
		}
		if d.Interval < 100*time.Millisecond {
			v.add(at+".interval", "%s: a device is polled at most every 100ms (give an interval such as 10s)", d.Interval)
		}
		if d.Timeout < 0 || (d.Timeout > d.Interval && d.Interval > 0) {
			v.add(at+".timeout", "%s must be positive and at most the interval (%s)", d.Timeout, d.Interval)
		}
		if d.Backoff < 0 {
			v.add(at+".backoff", "%s must be positive", d.Backoff)
		}
		if d.MaxSpan < 0 || d.MaxSpan > 125 {
			v.add(at+".max_span", "%d is out of range 1..125 registers", d.MaxSpan)
		}
		if (d.Map == "") == (len(d.Registers) == 0) {
			v.add(at+".map", "give a register map: map (a built-in one or one of modbus.maps) or registers, not both")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Modbus.Maps)) {
		if len(c.Modbus.Maps[name]) == 0 {
			v.add("modbus.maps."+name, "an empty register map")
		}
	}
}
