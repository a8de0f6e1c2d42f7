package modbus

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sensorhub/sensorhub/internal/config"
)

// Problem is a setting of a register map that polling refuses, at its
// dotted path under the device or map ("registers.2.type").
type Problem struct {
	Field, Msg string
}

// MapOf is the register map a device reads: its own registers, else the
// map it names of the file's (maps), else a built-in one; nil for none.
func MapOf(d config.ModbusDevice, fileMaps map[string][]config.Register) []config.Register {
	if len(d.Registers) > 0 {
		return d.Registers
	}
	if m, ok := fileMaps[d.Map]; ok {
		return m
	}
	return Maps[d.Map]
}

// CheckDevice reports what is wrong with a device's map: a name that is
// no map, or its registers.
func CheckDevice(d config.ModbusDevice, fileMaps map[string][]config.Register) []Problem {
	for _, r := range MapOf(d, fileMaps) {
		if d.MaxSpan > 0 && !isBit(r.Table) && Types[r.Type] > d.MaxSpan {
			return append(CheckMap("registers", d.Registers), Problem{"max_span", fmt.Sprintf("%d is too small for %s, a %s of %d registers", d.MaxSpan, r.Field, r.Type, Types[r.Type])})
		}
	}
	if len(d.Registers) > 0 {
		return CheckMap("registers", d.Registers)
	}
	if d.Map == "" {
		return nil // config says it
	}
	if _, ok := fileMaps[d.Map]; ok {
		return nil // checked as modbus.maps.<name>
	}
	if _, ok := Maps[d.Map]; !ok {
		names := slices.Sorted(maps.Keys(Maps))
		names = append(names, slices.Sorted(maps.Keys(fileMaps))...)
		return []Problem{{"map", fmt.Sprintf("%q is not a register map (%s)", d.Map, strings.Join(names, ", "))}}
	}
	return nil
}

// CheckMap reports what is wrong with the registers of a map, each at
// at.<index>.<key>: a table, type or order that is not one, an address
// out of range, a field named twice.
func CheckMap(at string, regs []config.Register) []Problem {
	var out []Problem
	add := func(i int, key, format string, args ...any) {
		out = append(out, Problem{fmt.Sprintf("%s.%d.%s", at, i, key), fmt.Sprintf(format, args...)})
	}
	fields := map[string]bool{}
	for i, r := range regs {
		switch {
		case r.Field == "" || strings.ContainsAny(r.Field, ".*> \t/"):
			add(i, "field", "%q: a field name without '.', '*', '>', '/' or spaces is needed", r.Field)
		case fields[r.Field]:
			add(i, "field", "%q is read twice in this map", r.Field)
		}
		fields[r.Field] = true
		if !slices.Contains(Tables, r.Table) {
			add(i, "table", "%q is not one of %s", r.Table, strings.Join(Tables, ", "))
			continue
		}
		if isBit(r.Table) {
			if r.Type != "" || r.WordOrder != "" || r.ByteOrder != "" {
				add(i, "type", "a %s is one bit: it takes no type, word_order or byte_order", r.Table)
			}
		} else if _, ok := Types[r.Type]; !ok {
			add(i, "type", "%q is not one of %s", r.Type, typeNames())
			continue
		}
		if r.Address < 0 || r.Address+width(r) > 1<<16 {
			add(i, "address", "%d: a %s of %d registers does not fit in 0..65535", r.Address, r.Type, width(r))
		}
		if r.WordOrder != "" && r.WordOrder != "high_first" && r.WordOrder != "low_first" {
			add(i, "word_order", "%q is not one of high_first, low_first", r.WordOrder)
		}
		if r.WordOrder != "" && width(r) == 1 {
			add(i, "word_order", "a %s is one register: it has no word order", r.Type)
		}
		if r.ByteOrder != "" && r.ByteOrder != "big" && r.ByteOrder != "little" {
			add(i, "byte_order", "%q is not one of big, little", r.ByteOrder)
		}
	}
	return out
}

// Counters are the fields of a map marked as counters.
func Counters(regs []config.Register) []string {
	var out []string
	for _, r := range regs {
		if r.Counter {
			out = append(out, r.Field)
		}
	}
	return out
}
