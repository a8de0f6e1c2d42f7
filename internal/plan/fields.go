package plan

import (
	"maps"
	"slices"

	"github.com/sensorhub/sensorhub/internal/config"
	"github.com/sensorhub/sensorhub/internal/input/modbus"
	"github.com/sensorhub/sensorhub/internal/reading"
)

// StoredFields are the names a reading of the kind s carries, after
// renames; nil when the kind keeps every field.
func StoredFields(s *config.Sensor) []string {
	if len(s.Keep) == 0 {
		return nil
	}
	out := []string{reading.FieldRSSI, reading.FieldSNR, reading.FieldMsgCount, reading.FieldBattery, reading.FieldMargin, reading.FieldJoin}
	out = append(out, reading.FieldOnline, reading.FieldSeq)
	for _, k := range s.Keep {
		if to, ok := s.Rename[k]; ok {
			k = to
		}
		out = append(out, k)
	}
	return out
}

// lostFormula counts the messages a msgCount gap shows lost; a drop (a
// restart) or a repeat loses nothing. Next to a reading without a counter
// (a LoRaWAN status or join event) it says nothing.
const lostFormula = `!has_prev() ? 0 : !counted() ? nil : _msg_count > prev(_msg_count) ? _msg_count - prev(_msg_count) - 1 : 0`

// builtinFormulas tell apart, from msgCount, lost messages, restarts (a
// drop) and repeats (the same count again).
var builtinFormulas = map[string]string{
	reading.FieldLost: lostFormula,
	// Rare events: stored only where they happen.
	reading.FieldRestart: `counted() && _msg_count < prev(_msg_count) ? 1 : nil`,
	reading.FieldRepeat:  `counted() && _msg_count == prev(_msg_count) ? 1 : nil`,
}

// Formulas are the derived fields of the kind s by name: sensorhub's own
// (loss, restarts, repeats) and the configured ones.
func Formulas(s *config.Sensor) map[string]string {
	out := maps.Clone(builtinFormulas)
	maps.Copy(out, s.Derive)
	return out
}

// KnownFields are the fields a rule on sensor may read; nil when a kind
// keeps every field of its payloads.
func KnownFields(c *config.Config, sensor string) []string {
	kinds := []string{sensor}
	if sensor == config.AnySensor {
		kinds = c.SensorNames()
	}
	var out []string
	for _, k := range kinds {
		s := c.Sensors[k]
		if s == nil {
			continue
		}
		stored := StoredFields(s)
		if stored == nil {
			return nil
		}
		out = append(out, stored...)
		for f := range Formulas(s) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// modbusCounters adds to each polled sensor kind the counters of its
// devices' register maps that it stores, so that their daily increase
// shows as that of the counters the kind declares. A kind it changes is
// a copy: the one it had may be another plan's too.
func modbusCounters(c *config.Config) {
	for _, d := range c.Modbus.Devices {
		s := c.Sensors[d.Sensor]
		if s == nil {
			continue
		}
		stored := StoredFields(s)
		var add []string
		for _, f := range modbus.Counters(modbus.MapOf(d, c.Modbus.Maps)) {
			if !slices.Contains(s.Counters, f) && !slices.Contains(add, f) && (stored == nil || slices.Contains(stored, f)) {
				add = append(add, f)
			}
		}
		if len(add) > 0 {
			cp := *s
			cp.Counters = append(slices.Clone(s.Counters), add...)
			c.Sensors[d.Sensor] = &cp
		}
	}
}
